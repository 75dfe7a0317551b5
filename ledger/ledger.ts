// The typed Ledger API over one sale: every call is one atomic Lua script (or a read), with its
// arguments checked before Redis is touched.
import { hash, randomBytes } from 'node:crypto';
import {
  checkIdempotencyKey,
  checkNonNegativeInteger,
  checkOutcome,
  checkQuantity,
  checkReservationId,
  checkSku,
  checkTtlMs,
  checkUser,
  LedgerArgumentError,
} from './arguments.ts';
import { TurnBatcher } from './batch.ts';
import { formatSaleEvent, type SaleEvent } from './events.ts';
import { saleKeys, type SaleKeys, type SaleRef } from './keys.ts';
import {
  LedgerReplyError,
  parsePreloadReply,
  parseReserveReply,
  parseSettleReply,
  type PreloadOutcome,
  type Reservation,
  type ReserveOutcome,
  type SettleAction,
  type SettleOutcome,
} from './outcomes.ts';
import { runScript, runScriptThenWait, type LedgerClient } from './scripts.ts';
import {
  parseRecord,
  parseSnapshotReply,
  type LedgerSnapshot,
  type ReservationRecord,
} from './snapshot.ts';

export interface PreloadItem {
  sku: string;
  stock: number;
  perUserLimit: number;
}

export interface PreloadPlan {
  /** The FlashSale generation this plan comes from; a ledger never goes back to an older one. */
  generation: number;
  window: { startMs: number; endMs: number };
  /** How long idempotency records outlive the window. */
  retentionMs: number;
  items: readonly PreloadItem[];
  /**
   * What the caller last saw of this sale's ledger (the operator keeps it in the FlashSale's
   * status). When given, a ledger that vanished or went back in time is refused, not reloaded.
   */
  lastSeen?: { ledgerId: string; seq: number };
}

export interface ReserveRequest {
  sku: string;
  user: string;
  quantity: number;
  /** The client's Idempotency-Key: scoped to the user, it names the reservation. */
  idempotencyKey?: string;
  /** How long the reservation stays pending before the reaper takes it as in-doubt. */
  ttlMs: number;
  /** Replica-acknowledged mode: a reservation counts only once this many replicas hold it. */
  replicaAck?: ReplicaAck;
}

/** `WAIT replicas timeoutMs` after each reservation (Redis with Sentinel-managed replicas). */
export interface ReplicaAck {
  replicas: number;
  timeoutMs: number;
}

/**
 * Fewer replicas than asked acknowledged a reservation in time: it was undone (a failover could
 * have lost it while the shop sold its units) and the checkout must not go ahead.
 */
export class ReplicaAckError extends Error {
  readonly acknowledged: number;
  constructor(acknowledged: number, wanted: number) {
    super(`the reservation reached ${acknowledged} of ${wanted} replicas in time; undone`);
    this.name = 'ReplicaAckError';
    this.acknowledged = acknowledged;
  }
}

const MAX_STOCK = 1_000_000_000;
const MAX_PER_USER_LIMIT = 1000;
const MAX_ITEMS = 100;
const MAX_GENERATION = Number.MAX_SAFE_INTEGER;
const MAX_BATCH = 1000;
const PRELOAD_ATTEMPTS = 5;
const MAX_HALT_REASON = 1000;

/**
 * The reservation id for a request: derived from (sale, user, Idempotency-Key) so a key is scoped
 * to its user and a retry lands on the same reservation, while two sales sending the same user and
 * key to one shop never share an order id; random when there is no key.
 */
export function reservationIdFor(
  sale: SaleRef,
  user: string,
  idempotencyKey: string | undefined,
): string {
  // One-shot hash: measured cheaper than a Hash object on the checkout path. Namespace and name
  // cannot hold a newline, so the separators keep every (sale, user, key) apart.
  const bytes =
    idempotencyKey === undefined
      ? randomBytes(16)
      : hash('sha256', `${sale.namespace}/${sale.name}\n${user}\n${idempotencyKey}`, 'buffer');
  return bytes.subarray(0, 16).toString('base64url');
}

