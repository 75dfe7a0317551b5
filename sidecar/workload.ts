// Workload mode (contract C3): the sidecar guards every sale the operator indexes for its
// workload, with the config the operator published. Each poll reads the index; a sale added is
// guarded once its config is in Redis, a sale removed is dropped; within a stable set SaleSync
// follows config changes (events and polls). The operator preloads and reaps, never the sidecar.
import { withDefaults, type SaleSettings } from '../api/v1alpha1/index.ts';
import { indexedSales, SaleLedger, type LedgerClient, type WorkloadRef } from '../ledger/index.ts';
import { GuardedSale, SaleSync, sameShape, type SyncOptions } from './sales.ts';

/** A published config has every field of this (null sections: any object or null). */
const SHAPE: SaleSettings = withDefaults({
  window: { start: '2000-01-01T00:00:00Z', end: '2000-01-01T00:00:01Z' },
  items: [{ sku: 'shape', stock: 1 }],
  limits: { admissionRate: 1, burst: 1 },
});

/** The published config of a sale, if it is one for this workload. */
function configFor(published: unknown, workload: WorkloadRef): SaleSettings | undefined {
  if (published === undefined || !sameShape(SHAPE, published)) return undefined;
  const settings = published as SaleSettings;
  const guarded = settings.workload;
  // A stale index entry (the sale now guards another workload) is not ours.
  return guarded?.kind === workload.kind && guarded.name === workload.name ? settings : undefined;
}

export interface WorkloadOptions extends SyncOptions {
  onChange: (added: readonly GuardedSale[], removed: readonly string[]) => void;
  /** The index could not be read (Redis away): the sidecar stops being ready. */
  onIndexError: (error: unknown) => void;
}

export class WorkloadSales {
  readonly #workload: WorkloadRef;
  readonly #client: LedgerClient;
  readonly #subscriber: LedgerClient;
  readonly #options: WorkloadOptions;
  #sync: SaleSync;
  #timer: NodeJS.Timeout | undefined;
  #lastIndexOkMs = 0;
  #polling: Promise<void> = Promise.resolve();

  constructor(
    workload: WorkloadRef,
    client: LedgerClient,
    subscriber: LedgerClient,
    options: WorkloadOptions,
  ) {
    this.#workload = workload;
    this.#client = client;
    this.#subscriber = subscriber;
    this.#options = options;
    this.#sync = new SaleSync([], subscriber, options);
  }

  get sales(): readonly GuardedSale[] {
    return this.#sync.sales;
  }

  /** Ready: the index was read within three polls and every sale's config and ledger are in. */
  ready(): boolean {
    const fresh = this.#options.clock() - this.#lastIndexOkMs < this.#options.pollMs * 3;
    // No sale (yet): nothing to sync, everything passes through.
    return fresh && (this.#sync.sales.length === 0 || this.#sync.ready());
  }

  async start(): Promise<void> {
    await this.#poll();
    this.#timer = setInterval(() => {
      this.#polling = this.#polling.then(() => this.#poll());
    }, this.#options.pollMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#polling;
    await this.#sync.stop();
  }

  async #poll(): Promise<void> {
    try {
      await this.#refresh();
    } catch (error) {
      this.#options.onIndexError(error);
    }
  }

  async #refresh(): Promise<void> {
    const { namespace } = this.#workload;
    const names = await indexedSales(this.#client, this.#workload);
    const current = new Map(this.#sync.sales.map((s) => [s.ref.name, s]));
    const wanted: GuardedSale[] = [];
    for (const name of names) {
      const known = current.get(name);
      if (known !== undefined) {
        wanted.push(known);
        continue;
      }
      const ref = { namespace, name };
      const settings = configFor(
        await new SaleLedger(this.#client, ref).readConfig(),
        this.#workload,
      );
      if (settings !== undefined) {
        wanted.push(new GuardedSale(ref, settings, this.#client, this.#options.clock()));
      }
    }
    this.#lastIndexOkMs = this.#options.clock();
    const added = wanted.filter((s) => !current.has(s.ref.name));
    const removed = [...current.keys()].filter((name) => !wanted.some((s) => s.ref.name === name));
    if (added.length === 0 && removed.length === 0) return;
    // A new set: resubscribe to exactly its channels and poll it at once.
    await this.#sync.stop();
    this.#sync = new SaleSync(wanted, this.#subscriber, this.#options);
    // An empty set has no channel to subscribe to (SUBSCRIBE needs one) and nothing to poll.
    if (wanted.length > 0) await this.#sync.start();
    this.#options.onChange(added, removed);
  }
}
