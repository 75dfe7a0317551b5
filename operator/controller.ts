// The I/O edge of the operator: informer → queue → workers. A worker reads the FlashSale, the
// ledger and the published config, asks reconcile.ts what to do and does it: finalizer, preload,
// config, status (status subresource, merge patch), Events. The leader also reaps every running
// sale each second. Errors never crash the process: they become a condition, a Warning Event and
// a retry with backoff.
import {
  CoreV1Api,
  CoreV1Event,
  CustomObjectsApi,
  PatchStrategy,
  V1EventSource,
  V1ObjectMeta,
  V1ObjectReference,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import {
  withDefaults,
  type FlashSaleSpec,
  type FlashSaleStatus,
  type SaleSettings,
} from '../api/v1alpha1/index.ts';
import { reapOnce, SaleLedger, type LedgerClient, type PreloadOutcome } from '../ledger/index.ts';
import { SaleAutoscaler } from './autoscaling-apply.ts';
import type { AutoscalingOptions } from './autoscaling.ts';
import { group, plural, saleKey, SaleInformer, version, type SaleObject } from './informer.ts';
import { statusCode } from './kube.ts';
import type { OperatorMetrics } from './metrics.ts';
import { exponentialBackoff, maxOf, overallRate, systemClock, WorkQueue } from './queue.ts';
import {
  degraded,
  reconcile,
  type Plan,
  type ReconcileInput,
  type Result,
  type SaleEventRecord,
} from './reconcile.ts';

export const FINALIZER = 'flashguard.dev/ledger';
const REAP_INTERVAL_MS = 1000;

type Log = (msg: string, fields?: Record<string, unknown>) => void;

export interface ControllerOptions {
  kubeconfig: KubeConfig;
  redis: LedgerClient;
  namespaces: readonly string[] | undefined;
  workers: number;
  identity: string;
  metrics: OperatorMetrics;
  log: Log;
  autoscaling?: AutoscalingOptions;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Enqueue on what needs work; our own status writes change none of it. */
function needsWork(before: SaleObject | undefined, after: SaleObject): boolean {
  return (
    before === undefined ||
    before.metadata.generation !== after.metadata.generation ||
    before.metadata.deletionTimestamp !== after.metadata.deletionTimestamp ||
    !isDeepStrictEqual(before.metadata.finalizers, after.metadata.finalizers)
  );
}

/** Redis failed us during the ledger part of a reconcile (everything else is the apiserver). */
class LedgerUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`ledger: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'LedgerUnavailableError';
  }
}

export class SaleController {
  readonly #o: ControllerOptions;
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #informer: SaleInformer;
  readonly #queue: WorkQueue;
  readonly #autoscaler: SaleAutoscaler;
  readonly #seen = new Map<string, SaleObject>();
  /** Running sales the leader reaps: key → order-status endpoint. */
  readonly #reaped = new Map<string, SaleSettings['orderStatus']>();
  #workers: Promise<void>[] = [];
  #reaper: NodeJS.Timeout | undefined;
  #reaping = false;

  constructor(options: ControllerOptions) {
    this.#o = options;
    this.#custom = options.kubeconfig.makeApiClient(CustomObjectsApi);
    this.#core = options.kubeconfig.makeApiClient(CoreV1Api);
    this.#autoscaler = new SaleAutoscaler(
      options.kubeconfig,
      options.autoscaling ?? { prometheusUrl: undefined },
    );
    this.#queue = new WorkQueue(
      maxOf(exponentialBackoff(100, 60_000), overallRate(50, 100, systemClock)),
    );
    this.#informer = new SaleInformer({
      kubeconfig: options.kubeconfig,
      namespaces: options.namespaces,
      log: options.log,
      onEvent: (type, sale) => {
        const key = saleKey(sale);
        const before = this.#seen.get(key);
        if (type === 'DELETED') {
          this.#seen.delete(key);
          this.#reaped.delete(key);
          this.#o.metrics.forgetSale(key);
          return;
        }
        this.#seen.set(key, sale);
        if (needsWork(before, sale)) this.#queue.add(key);
      },
    });
  }

  get synced(): boolean {
    return this.#informer.synced;
  }

  start(): void {
    this.#informer.start();
    for (let i = 0; i < this.#o.workers; i++) this.#workers.push(this.#work());
    this.#reaper = setInterval(() => void this.#reapAll(), REAP_INTERVAL_MS);
  }

  /** Stops taking work and waits for the reconciles in flight. */
  async stop(): Promise<void> {
    clearInterval(this.#reaper);
    await this.#informer.stop();
    await this.#queue.shutDown();
    await Promise.all(this.#workers);
  }

  async #work(): Promise<void> {
    for (let key = await this.#queue.get(); key !== undefined; key = await this.#queue.get()) {
      const started = performance.now();
      try {
        const result = await this.#reconcileKey(key);
        this.#queue.forget(key);
        if (result.kind === 'requeue') this.#queue.addAfter(key, result.afterMs);
        this.#o.metrics.reconciled(
          result.kind === 'requeue' ? 'requeue' : 'success',
          (performance.now() - started) / 1000,
        );
      } catch (error) {
        this.#o.metrics.reconciled('error', (performance.now() - started) / 1000);
        this.#o.log('reconcile failed; retrying with backoff', {
          sale: key,
          error: String(error),
          retries: this.#queue.numRequeues(key),
        });
        // A conflict only means someone wrote first: retry, nothing to tell the user.
        if (statusCode(error) !== 409) await this.#reportFailure(key, error).catch(() => undefined);
        this.#queue.addRateLimited(key);
      } finally {
        this.#queue.done(key);
      }
    }
  }

  async #get(key: string): Promise<SaleObject | undefined> {
    const [namespace = '', name = ''] = key.split('/');
    try {
      return (await this.#custom.getNamespacedCustomObject({
        group,
        version,
        namespace,
        plural,
        name,
      })) as SaleObject;
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  /** Merge-patches metadata; `resourceVersion` makes it fail (409) on a concurrent change. */
  async #patchMetadata(
    sale: SaleObject,
    metadata: Record<string, unknown>,
    resourceVersion?: string,
  ): Promise<void> {
    const patched = (await this.#custom.patchNamespacedCustomObject(
      {
        group,
        version,
        namespace: sale.metadata.namespace,
        plural,
        name: sale.metadata.name,
        body: { metadata: { ...metadata, resourceVersion } },
      },
      mergePatch,
    )) as SaleObject;
    sale.metadata = patched.metadata;
  }

  async #patchStatus(sale: SaleObject, status: FlashSaleStatus): Promise<void> {
    await this.#custom.patchNamespacedCustomObjectStatus(
      {
        group,
        version,
        namespace: sale.metadata.namespace,
        plural,
        name: sale.metadata.name,
        body: { status },
      },
      mergePatch,
    );
  }

  async #reconcileKey(key: string): Promise<Result> {
    const sale = await this.#get(key);
    if (sale === undefined) return { kind: 'await-change' };
    const { metadata } = sale;
    const ledger = new SaleLedger(this.#o.redis, {
      namespace: metadata.namespace,
      name: metadata.name,
    });
    const finalizers = metadata.finalizers ?? [];

    if (metadata.deletionTimestamp !== undefined) {
      if (!finalizers.includes(FINALIZER)) return { kind: 'await-change' };
      const policy = (sale.spec as Partial<FlashSaleSpec>).deletionPolicy ?? 'Delete';
      if (policy === 'Delete') await ledger.destroy();
      this.#reaped.delete(key);
      this.#o.metrics.forgetSale(key);
      await this.#patchMetadata(
        sale,
        { finalizers: finalizers.filter((f) => f !== FINALIZER) },
        metadata.resourceVersion,
      );
      this.#o.log('finalized', { sale: key, deletionPolicy: policy });
      return { kind: 'await-change' };
    }
    if (!finalizers.includes(FINALIZER)) {
      await this.#patchMetadata(
        sale,
        { finalizers: [...finalizers, FINALIZER] },
        metadata.resourceVersion,
      );
    }

    let plan: Plan;
    try {
      plan = await this.#planAndApply(sale, ledger);
    } catch (error) {
      throw new LedgerUnavailableError(error);
    }
    plan = await this.#autoscaler.reconcile(sale, plan, Date.now());
    await this.#record(sale, plan);
    return plan.result;
  }

  /** Observe, plan, act; after each action observe again, so the status tells what now holds. */
  async #planAndApply(sale: SaleObject, ledger: SaleLedger): Promise<Plan> {
    const [snapshot, published] = await Promise.all([ledger.snapshot(), ledger.readConfig()]);
    let input: ReconcileInput = {
      sale,
      generation: sale.metadata.generation,
      status: sale.status as FlashSaleStatus | undefined,
      snapshot,
      published,
      now: Date.now(),
    };
    let plan = reconcile(input);
    if (plan.preload !== undefined) {
      const outcome: PreloadOutcome = await ledger.preload(plan.preload);
      input =
        outcome.kind === 'loaded' || outcome.kind === 'unchanged'
          ? { ...input, snapshot: await ledger.snapshot(), now: Date.now() }
          : { ...input, refused: outcome };
      plan = reconcile(input);
    }
    if (plan.publish !== undefined) {
      await ledger.writeConfig(plan.publish);
      plan = reconcile({ ...input, published: plan.publish, now: Date.now() });
    }
    if (plan.announceEnded) await ledger.publish({ type: 'ended' });
    const key = saleKey(sale);
    if (input.snapshot !== undefined) this.#o.metrics.units(key, input.snapshot);
    const phase = plan.status.phase;
    if (phase === 'Active' || phase === 'SoldOut' || phase === 'Ended') {
      this.#reaped.set(key, withDefaults(sale.spec as FlashSaleSpec).orderStatus);
    } else {
      this.#reaped.delete(key);
    }
    return plan;
  }

  /** Writes what the plan says about the FlashSale itself: status (ledger marker included), Events. */
  async #record(sale: SaleObject, plan: Plan): Promise<void> {
    if (!isDeepStrictEqual(sale.status, plan.status)) await this.#patchStatus(sale, plan.status);
    await this.#emit(sale, plan.events);
  }

  async #emit(sale: SaleObject, events: readonly SaleEventRecord[]): Promise<void> {
    const { namespace, name, uid, resourceVersion } = sale.metadata;
    for (const { type, reason, message } of events) {
      const now = new Date();
      const body = Object.assign(new CoreV1Event(), {
        metadata: Object.assign(new V1ObjectMeta(), { generateName: `${name}.`, namespace }),
        involvedObject: Object.assign(new V1ObjectReference(), {
          apiVersion: sale.apiVersion,
          kind: sale.kind,
          name,
          namespace,
          uid,
          resourceVersion,
        }),
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: Object.assign(new V1EventSource(), { component: 'flashguard-operator' }),
        reportingComponent: 'flashguard.dev/operator',
        reportingInstance: this.#o.identity,
      });
      try {
        await this.#core.createNamespacedEvent({ namespace, body });
      } catch (error) {
        // An Event is informative: losing one must not fail the reconcile.
        this.#o.log('could not record an Event', { reason, error: String(error) });
      }
    }
  }

  /** The failure as a condition and a Warning, best effort (the apiserver may be the cause). */
  async #reportFailure(key: string, error: unknown): Promise<void> {
    const sale = this.#seen.get(key) ?? (await this.#get(key));
    if (sale === undefined) return;
    const reason = error instanceof LedgerUnavailableError ? 'LedgerUnavailable' : 'ApiServerError';
    const { status, events } = degraded(
      sale.status as FlashSaleStatus | undefined,
      sale.metadata.generation,
      reason,
      error instanceof Error ? error.message : String(error),
      Date.now(),
    );
    await this.#patchStatus(sale, status);
    await this.#emit(sale, events);
  }

  async #reapAll(): Promise<void> {
    // A slow shop can stretch a round past the interval: never run two at once.
    if (this.#reaping) return;
    this.#reaping = true;
    await Promise.all(
      [...this.#reaped].map(async ([key, orderStatus]) => {
        const [namespace = '', name = ''] = key.split('/');
        try {
          const report = await reapOnce(
            new SaleLedger(this.#o.redis, { namespace, name }),
            orderStatus,
          );
          if (report.expired + report.confirmed + report.released > 0) {
            this.#o.log('reaped', { sale: key, ...report });
          }
        } catch (error) {
          this.#o.log('reap failed', { sale: key, error: String(error) });
        }
      }),
    );
    this.#reaping = false;
  }
}