function checkPlan(plan: PreloadPlan): void {
  checkNonNegativeInteger(plan.generation, 'generation', MAX_GENERATION);
  const { startMs, endMs } = plan.window;
  checkNonNegativeInteger(startMs, 'window.startMs', MAX_GENERATION);
  checkNonNegativeInteger(endMs, 'window.endMs', MAX_GENERATION);
  if (endMs <= startMs) throw new LedgerArgumentError('window.endMs', 'must be after startMs');
  checkNonNegativeInteger(plan.retentionMs, 'retentionMs', MAX_GENERATION);
  if (plan.items.length === 0 || plan.items.length > MAX_ITEMS) {
    throw new LedgerArgumentError('items', `must hold 1 to ${MAX_ITEMS} items`);
  }
  const seen = new Set<string>();
  plan.items.forEach((item, i) => {
    checkSku(item.sku, `items[${i}].sku`);
    if (seen.has(item.sku)) throw new LedgerArgumentError(`items[${i}].sku`, 'is a duplicate');
    seen.add(item.sku);
    checkNonNegativeInteger(item.stock, `items[${i}].stock`, MAX_STOCK);
    checkNonNegativeInteger(item.perUserLimit, `items[${i}].perUserLimit`, MAX_PER_USER_LIMIT);
    if (item.perUserLimit < 1) {
      throw new LedgerArgumentError(`items[${i}].perUserLimit`, 'must be at least 1');
    }
  });
}

/**
 * The most checkouts one reserve or settle call carries. A script holds Redis while it runs: about
 * 25 µs per entry on the 2-core test machine (INFO commandstats), so 1.5 ms at 64. A cap of 16
 * (0.4 ms) cost the sidecar more context switches and CPU per admit under the storm bench's
 * full-speed admit load, in alternating runs: a storm turn often holds more than 16 checkouts.
 */
const MAX_SCRIPT_BATCH = 64;

interface ReserveEntry {
  reservation: Reservation;
  user: string;
  quantity: number;
  ttlMs: number;
  ack: ReplicaAck | undefined;
}

interface ReserveResult {
  outcome: ReserveOutcome;
  /** Replicas that acknowledged the batch's writes (replica-ack mode only). */
  acknowledged: number;
}

interface SettleEntry {
  reservation: Reservation;
  action: SettleAction | 'undo';
  outcome: string;
}

/** The per-entry replies of a batched script call. */
function batchReplies(reply: unknown, entries: number): unknown[] {
  if (!Array.isArray(reply) || reply.length !== entries) {
    throw new Error(`expected ${entries} script replies, got ${JSON.stringify(reply)}`);
  }
  return reply;
}

function checkReservation(reservation: Reservation): Reservation {
  return { id: checkReservationId(reservation.id), sku: checkSku(reservation.sku) };
}

/** The newest state of the ledger a caller has seen: its id and mutation counter. */
export interface LedgerMark {
  ledgerId: string;
  seq: number;
}

/**
 * The mark after a reserve reply: the same ledger only moves forward (replies on one connection
 * come in Redis' order, and a seq below the mark halts the ledger in the script); another ledger,
 * the sale deleted and loaded again, starts over.
 */
export function advanceMark(
  mark: LedgerMark | undefined,
  seen: LedgerMark,
): LedgerMark | undefined {
  if (seen.ledgerId === '') return mark;
  if (mark?.ledgerId !== seen.ledgerId || seen.seq > mark.seq) return seen;
  return mark;
}

/** A reserve script's reply: one reply per entry, then the ledger's id and seq. */
function reserveReplies(reply: unknown, entries: number): { replies: unknown[]; seen: LedgerMark } {
  const all = batchReplies(reply, entries + 2);
  const [ledgerId, seq] = all.slice(entries);
  if (typeof ledgerId !== 'string' || typeof seq !== 'number') {
    throw new LedgerReplyError('reserve', reply);
  }
  return { replies: all.slice(0, entries), seen: { ledgerId, seq } };
}

