// The Redis key schema. Every key of a sale carries the sale's hash tag, so one Lua call can touch
// every SKU of the sale and all its keys live in one Redis Cluster slot: cross-slot errors are
// impossible by construction, and an idempotency key is checked across all SKUs of the sale.

export interface SaleRef {
  namespace: string;
  name: string;
}

export interface SaleKeys {
  /** hash: ledgerId, gen, seq, start, end, expireAt, skus */
  meta: string;
  /** string: the sale's published settings (JSON) */
  config: string;
  /** hash: reservation id → record; `<id>#outcome` → the first answer, for replays */
  orders: string;
  /** sorted set: pending reservation id by expiry, for the reaper */
  pending: string;
  /** hash: in-doubt reservation id → record; outlives the orders hash until settled */
  indoubt: string;
  /** sorted set: sidecar id by heartbeat expiry */
  sidecars: string;
  /** string: who runs this sale's reaper (standalone sidecars take turns) */
  reaperLease: string;
  /** pub/sub channel (not a key): sold-out, restock, config, ended */
  events: string;
  /** hash: total, available, reserved, sold, indoubt, limit */
  stock: (sku: string) => string;
  /** hash: user → units held (reserved + sold) of this SKU */
  users: (sku: string) => string;
}

export function saleKeys(sale: SaleRef): SaleKeys {
  const prefix = `fg:{${sale.namespace}/${sale.name}}`;
  return {
    meta: `${prefix}:meta`,
    config: `${prefix}:config`,
    orders: `${prefix}:orders`,
    pending: `${prefix}:pending`,
    indoubt: `${prefix}:indoubt`,
    sidecars: `${prefix}:sidecars`,
    reaperLease: `${prefix}:reaper`,
    events: `${prefix}:events`,
    stock: (sku) => `${prefix}:stock:${sku}`,
    users: (sku) => `${prefix}:users:${sku}`,
  };
}

/** A checkout workload: what an injected sidecar knows about itself. */
export interface WorkloadRef {
  namespace: string;
  kind: string;
  name: string;
}

/**
 * set: names of the sales (in the workload's namespace) that guard this workload (contract C3).
 * Its own hash tag: it spans sales, and is read with one SMEMBERS.
 */
export function workloadIndexKey(workload: WorkloadRef): string {
  return `fg:workload:{${workload.namespace}/${workload.kind}/${workload.name}}`;
}
