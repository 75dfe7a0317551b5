// The FlashSale reconciler's decision, pure: from the sale, what the ledger holds and what config
// is published, to what must be done (preload, publish, announce), the status, the Events and when
// to look again. controller.ts does the I/O; nothing here touches the network or the clock.
import { isDeepStrictEqual } from 'node:util';
import {
  validateFlashSale,
  type FlashSaleCondition,
  type FlashSaleStatus,
  type Phase,
  type SaleSettings,
} from '../api/v1alpha1/index.ts';
import {
  ledgerMatches,
  preloadPlan,
  type LedgerSnapshot,
  type PreloadOutcome,
  type PreloadPlan,
} from '../ledger/index.ts';

export interface ReconcileInput {
  /** The FlashSale as the apiserver returned it. */
  sale: unknown;
  generation: number;
  status: FlashSaleStatus | undefined;
  /** The ledger's counts; undefined when Redis holds no ledger for the sale. */
  snapshot: LedgerSnapshot | undefined;
  /** The config read from Redis; undefined when none is published. */
  published: unknown;
  /** The ledger's answer when this pass already offered it a preload that it refused. */
  refused?: RefusedPreload;
  now: number;
}

export type RefusedPreload = Exclude<PreloadOutcome, { kind: 'loaded' | 'unchanged' }>;

export type Result = { kind: 'requeue'; afterMs: number } | { kind: 'await-change' };

/** Look again after `ms` even if nothing changes. */
export function requeueAfter(ms: number): Result {
  return { kind: 'requeue', afterMs: Math.max(0, Math.ceil(ms)) };
}

/** Nothing time-driven is pending: only a change to the FlashSale brings it back. */
export function awaitChange(): Result {
  return { kind: 'await-change' };
}

