// What the sidecar knows about each sale it guards, kept current from Redis: the settings, which
// SKUs are sold out (so sold-out checkouts cost no Redis call), this pod's share of the admission
// rate, and the breaker. Events (sold out, restock, config) update it at once; a poll every
// second catches what a lost event missed and counts the live sidecars from heartbeats.
import type { SaleSettings } from '../api/v1alpha1/index.ts';
import {
  SaleLedger,
  subscribeSaleEvents,
  type LedgerClient,
  type SaleEvent,
  type SaleRef,
} from '../ledger/index.ts';
import { CircuitBreaker } from './breaker.ts';
import { breakerStateValue, type SidecarMetrics } from './metrics.ts';
import { TokenBucket } from './token-bucket.ts';

export class GuardedSale {
  readonly ref: SaleRef;
  /** `namespace/name`: the `sale` metric label. */
  readonly label: string;
  readonly ledger: SaleLedger;
  readonly soldOut = new Set<string>();
  readonly bucket: TokenBucket;
  readonly breaker: CircuitBreaker;
  settings: SaleSettings;
  liveSidecars = 1;
  /** A ledger is loaded for the sale and the last poll reached it. */
  synced = false;
  /** Why the sale's ledger refuses every reserve, as the last poll read it. */
  halted: string | undefined;

  constructor(ref: SaleRef, settings: SaleSettings, client: LedgerClient, nowMs: number) {
    this.ref = ref;
    this.label = `${ref.namespace}/${ref.name}`;
    this.ledger = new SaleLedger(client, ref);
    this.settings = settings;
    this.bucket = new TokenBucket(settings.limits.admissionRate, settings.limits.burst, nowMs);
    this.breaker = new CircuitBreaker(settings.breaker);
  }

  /** This pod's share of the sale's cluster-wide admission rate and burst. */
  share(): { rate: number; burst: number } {
    const n = Math.max(1, this.liveSidecars);
    const { admissionRate, burst } = this.settings.limits;
    return { rate: admissionRate / n, burst: Math.max(1, Math.floor(burst / n)) };
  }

  apply(settings: SaleSettings, liveSidecars: number, nowMs: number): void {
    this.settings = settings;
    this.liveSidecars = liveSidecars;
    const { rate, burst } = this.share();
    this.bucket.configure(rate, burst, nowMs);
    this.breaker.configure(settings.breaker);
  }

  onEvent(event: SaleEvent): void {
    if (event.type === 'sold-out') this.soldOut.add(event.sku);
    else if (event.type === 'restock') this.soldOut.delete(event.sku);
  }
}

/**
 * True when `value` has every field of `template`, each of the same JSON type (recursively). A
 * null in the template is an absent optional section: null or an object will do.
 */
export function sameShape(template: unknown, value: unknown): boolean {
  if (template === null)
    return value === null || (typeof value === 'object' && !Array.isArray(value));
  if (typeof template !== 'object') return typeof value === typeof template;
  if (Array.isArray(template)) {
    return (
      Array.isArray(value) &&
      (template.length === 0 || value.every((v) => sameShape(template[0], v)))
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const record = value as Record<string, unknown>;
  return Object.entries(template).every(([key, t]) => sameShape(t, record[key]));
}

export interface SyncOptions {
  sidecarId: string;
  pollMs: number;
  clock: () => number;
  metrics: SidecarMetrics;
  onError: (sale: GuardedSale, error: unknown) => void;
  /** The sale's ledger was found halted, or halted for another reason: once per change. */
  onHalted: (sale: GuardedSale, reason: string) => void;
}

/** Polls and subscribes for every guarded sale until stopped. */
export class SaleSync {
  readonly sales: readonly GuardedSale[];
  readonly #subscriber: LedgerClient;
  readonly #options: SyncOptions;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  #lastOkMs = 0;

  constructor(sales: readonly GuardedSale[], subscriber: LedgerClient, options: SyncOptions) {
    this.sales = sales;
    this.#subscriber = subscriber;
    this.#options = options;
  }

  async start(): Promise<void> {
    const byLabel = new Map(this.sales.map((s) => [s.label, s]));
    this.#unsubscribe = await subscribeSaleEvents(
      this.#subscriber,
      this.sales.map((s) => s.ref),
      (ref, event) => {
        const sale = byLabel.get(`${ref.namespace}/${ref.name}`);
        sale?.onEvent(event);
        if (event.type === 'config' && sale !== undefined) void this.#pollSale(sale);
      },
    );
    await this.pollAll();
    this.#timer = setInterval(() => void this.pollAll(), this.#options.pollMs);
    this.#timer.unref();
  }

  /** Ready: every sale's ledger is loaded and was reached within the last three polls. */
  ready(): boolean {
    const fresh = this.#options.clock() - this.#lastOkMs < this.#options.pollMs * 3;
    return fresh && this.sales.every((s) => s.synced);
  }

  async pollAll(): Promise<void> {
    const results = await Promise.all(this.sales.map((s) => this.#pollSale(s)));
    if (results.every(Boolean)) this.#lastOkMs = this.#options.clock();
  }

  async #pollSale(sale: GuardedSale): Promise<boolean> {
    const { metrics, clock, sidecarId, pollMs } = this.#options;
    try {
      const [snapshot, published, live] = await Promise.all([
        sale.ledger.snapshot(),
        sale.ledger.readConfig(),
        sale.ledger.heartbeat(sidecarId, Math.max(1000, pollMs * 3)),
      ]);
      // The operator (or a standalone sidecar) publishes the settings, tuned limits included.
      // A malformed publish is reported and ignored: the last good settings stay in force.
      let settings = sale.settings;
      if (published !== undefined && sameShape(sale.settings, published)) {
        settings = published as SaleSettings;
      } else if (published !== undefined) {
        this.#options.onError(sale, new Error('ignoring a published config of the wrong shape'));
      }
      sale.apply(settings, live, clock());
      sale.synced = snapshot !== undefined;
      const halted = snapshot?.halted;
      metrics.ledgerHalted.labels(sale.label).set(halted === undefined ? 0 : 1);
      if (halted !== sale.halted) {
        sale.halted = halted;
        if (halted !== undefined) this.#options.onHalted(sale, halted);
      }
      for (const item of snapshot?.items ?? []) {
        if (item.available === 0) sale.soldOut.add(item.sku);
        else sale.soldOut.delete(item.sku);
        metrics.stockAvailable.labels(sale.label, item.sku).set(item.available);
      }
      metrics.admissionRate.labels(sale.label).set(sale.share().rate);
      metrics.breakerState.labels(sale.label).set(breakerStateValue[sale.breaker.state(clock())]);
      metrics.ledgerUp.set(1);
      return true;
    } catch (error) {
      sale.synced = false;
      metrics.ledgerUp.set(0);
      this.#options.onError(sale, error);
      return false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#unsubscribe?.().catch(() => undefined);
  }
}
