// What each ledger script answers, as typed values, and the pure parsers from Redis replies.

export type ReservationState = 'pending' | 'in-doubt' | 'confirmed' | 'released';

/** A handle on a reservation: enough to settle it. */
export interface Reservation {
  id: string;
  sku: string;
}

export type ReserveOutcome =
  | { kind: 'reserved'; reservation: Reservation; expiresAt: number; available: number }
  | { kind: 'sold-out'; available: number }
  | { kind: 'user-limit'; limit: number; held: number }
  | { kind: 'not-started'; startsAt: number }
  | { kind: 'ended'; endedAt: number }
  /** The same reservation id is still pending or in-doubt. */
  | { kind: 'in-progress'; state: 'pending' | 'in-doubt'; expiresAt: number }
  /** The same reservation id was used for another SKU, quantity or user. */
  | { kind: 'key-reused'; sku: string; quantity: number }
  /** The same reservation id already finished: the first outcome, replayed. */
  | {
      kind: 'replay';
      reservation: Reservation;
      state: 'confirmed' | 'released';
      outcome: string | undefined;
    }
  | { kind: 'unknown-sku' }
  /** No ledger is loaded for this sale. */
  | { kind: 'no-sale' }
  /**
   * The ledger is halted: the operator found it went back in time or was replaced, or a reserve
   * found it behind what its caller had seen (docs/reliability.md).
   */
  | { kind: 'halted'; reason: string };

export type SettleAction = 'confirm' | 'release' | 'in-doubt';

export type SettleOutcome =
  | { kind: 'settled'; from: ReservationState; to: ReservationState }
  /** Already in the requested state: nothing changed (a repeat). */
  | { kind: 'unchanged'; state: ReservationState }
  /** Already finished the other way: nothing changed. */
  | { kind: 'conflict'; state: 'confirmed' | 'released' }
  | { kind: 'unknown' }
  | { kind: 'wrong-sku'; sku: string };

export type PreloadOutcome =
  | { kind: 'loaded'; ledgerId: string; seq: number }
  | { kind: 'unchanged'; ledgerId: string; seq: number }
  /** The ledger holds a newer generation than the one offered. */
  | { kind: 'stale-generation'; current: number }
  /** The new stock of `sku` is below what is already reserved + sold there. */
  | { kind: 'below-committed'; sku: string; committed: number }
  /** The caller saw a ledger before, and Redis has none now: it was lost. */
  | { kind: 'ledger-lost'; expectedLedgerId: string }
  /** Redis holds another ledger than the one the caller saw. */
  | { kind: 'ledger-mismatch'; found: string }
  /** Redis holds the ledger the caller saw, but from before mutations the caller saw. */
  | { kind: 'ledger-rolled-back'; seq: number };

export class LedgerReplyError extends Error {
  constructor(script: string, reply: unknown) {
    super(`unexpected reply from the ${script} script: ${JSON.stringify(reply)}`);
    this.name = 'LedgerReplyError';
  }
}

function asArray(script: string, reply: unknown): unknown[] {
  if (!Array.isArray(reply) || reply.length === 0) throw new LedgerReplyError(script, reply);
  return reply as unknown[];
}

function str(script: string, reply: unknown[], index: number): string {
  const value = reply[index];
  if (typeof value !== 'string') throw new LedgerReplyError(script, reply);
  return value;
}

function int(script: string, reply: unknown[], index: number): number {
  const value = reply[index];
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return Number(value);
  throw new LedgerReplyError(script, reply);
}

function state<T extends ReservationState>(
  script: string,
  reply: unknown[],
  index: number,
  allowed: readonly T[],
): T {
  const value = str(script, reply, index);
  if (!(allowed as readonly string[]).includes(value)) throw new LedgerReplyError(script, reply);
  return value as T;
}

const ALL_STATES = ['pending', 'in-doubt', 'confirmed', 'released'] as const;
const FINISHED = ['confirmed', 'released'] as const;

export function parseReserveReply(raw: unknown, reservation: Reservation): ReserveOutcome {
  const r = asArray('reserve', raw);
  switch (r[0]) {
    case 'reserved':
      return {
        kind: 'reserved',
        reservation,
        expiresAt: int('reserve', r, 1),
        available: int('reserve', r, 2),
      };
    case 'sold-out':
      return { kind: 'sold-out', available: int('reserve', r, 1) };
    case 'user-limit':
      return { kind: 'user-limit', limit: int('reserve', r, 1), held: int('reserve', r, 2) };
    case 'not-started':
      return { kind: 'not-started', startsAt: int('reserve', r, 1) };
    case 'ended':
      return { kind: 'ended', endedAt: int('reserve', r, 1) };
    case 'in-progress':
      return {
        kind: 'in-progress',
        state: state('reserve', r, 1, ['pending', 'in-doubt'] as const),
        expiresAt: int('reserve', r, 2),
      };
    case 'key-reused':
      return { kind: 'key-reused', sku: str('reserve', r, 1), quantity: int('reserve', r, 2) };
    case 'replay': {
      const outcome = str('reserve', r, 2);
      return {
        kind: 'replay',
        reservation,
        state: state('reserve', r, 1, FINISHED),
        outcome: outcome === '' ? undefined : outcome,
      };
    }
    case 'unknown-sku':
      return { kind: 'unknown-sku' };
    case 'no-sale':
      return { kind: 'no-sale' };
    case 'halted':
      return { kind: 'halted', reason: str('reserve', r, 1) };
    default:
      throw new LedgerReplyError('reserve', raw);
  }
}

export function parseSettleReply(raw: unknown): SettleOutcome {
  const r = asArray('settle', raw);
  switch (r[0]) {
    case 'settled':
      return {
        kind: 'settled',
        from: state('settle', r, 1, ALL_STATES),
        to: state('settle', r, 2, ALL_STATES),
      };
    case 'unchanged':
      return { kind: 'unchanged', state: state('settle', r, 1, ALL_STATES) };
    case 'conflict':
      return { kind: 'conflict', state: state('settle', r, 1, FINISHED) };
    case 'unknown':
      return { kind: 'unknown' };
    case 'wrong-sku':
      return { kind: 'wrong-sku', sku: str('settle', r, 1) };
    default:
      throw new LedgerReplyError('settle', raw);
  }
}

/** `undefined` means the script asks to be run again (the SKU set changed under us). */
export function parsePreloadReply(raw: unknown): PreloadOutcome | undefined {
  const r = asArray('preload', raw);
  switch (r[0]) {
    case 'loaded':
    case 'unchanged':
      return { kind: r[0], ledgerId: str('preload', r, 1), seq: int('preload', r, 2) };
    case 'stale-generation':
      return { kind: 'stale-generation', current: int('preload', r, 1) };
    case 'below-committed':
      return {
        kind: 'below-committed',
        sku: str('preload', r, 1),
        committed: int('preload', r, 2),
      };
    case 'ledger-lost':
      return { kind: 'ledger-lost', expectedLedgerId: str('preload', r, 1) };
    case 'ledger-mismatch':
      return { kind: 'ledger-mismatch', found: str('preload', r, 1) };
    case 'ledger-rolled-back':
      return { kind: 'ledger-rolled-back', seq: int('preload', r, 1) };
    case 'retry':
      return undefined;
    default:
      throw new LedgerReplyError('preload', raw);
  }
}