export interface SaleEventRecord {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface Plan {
  preload: PreloadPlan | undefined;
  /** The config to write to Redis; undefined when the published one is already right. */
  publish: SaleSettings | undefined;
  /** Tell the sidecars the sale ended (on the transition to Ended). */
  announceEnded: boolean;
  /**
   * Halt the ledger with this reason (`SaleLedger.halt`): it went back in time or was replaced,
   * and selling from it could sell a unit twice.
   */
  halt: string | undefined;
  status: FlashSaleStatus;
  events: SaleEventRecord[];
  result: Result;
}

/** While a sale runs, its counts reach the status at most this often. */
export const STATUS_SYNC_MS = 5_000;
/** However far the next boundary, look again this often (and stay within setTimeout's range). */
export const RESYNC_MS = 10 * 60_000;
/**
 * Admitted checkouts per second per unit still available. 4 lets the whole remaining stock be
 * claimed within a quarter of a second, and abandoned reservations coming back later raise the
 * rate again at the next sync; admitting more only buys 409 sold-out answers.
 */
export const RATE_PER_UNIT = 4;

/**
 * The cluster-wide admission rate for `remaining` units: the spec's rate, lowered to
 * RATE_PER_UNIT per unit, never below 1. Rounded up to a power of two so the published config
 * (and every sidecar's reload) changes a few dozen times over a sale, not on every checkout.
 */
export function tunedAdmissionRate(specRate: number, remaining: number): number {
  const wanted = Math.max(1, remaining * RATE_PER_UNIT);
  return Math.min(specRate, 2 ** Math.ceil(Math.log2(wanted)));
}

function windowPhase(settings: SaleSettings, now: number): 'Scheduled' | 'Active' | 'Ended' {
  if (now < settings.window.startMs) return 'Scheduled';
  return now < settings.window.endMs ? 'Active' : 'Ended';
}

interface ConditionInput {
  type: string;
  ok: boolean;
  reason: string;
  message: string;
}

/** metav1.Condition semantics: lastTransitionTime moves only when the status flips. */
export function conditions(
  previous: readonly FlashSaleCondition[] | undefined,
  wanted: readonly ConditionInput[],
  generation: number,
  now: number,
): FlashSaleCondition[] {
  return wanted.map(({ type, ok, reason, message }) => {
    const status = ok ? 'True' : 'False';
    const before = previous?.find((c) => c.type === type);
    const lastTransitionTime =
      before?.status === status ? before.lastTransitionTime : new Date(now).toISOString();
    return { type, status, observedGeneration: generation, lastTransitionTime, reason, message };
  });
}

function refusalMessage(refused: RefusedPreload): string {
  switch (refused.kind) {
    case 'stale-generation':
      return `the ledger already holds generation ${refused.current}, newer than this one`;
    case 'below-committed':
      return `stock of ${refused.sku} is below the ${refused.committed} units already reserved or sold`;
    case 'ledger-lost':
      return `the ledger ${refused.expectedLedgerId} is gone from Redis; reloading it would sell units twice`;
    case 'ledger-mismatch':
      return `Redis holds another ledger (${refused.found}) than the one this sale loaded`;
    case 'ledger-rolled-back':
      return `the ledger went back in time (seq ${refused.seq}); Redis restarted from an older state`;
  }
}

const transitionEvents: Record<Phase, { reason: string; message: string; type?: 'Warning' }> = {
  Scheduled: { reason: 'Scheduled', message: 'the sale is scheduled' },
  Active: { reason: 'SaleStarted', message: 'the sale window opened' },
  SoldOut: { reason: 'SoldOut', message: 'every SKU is sold out' },
  Ended: { reason: 'SaleEnded', message: 'the sale window closed' },
  Failed: { reason: 'Failed', message: 'the sale failed', type: 'Warning' },
};

function transitionEvent(from: Phase | undefined, to: Phase, detail: string): SaleEventRecord[] {
  if (from === to) return [];
  // Back from SoldOut: released reservations put units on sale again.
  if (from === 'SoldOut' && to === 'Active') {
    return [{ type: 'Normal', reason: 'Restocked', message: 'units are available again' }];
  }
  const { reason, message, type = 'Normal' } = transitionEvents[to];
  return [{ type, reason, message: detail === '' ? message : `${message}: ${detail}` }];
}

function failed(input: ReconcileInput, reason: string, message: string): Plan {
  const status: FlashSaleStatus = {
    ...input.status,
    phase: 'Failed',
    observedGeneration: input.generation,
    conditions: conditions(
      input.status?.conditions,
      [
        { type: 'StockLoaded', ok: false, reason, message },
        { type: 'Ready', ok: false, reason, message },
      ],
      input.generation,
      input.now,
    ),
  };
  return {
    preload: undefined,
    publish: undefined,
    announceEnded: false,
    halt: undefined,
    status,
    events: transitionEvent(input.status?.phase, 'Failed', message),
    // The spec or a human must change something first: retrying cannot help.
    result: awaitChange(),
  };
}

export function reconcile(input: ReconcileInput): Plan {
  const validation = validateFlashSale(withoutStatus(input.sale));
  if (!validation.ok) {
    const message = validation.errors.map((e) => `${e.field}: ${e.message}`).join('; ');
    return failed(input, 'InvalidSpec', message);
  }
  if (input.refused !== undefined) {
    return refusedPlan(input, input.refused);
  }
  const { settings } = validation;
  const { snapshot, generation, now } = input;
  const loaded =
    snapshot !== undefined &&
    snapshot.generation === generation &&
    ledgerMatches(snapshot, settings);
  const marker = input.status?.ledger;
  const drift = loaded ? ledgerDrift(marker, snapshot) : undefined;
  if (drift !== undefined) return refusedPlan(input, drift);
  // Halted by a sidecar's reserve that found the ledger behind what it had seen (a loss too
  // short for the marker to show), or by an earlier reconcile: the sale cannot sell.
  if (loaded && snapshot.halted !== undefined) {
    return failed(
      input,
      'LedgerHalted',
      `the ledger is halted (${snapshot.halted}); checkouts get 503 until the sale is deleted and re-created`,
    );
  }
  const preload = loaded
    ? undefined
    : preloadPlan(
        settings,
        generation,
        marker === undefined ? undefined : { ledgerId: marker.id, seq: marker.seq },
      );
  // Remembered in the status so a later preload can tell a lost or rolled-back ledger.
  const ledger = loaded ? { id: snapshot.ledgerId, seq: snapshot.seq } : marker;

  const items = loaded ? snapshot.items : [];
  const remaining = loaded
    ? items.reduce((sum, item) => sum + item.available, 0)
    : settings.items.reduce((sum, item) => sum + item.stock, 0);
  const config: SaleSettings = {
    ...settings,
    limits: {
      ...settings.limits,
      admissionRate: tunedAdmissionRate(settings.limits.admissionRate, remaining),
    },
  };
  const publish = isDeepStrictEqual(input.published, config) ? undefined : config;

  const window = windowPhase(settings, now);
  const soldOut = loaded && items.every((item) => item.available === 0);
  const phase: Phase = window === 'Active' && soldOut ? 'SoldOut' : window;
  const stockMessage = loaded
    ? `generation ${generation}: ${items.length} SKUs, ${settings.items.reduce((s, i) => s + i.stock, 0)} units`
    : `loading generation ${generation}`;
  const status: FlashSaleStatus = {
    phase,
    observedGeneration: generation,
    stock: items.reduce((sum, item) => sum + item.total, 0),
    sold: items.reduce((sum, item) => sum + item.sold, 0),
    items: items.map(({ sku, available, reserved, sold, inDoubt }) => ({
      sku,
      available,
      reserved,
      sold,
      inDoubt,
    })),
    conditions: conditions(
      input.status?.conditions,
      [
        {
          type: 'StockLoaded',
          ok: loaded,
          reason: loaded ? 'Loaded' : 'Loading',
          message: stockMessage,
        },
        {
          type: 'LimitsPublished',
          ok: publish === undefined,
          reason: publish === undefined ? 'Published' : 'Publishing',
          message: `admission rate ${config.limits.admissionRate}/s, burst ${config.limits.burst}`,
        },
        {
          type: 'Ready',
          ok: loaded && publish === undefined,
          reason: loaded && publish === undefined ? 'Ready' : 'Reconciling',
          message:
            loaded && publish === undefined
              ? 'the ledger holds the spec and the config is published'
              : 'the ledger or the published config is behind the spec',
        },
      ],
      generation,
      now,
    ),
    ...(ledger === undefined ? {} : { ledger }),
  };

  const events: SaleEventRecord[] = [];
  const wasLoaded =
    input.status?.observedGeneration === generation &&
    input.status.conditions?.some((c) => c.type === 'StockLoaded' && c.status === 'True') === true;
  if (loaded && !wasLoaded) {
    events.push({ type: 'Normal', reason: 'StockLoaded', message: stockMessage });
  }
  if (loaded) events.push(...transitionEvent(input.status?.phase, phase, ''));

  return {
    preload,
    publish,
    announceEnded: loaded && phase === 'Ended' && input.status?.phase !== 'Ended',
    halt: undefined,
    status,
    events,
    result: nextLook(settings, phase, now),
  };
}

/** The sale's settings when its spec is valid (which Redis it uses, before any reconcile). */
export function specSettings(sale: unknown): SaleSettings | undefined {
  const validation = validateFlashSale(withoutStatus(sale));
  return validation.ok ? validation.settings : undefined;
}

/** `result`, but looking again within `ms` at the latest (e.g. to notice a changed Secret). */
export function atMost(result: Result, ms: number): Result {
  return result.kind === 'requeue' && result.afterMs <= ms ? result : requeueAfter(ms);
}

/** The spec is the user's to get right; the status is ours and must never fail the sale. */
function withoutStatus(sale: unknown): unknown {
  if (typeof sale !== 'object' || sale === null) return sale;
  return Object.fromEntries(Object.entries(sale).filter(([key]) => key !== 'status'));
}

/**
 * A loaded ledger that is not the one the status remembers, or that went back in time: Redis was
 * replaced or restored from an older copy while the sale ran. Preload checks the same marker; this
 * catches it between preloads, before the status would adopt the older counts. A loss shorter
 * than the status sync interval stays invisible to the marker (docs/reliability.md).
 */
function ledgerDrift(
  marker: { id: string; seq: number } | undefined,
  snapshot: LedgerSnapshot,
): RefusedPreload | undefined {
  if (marker === undefined) return undefined;
  if (marker.id !== snapshot.ledgerId) return { kind: 'ledger-mismatch', found: snapshot.ledgerId };
  if (snapshot.seq < marker.seq) return { kind: 'ledger-rolled-back', seq: snapshot.seq };
  return undefined;
}

/**
 * The sale fails on a refused or drifted ledger. One still in Redis that cannot be trusted is
 * halted too: the sidecars would go on selling from it otherwise (docs/reliability.md).
 */
function refusedPlan(input: ReconcileInput, refused: RefusedPreload): Plan {
  const untrusted = refused.kind === 'ledger-rolled-back' || refused.kind === 'ledger-mismatch';
  const message = untrusted
    ? `${refusalMessage(refused)}; the ledger is halted: checkouts get 503 until the sale is deleted and re-created`
    : refusalMessage(refused);
  return {
    ...failed(input, refusedReason(refused), message),
    halt: untrusted ? message : undefined,
  };
}

function refusedReason(refused: RefusedPreload): string {
  const words = refused.kind.split('-').map((w) => w.charAt(0).toUpperCase() + w.slice(1));
  return words.join('');
}

/** The next window boundary; while the sale runs, the status sync interval if sooner. */
function nextLook(settings: SaleSettings, phase: Phase, now: number): Result {
  const { startMs, endMs } = settings.window;
  if (phase === 'Scheduled') return requeueAfter(Math.min(startMs - now, RESYNC_MS));
  if (phase === 'Ended') return awaitChange();
  return requeueAfter(Math.min(endMs - now, STATUS_SYNC_MS));
}

/**
 * The status and Events when the environment failed the reconcile (Redis unreachable, the
 * apiserver refused a write): Ready=False with the cause, a Warning only when the cause is new.
 * The counts and phase stay as last observed; the caller retries with backoff.
 */
export function degraded(
  previous: FlashSaleStatus | undefined,
  generation: number,
  reason: string,
  message: string,
  now: number,
): { status: FlashSaleStatus; events: SaleEventRecord[] } {
  const kept = previous?.conditions?.filter((c) => c.type !== 'Ready') ?? [];
  const [ready] = conditions(
    previous?.conditions,
    [{ type: 'Ready', ok: false, reason, message }],
    generation,
    now,
  );
  const before = previous?.conditions?.find((c) => c.type === 'Ready');
  const isNew = before?.reason !== reason;
  return {
    status: { ...previous, conditions: ready === undefined ? kept : [...kept, ready] },
    events: isNew ? [{ type: 'Warning', reason, message }] : [],
  };
}
