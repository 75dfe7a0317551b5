// The ledger's counts at one instant, and the invariants every script must keep.
import { LedgerReplyError, type ReservationState } from './outcomes.ts';

export interface ItemCounts {
  sku: string;
  total: number;
  available: number;
  /** Pending plus in-doubt units. */
  reserved: number;
  sold: number;
  /** The in-doubt part of `reserved`: reached the shop, answer unknown. */
  inDoubt: number;
  perUserLimit: number;
}

export interface LedgerSnapshot {
  ledgerId: string;
  generation: number;
  /** Mutation counter: a reader that remembers it can tell a rolled-back ledger. */
  seq: number;
  window: { startMs: number; endMs: number };
  items: ItemCounts[];
  /** Why reserves are refused, once the ledger is halted (ledger/scripts/halt.lua, reserve.lua). */
  halted?: string;
}

export interface ReservationRecord {
  id: string;
  state: ReservationState;
  sku: string;
  quantity: number;
  expiresAt: number;
  user: string;
}

const RECORD = /^(pending|in-doubt|confirmed|released)\|([^|]*)\|(\d+)\|(\d+)\|(.*)$/s;

/** Parses the `state|sku|qty|expiresAt|user` record the scripts write (ledger/scripts/lib.lua). */
export function parseRecord(id: string, record: string): ReservationRecord {
  const m = RECORD.exec(record);
  if (m === null) throw new LedgerReplyError('record', record);
  const [, recordState, sku, quantity, expiresAt, user] = m as unknown as [
    string,
    ReservationState,
    string,
    string,
    string,
    string,
  ];
  return {
    id,
    state: recordState,
    sku,
    quantity: Number(quantity),
    expiresAt: Number(expiresAt),
    user,
  };
}

function num(value: unknown): number {
  return typeof value === 'string' ? Number(value) : 0;
}

/**
 * Parses the snapshot script's reply. `undefined` when no ledger is loaded. `skus` are the SKUs
 * the caller asked for, in KEYS order.
 */
export function parseSnapshotReply(
  raw: unknown,
  skus: readonly string[],
): LedgerSnapshot | undefined {
  if (!Array.isArray(raw) || raw.length !== skus.length + 1) {
    throw new LedgerReplyError('snapshot', raw);
  }
  const [meta, ...stocks] = raw as unknown[][];
  if (meta === undefined || typeof meta[0] !== 'string') return undefined;
  return {
    ledgerId: meta[0],
    generation: num(meta[1]),
    seq: num(meta[2]),
    window: { startMs: num(meta[3]), endMs: num(meta[4]) },
    ...(typeof meta[6] === 'string' ? { halted: meta[6] } : {}),
    items: stocks.map((s, i) => ({
      sku: skus[i] ?? '',
      total: num(s[0]),
      available: num(s[1]),
      reserved: num(s[2]),
      sold: num(s[3]),
      inDoubt: num(s[4]),
      perUserLimit: num(s[5]),
    })),
  };
}

/** Every way the counts break the ledger's promise; empty when they keep it. */
export function invariantViolations(snapshot: LedgerSnapshot): string[] {
  const violations: string[] = [];
  for (const item of snapshot.items) {
    const { sku, total, available, reserved, sold, inDoubt } = item;
    if (total !== available + reserved + sold) {
      violations.push(
        `${sku}: total ${total} != available ${available} + reserved ${reserved} + sold ${sold}`,
      );
    }
    for (const [name, value] of Object.entries({ total, available, reserved, sold, inDoubt })) {
      if (value < 0) violations.push(`${sku}: ${name} is negative (${value})`);
    }
    if (inDoubt > reserved) violations.push(`${sku}: in-doubt ${inDoubt} > reserved ${reserved}`);
  }
  return violations;
}