export class SaleLedger {
  readonly sale: SaleRef;
  readonly #client: LedgerClient;
  readonly #keys: SaleKeys;
  /** Sent with every reserve, so a ledger that went back in time is halted before it sells. */
  #mark: LedgerMark | undefined;
  readonly #reserves: TurnBatcher<ReserveEntry, ReserveResult>;
  readonly #settles: TurnBatcher<SettleEntry, unknown>;

  constructor(client: LedgerClient, sale: SaleRef) {
    this.#client = client;
    this.sale = sale;
    this.#keys = saleKeys(sale);
    this.#reserves = new TurnBatcher((entries) => this.#reserveBatch(entries), MAX_SCRIPT_BATCH);
    this.#settles = new TurnBatcher((entries) => this.#settleBatch(entries), MAX_SCRIPT_BATCH);
  }

  /** The SKUs the loaded generation holds, in load order. */
  async skus(): Promise<string[]> {
    const skus = await this.#client.hget(this.#keys.meta, 'skus');
    return skus === null || skus === '' ? [] : skus.split(',');
  }

  /**
   * Loads a generation of the sale. Idempotent per generation; raising stock adds the difference
   * to `available`; lowering it below reserved + sold, or removing a SKU with reservations or
   * sales, is refused (`below-committed`) and changes nothing.
   */
  async preload(plan: PreloadPlan): Promise<PreloadOutcome> {
    checkPlan(plan);
    const k = this.#keys;
    for (let attempt = 0; attempt < PRELOAD_ATTEMPTS; attempt++) {
      const current = await this.skus();
      const wanted = new Map(plan.items.map((item) => [item.sku, item]));
      const removed = current.filter((sku) => !wanted.has(sku));
      const keys = [k.meta];
      const args: (string | number)[] = [
        plan.generation,
        plan.window.startMs,
        plan.window.endMs,
        plan.window.endMs + plan.retentionMs,
        randomBytes(12).toString('base64url'),
        plan.lastSeen?.ledgerId ?? '',
        plan.lastSeen?.seq ?? 0,
        current.join(','),
        k.events,
      ];
      for (const item of plan.items) {
        keys.push(k.stock(item.sku), k.users(item.sku));
        args.push(item.sku, item.stock, item.perUserLimit);
      }
      for (const sku of removed) {
        keys.push(k.stock(sku), k.users(sku));
        args.push(sku, -1, 1);
      }
      const outcome = parsePreloadReply(await runScript(this.#client, 'preload', keys, args));
      if (outcome !== undefined) return outcome;
    }
    throw new Error(`preload of ${this.sale.namespace}/${this.sale.name}: SKU set kept changing`);
  }

  /**
   * Reserves stock for one checkout: atomic and idempotent, in one Lua call with the other
   * reserves of this sale made in the same event-loop turn.
   */
  async reserve(request: ReserveRequest): Promise<ReserveOutcome> {
    const sku = checkSku(request.sku);
    const user = checkUser(request.user);
    const quantity = checkQuantity(request.quantity);
    const ttlMs = checkTtlMs(request.ttlMs);
    const key =
      request.idempotencyKey === undefined
        ? undefined
        : checkIdempotencyKey(request.idempotencyKey);
    const reservation = { id: reservationIdFor(this.sale, user, key), sku };
    const ack = request.replicaAck;
    const { outcome, acknowledged } = await this.#reserves.add(
      { reservation, user, quantity, ttlMs, ack },
      ack === undefined ? '' : `${ack.replicas}/${ack.timeoutMs}`,
    );
    if (ack !== undefined && outcome.kind === 'reserved' && acknowledged < ack.replicas) {
      throw new ReplicaAckError(acknowledged, ack.replicas);
    }
    return outcome;
  }

  /** One reserve script call for a batch of entries that share their replica-ack setting. */
  async #reserveBatch(entries: readonly ReserveEntry[]): Promise<ReserveResult[]> {
    const k = this.#keys;
    const keys = [k.meta, k.orders, k.pending];
    const args: (string | number)[] = [k.events, this.#mark?.ledgerId ?? '', this.#mark?.seq ?? 0];
    for (const { reservation, user, quantity, ttlMs } of entries) {
      keys.push(k.stock(reservation.sku), k.users(reservation.sku));
      args.push(reservation.id, reservation.sku, user, quantity, ttlMs);
    }
    const ack = entries[0]?.ack;
    const { reply, acknowledged } =
      ack === undefined
        ? { reply: await runScript(this.#client, 'reserve', keys, args), acknowledged: 0 }
        : await runScriptThenWait(this.#client, 'reserve', keys, args, ack);
    const { replies, seen } = reserveReplies(reply, entries.length);
    const unacknowledged = ack !== undefined && acknowledged < ack.replicas;
    // In replica-ack mode only a state every replica holds may be the mark: a failover can lose
    // the rest without losing a checkout that was forwarded, and must not halt the sale for it.
    if (!unacknowledged) this.#mark = advanceMark(this.#mark, seen);
    const outcomes = replies.map((r, i) =>
      parseReserveReply(r, (entries[i] as ReserveEntry).reservation),
    );
    if (unacknowledged) {
      // Never forwarded, so undoing them is safe; if an undo fails too, its reservation stays
      // pending and the reaper holds it as in-doubt: undersold, never oversold.
      await Promise.all(
        outcomes.flatMap((o) =>
          o.kind === 'reserved'
            ? [this.#settle(o.reservation, 'undo', '').catch(() => undefined)]
            : [],
        ),
      );
    }
    return outcomes.map((outcome) => ({ outcome, acknowledged }));
  }

  /** The shop committed the order: the units are sold. `outcome` is replayed to repeats. */
  confirm(reservation: Reservation, outcome = ''): Promise<SettleOutcome> {
    return this.#settle(reservation, 'confirm', outcome);
  }

  /** The shop did not commit (or was never asked): the units go back on sale. */
  release(reservation: Reservation, outcome = ''): Promise<SettleOutcome> {
    return this.#settle(reservation, 'release', outcome);
  }

  /** The request reached the shop but its answer was lost: hold the units until the shop says. */
  markInDoubt(reservation: Reservation): Promise<SettleOutcome> {
    return this.#settle(reservation, 'in-doubt', '');
  }

  /** Settles one reservation, in one Lua call with this sale's other settlements of this turn. */
  async #settle(
    reservation: Reservation,
    action: SettleAction | 'undo',
    outcome: string,
  ): Promise<SettleOutcome> {
    const checked = checkReservation(reservation);
    checkOutcome(outcome);
    return parseSettleReply(await this.#settles.add({ reservation: checked, action, outcome }));
  }

  async #settleBatch(entries: readonly SettleEntry[]): Promise<unknown[]> {
    const k = this.#keys;
    const keys = [k.meta, k.orders, k.pending, k.indoubt];
    const args: string[] = [k.events];
    for (const { reservation, action, outcome } of entries) {
      keys.push(k.stock(reservation.sku), k.users(reservation.sku));
      args.push(reservation.id, reservation.sku, action, outcome);
    }
    return batchReplies(await runScript(this.#client, 'settle', keys, args), entries.length);
  }

  /**
   * Stops every further reservation from this ledger (each answers `halted` with `reason`);
   * settlements still run. For a ledger the operator cannot trust any more: it went back in time
   * or was replaced. False when there is no ledger to halt. Deleting the sale's keys undoes it.
   */
  async halt(reason: string): Promise<boolean> {
    if (reason === '' || reason.length > MAX_HALT_REASON) {
      throw new LedgerArgumentError('reason', `must be 1-${MAX_HALT_REASON} characters`);
    }
    return (await runScript(this.#client, 'halt', [this.#keys.meta], [reason])) === 1;
  }

  /**
   * Moves up to `batch` expired pending reservations to in-doubt and returns them. Run by one
   * reaper per sale (the operator's leader, or the standalone sidecar holding the reaper lock).
   */
  async reap(batch = 100): Promise<Reservation[]> {
    checkNonNegativeInteger(batch, 'batch', MAX_BATCH);
    const skus = await this.skus();
    const k = this.#keys;
    const reply = await runScript(
      this.#client,
      'reap',
      [k.meta, k.orders, k.pending, k.indoubt, ...skus.map((sku) => k.stock(sku))],
      [batch, ...skus],
    );
    if (!Array.isArray(reply)) throw new Error('unexpected reap reply');
    const records = await this.#records(reply as string[]);
    return records.map(({ id, sku }) => ({ id, sku }));
  }

  /**
   * Up to `limit` in-doubt reservations, for settling with the shop's order-status endpoint. A
   * random sample, so reservations the shop cannot answer for yet never starve the others.
   */
  async inDoubt(limit = 100): Promise<ReservationRecord[]> {
    checkNonNegativeInteger(limit, 'limit', MAX_BATCH);
    if (limit === 0) return [];
    const flat = (await this.#client.hrandfield(
      this.#keys.indoubt,
      limit,
      'WITHVALUES',
    )) as string[];
    const records: ReservationRecord[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      records.push(parseRecord(flat[i] ?? '', flat[i + 1] ?? ''));
    }
    return records;
  }

  /** One reservation's record, while the sale's idempotency records are retained. */
  async record(id: string): Promise<ReservationRecord | undefined> {
    const [record] = await this.#records([checkReservationId(id)]);
    return record;
  }

  async #records(ids: readonly string[]): Promise<ReservationRecord[]> {
    if (ids.length === 0) return [];
    const raw = await this.#client.hmget(this.#keys.orders, ...ids);
    const records: ReservationRecord[] = [];
    raw.forEach((record, i) => {
      if (record !== null) records.push(parseRecord(ids[i] ?? '', record));
    });
    return records;
  }

  /** All counts of the sale at one instant; `undefined` when no ledger is loaded. */
  async snapshot(): Promise<LedgerSnapshot | undefined> {
    for (let attempt = 0; attempt < PRELOAD_ATTEMPTS; attempt++) {
      const skus = await this.skus();
      const k = this.#keys;
      const raw = await runScript(this.#client, 'snapshot', [k.meta, ...skus.map(k.stock)], []);
      const snapshot = parseSnapshotReply(raw, skus);
      const meta = (raw as unknown[][])[0];
      // A preload between our two calls changed the SKU set: read again.
      if (snapshot === undefined || meta?.[5] === skus.join(',')) return snapshot;
    }
    throw new Error(`snapshot of ${this.sale.namespace}/${this.sale.name}: SKU set kept changing`);
  }

  /** Records a live sidecar and returns how many are live (each takes 1/n of the rate). */
  async heartbeat(sidecarId: string, ttlMs: number): Promise<number> {
    checkReservationId(sidecarId);
    const live = await runScript(
      this.#client,
      'heartbeat',
      [this.#keys.sidecars],
      [sidecarId, checkTtlMs(ttlMs)],
    );
    return Number(live);
  }

  /** Takes or renews the sale's reaper lease for `holder`; true while `holder` holds it. */
  async holdReaperLease(holder: string, ttlMs: number): Promise<boolean> {
    checkReservationId(holder);
    const held = await runScript(
      this.#client,
      'lease',
      [this.#keys.reaperLease],
      [holder, checkTtlMs(ttlMs)],
    );
    return held === 1;
  }

  /** Stores the sale's published settings and announces them, atomically. */
  async writeConfig(config: unknown): Promise<void> {
    await this.#announce({ type: 'config' }, JSON.stringify(config));
  }

  async readConfig(): Promise<unknown> {
    const raw = await this.#client.get(this.#keys.config);
    return raw === null ? undefined : (JSON.parse(raw) as unknown);
  }

  async publish(event: SaleEvent): Promise<void> {
    await this.#announce(event, '');
  }

  async #announce(event: SaleEvent, config: string): Promise<void> {
    const k = this.#keys;
    await runScript(
      this.#client,
      'announce',
      [k.config],
      [k.events, formatSaleEvent(event), config],
    );
  }

  /** Removes every key of the sale (the FlashSale's deletionPolicy: Delete). */
  async destroy(): Promise<void> {
    const k = this.#keys;
    const skus = await this.skus();
    await this.#client.del(
      k.meta,
      k.config,
      k.orders,
      k.pending,
      k.indoubt,
      k.sidecars,
      k.reaperLease,
      ...skus.flatMap((sku) => [k.stock(sku), k.users(sku)]),
    );
  }
}
