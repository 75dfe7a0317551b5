// The demo shop's orders, in memory, keyed by Flashguard's reservation id: the shop side of the
// integration contract (design.md §4) — one reservation makes at most one order.

export interface CheckoutLine {
  reservation: string;
  user: string;
  sku: string;
  quantity: number;
}

export interface Order extends CheckoutLine {
  orderId: string;
}

export type CommitResult =
  | { kind: 'created'; order: Order }
  /** The reservation already made this order: a retry, answered with the same order. */
  | { kind: 'existing'; order: Order }
  /** The reservation already made an order for another user, SKU or quantity. */
  | { kind: 'conflict'; order: Order };

export interface SkuStats {
  orders: number;
  units: number;
  /** The most units of this SKU any one user bought: what a per-user limit is checked against. */
  maxUnitsPerUser: number;
}

export interface OrderStats {
  orders: number;
  units: number;
  skus: Record<string, SkuStats>;
}

export interface OrderBook {
  commit(line: CheckoutLine): CommitResult;
  find(reservation: string): Order | undefined;
  stats(): OrderStats;
}

export function createOrderBook(): OrderBook {
  const orders = new Map<string, Order>();
  const skus = new Map<string, SkuStats & { unitsByUser: Map<string, number> }>();
  let units = 0;

  return {
    commit(line) {
      const found = orders.get(line.reservation);
      if (found !== undefined) {
        const same =
          found.user === line.user && found.sku === line.sku && found.quantity === line.quantity;
        return { kind: same ? 'existing' : 'conflict', order: found };
      }
      const order: Order = { orderId: `ord-${orders.size + 1}`, ...line };
      orders.set(line.reservation, order);
      units += line.quantity;
      let sku = skus.get(line.sku);
      if (sku === undefined) {
        sku = { orders: 0, units: 0, maxUnitsPerUser: 0, unitsByUser: new Map() };
        skus.set(line.sku, sku);
      }
      sku.orders += 1;
      sku.units += line.quantity;
      const held = (sku.unitsByUser.get(line.user) ?? 0) + line.quantity;
      sku.unitsByUser.set(line.user, held);
      sku.maxUnitsPerUser = Math.max(sku.maxUnitsPerUser, held);
      return { kind: 'created', order };
    },
    find: (reservation) => orders.get(reservation),
    stats() {
      const perSku: Record<string, SkuStats> = {};
      for (const [name, { orders: count, units: skuUnits, maxUnitsPerUser }] of skus) {
        perSku[name] = { orders: count, units: skuUnits, maxUnitsPerUser };
      }
      return { orders: orders.size, units, skus: perSku };
    },
  };
}
