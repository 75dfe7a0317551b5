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
  V1Secret,
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
import type { Redis } from 'ioredis';
import {
  indexSale,
  reapOnce,
  SaleLedger,
  unindexSale,
  type PreloadOutcome,
  type WorkloadRef,
} from '../ledger/index.ts';
import {
  guardingSales,
  MANAGED_BY,
  NAMESPACE_SECRET,
  namespaceSecretData,
  redisConflictMessage,
  sameRedis,
} from './namespace-redis.ts';
import {
  group,
  plural,
  saleKey,
  SaleInformer,
  slim,
  version,
  type SaleObject,
} from './informer.ts';
import { SaleAutoscaler } from './autoscaling-apply.ts';
import type { AutoscalingOptions } from './autoscaling.ts';
import { statusCode } from './kube.ts';
import type { OperatorMetrics } from './metrics.ts';
import {
  claimOf,
  claimsBeside,
  collisionMessage,
  earlierCollision,
  workloadName,
} from './overlap.ts';
import { RedisPool } from './redis-pool.ts';
import {
  redisSource,
  secretNotFound,
  targetFromSecret,
  type DefaultRedis,
  type RedisTarget,
  type SecretSource,
} from './redis-target.ts';
import { exponentialBackoff, maxOf, overallRate, systemClock, WorkQueue } from './queue.ts';
import {
  atMost,
  degraded,
  reconcile,
  specSettings,
  type Plan,
  type ReconcileInput,
  type Result,
  type SaleEventRecord,
} from './reconcile.ts';

export const FINALIZER = 'flashguard.dev/ledger';
const REAP_INTERVAL_MS = 1000;
/** A sale whose Redis comes from a Secret reads it again at least this often. */
export const SECRET_RESYNC_MS = 60_000;

type Log = (msg: string, fields?: Record<string, unknown>) => void;

export interface ControllerOptions {
  kubeconfig: KubeConfig;
  /** The Redis of sales without spec.redis. */
  defaultRedis: DefaultRedis;
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

/**
 * A failure the user can act on, reported as the Ready condition's reason (and a Warning) and
 * retried with backoff: Redis unreachable, its Secret missing or wrong. Anything else thrown
 * by a reconcile is the apiserver's (ApiServerError).
 */
class SaleError extends Error {
  readonly reason: string;
  constructor(reason: string, message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'SaleError';
    this.reason = reason;
  }
}

function ledgerUnavailable(cause: unknown): SaleError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new SaleError('LedgerUnavailable', `ledger: ${detail}`, cause);
}

interface Reaped {
  ledger: SaleLedger;
  orderStatus: SaleSettings['orderStatus'];
}

export class SaleController {
  readonly #o: ControllerOptions;
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #informer: SaleInformer;
  readonly #queue: WorkQueue;
  readonly #autoscaler: SaleAutoscaler;
  readonly #seen = new Map<string, SaleObject>();
  /** Running sales the leader reaps. */
  readonly #reaped = new Map<string, Reaped>();
  readonly #pool: RedisPool;
  /** Sale key → the workload index it is in, and on which connection. */
  readonly #indexed = new Map<string, { workload: WorkloadRef; client: Redis }>();
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
    this.#pool = new RedisPool(options.log);
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
          this.#pool.release(key);
          this.#indexed.delete(key);
          this.#o.metrics.forgetSale(key);
          this.#wakeNeighbours(sale);
          return;
        }
        this.#seen.set(key, sale);
        if (needsWork(before, sale)) this.#queue.add(key);
      },
    });
  }

  /** Sales that may have waited for `gone` (same workload) look again now, not after backoff. */
  #wakeNeighbours(gone: SaleObject): void {
    const workload = workloadName(gone);
    if (workload === undefined) return;
    for (const [key, other] of this.#seen) {
      if (
        other.metadata.namespace === gone.metadata.namespace &&
        workloadName(other) === workload
      ) {
        this.#queue.add(key);
      }
    }
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
    this.#pool.close();
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

  /**
   * Merge-patches metadata; `resourceVersion` makes it fail (409) on a concurrent change. The
   * patched object goes into the cache at once, so the watch event it causes needs no work.
   */
  async #patchMetadata(
    sale: SaleObject,
    metadata: Record<string, unknown>,
    resourceVersion?: string,
  ): Promise<SaleObject> {
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
    this.#cache(sale, patched);
    return slim(patched);
  }

  /**
   * Puts what a write returned into the cache, unless the informer has since seen the object
   * change (a newer version, or deleted): the cache never goes back in time.
   */
  #cache(written: SaleObject, returned: SaleObject): void {
    const key = saleKey(written);
    if (this.#seen.get(key)?.metadata.resourceVersion === written.metadata.resourceVersion) {
      this.#seen.set(key, slim(returned));
    }
  }

  async #patchStatus(sale: SaleObject, status: FlashSaleStatus): Promise<void> {
    const patched = (await this.#custom.patchNamespacedCustomObjectStatus(
      {
        group,
        version,
        namespace: sale.metadata.namespace,
        plural,
        name: sale.metadata.name,
        body: { status },
      },
      mergePatch,
    )) as SaleObject;
    this.#cache(sale, patched);
  }

  async #reconcileKey(key: string): Promise<Result> {
    // The informer's cache, not a GET: a stale copy only costs a 409 on the metadata patch (which
    // carries the resourceVersion) or a status written one watch event late, fixed next pass.
    let sale = this.#seen.get(key);
    if (sale === undefined) return { kind: 'await-change' };
    const { metadata } = sale;
    const finalizers = metadata.finalizers ?? [];
    const settings = specSettings(sale);

    if (metadata.deletionTimestamp !== undefined) {
      if (!finalizers.includes(FINALIZER)) return { kind: 'await-change' };
      const policy = (sale.spec as Partial<FlashSaleSpec>).deletionPolicy ?? 'Delete';
      const ledger = await this.#ledgerForCleanup(sale, settings);
      const guarded = this.#indexed.has(key) || workloadName(sale) !== undefined;
      try {
        if (policy === 'Delete') await ledger?.destroy();
        await this.#indexWorkload(sale, undefined);
      } catch (error) {
        throw ledgerUnavailable(error);
      }
      if (guarded) await this.#releaseNamespaceRedis(sale);
      this.#reaped.delete(key);
      this.#pool.release(key);
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
      sale = await this.#patchMetadata(
        sale,
        { finalizers: [...finalizers, FINALIZER] },
        metadata.resourceVersion,
      );
    }

    if (settings !== undefined) this.#refuseCollision(sale, settings);
    // An invalid spec is failed by reconcile without any Redis (which it may not even name).
    const redis = settings === undefined ? undefined : await this.#ledgerFor(sale, settings);
    if (redis !== undefined && settings?.workload != null) {
      await this.#claimNamespaceRedis(sale, redis.target);
    }
    // Known only to this replica's memory: a restart forgets that a sale used to guard one.
    const guardedBefore = this.#indexed.has(key);
    let plan: Plan;
    try {
      plan = await this.#planAndApply(sale, redis?.ledger);
      if (redis !== undefined) await this.#indexWorkload(sale, settings?.workload ?? null);
    } catch (error) {
      throw ledgerUnavailable(error);
    }
    if (guardedBefore && settings?.workload === null) await this.#releaseNamespaceRedis(sale);
    plan = await this.#autoscaler.reconcile(sale, plan, Date.now());
    await this.#record(sale, plan);
    return redis?.fromSecret === true ? atMost(plan.result, SECRET_RESYNC_MS) : plan.result;
  }

  /** A sale that collides with an earlier one on its workload waits (SaleOverlap), retried. */
  #refuseCollision(sale: SaleObject, settings: SaleSettings): void {
    const mine = claimOf(sale, settings);
    if (mine === undefined) return;
    const earlier = earlierCollision(mine, claimsBeside(mine, this.#seen.values(), specSettings));
    if (earlier !== undefined) throw new SaleError('SaleOverlap', collisionMessage(mine, earlier));
  }

  /**
   * Keeps the sale in the index of the workload it guards (C3), on its Redis, and out of the one
   * it guarded before; `workload` undefined: the sale is going.
   */
  async #indexWorkload(
    sale: SaleObject,
    workload: SaleSettings['workload'] | undefined,
  ): Promise<void> {
    const key = saleKey(sale);
    const { namespace, name } = sale.metadata;
    const client = this.#pool.current(key);
    const wanted = workload == null ? undefined : { namespace, ...workload };
    const before = this.#indexed.get(key);
    if (
      before !== undefined &&
      (before.client !== client || !isDeepStrictEqual(before.workload, wanted))
    ) {
      await unindexSale(before.client, before.workload, name);
      this.#indexed.delete(key);
    }
    if (client === undefined) return;
    if (wanted !== undefined) {
      await indexSale(client, wanted, name);
      this.#indexed.set(key, { workload: wanted, client });
    } else if (workload === undefined && before === undefined) {
      // Going, and this replica never indexed it (a restart): remove what the spec names.
      const named = specSettings(sale)?.workload;
      if (named != null) await unindexSale(client, { namespace, ...named }, name);
    }
  }

  /**
   * The namespace's `flashguard-redis` Secret (C2) holds the Redis of its earliest sale guarding a
   * workload; a sale on another Redis waits (RedisConflict), since a sidecar reaches only one.
   */
  async #claimNamespaceRedis(sale: SaleObject, mine: RedisTarget): Promise<void> {
    const { namespace } = sale.metadata;
    const [owner] = guardingSales(namespace, this.#seen.values(), specSettings);
    let theirs = mine;
    if (owner !== undefined && saleKey(owner.sale) !== saleKey(sale)) {
      const ownerSettings = specSettings(owner.sale);
      // An owner whose own Redis cannot be resolved has its own condition; do not block on it.
      theirs =
        ownerSettings === undefined
          ? mine
          : await this.#ledgerFor(owner.sale, ownerSettings).then(
              (r) => r.target,
              () => mine,
            );
      if (!sameRedis(theirs, mine)) {
        throw new SaleError(
          'RedisConflict',
          redisConflictMessage(namespace, owner.sale.metadata.name, theirs, mine),
        );
      }
    }
    const data = namespaceSecretData(theirs);
    const secret = (resourceVersion?: string): V1Secret =>
      Object.assign(new V1Secret(), {
        metadata: Object.assign(new V1ObjectMeta(), {
          name: NAMESPACE_SECRET,
          namespace,
          labels: MANAGED_BY,
          resourceVersion,
        }),
        stringData: data,
      });
    let existing: V1Secret;
    try {
      existing = await this.#core.readNamespacedSecret({ namespace, name: NAMESPACE_SECRET });
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
      await this.#core.createNamespacedSecret({ namespace, body: secret() });
      return;
    }
    const held = Object.fromEntries(
      Object.entries(existing.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
    );
    if (!isDeepStrictEqual(held, data)) {
      await this.#core.replaceNamespacedSecret({
        namespace,
        name: NAMESPACE_SECRET,
        body: secret(existing.metadata?.resourceVersion),
      });
    }
  }

  /** Deletes the namespace's `flashguard-redis` once no sale there guards a workload. */
  async #releaseNamespaceRedis(sale: SaleObject): Promise<void> {
    const { namespace } = sale.metadata;
    const others = guardingSales(namespace, this.#seen.values(), specSettings).filter(
      (g) => saleKey(g.sale) !== saleKey(sale),
    );
    if (others.length > 0) return;
    try {
      await this.#core.deleteNamespacedSecret({ namespace, name: NAMESPACE_SECRET });
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
    }
  }

  /** The sale's ledger in the Redis its spec names (or the default); SaleError when it cannot. */
  async #ledgerFor(
    sale: SaleObject,
    settings: SaleSettings,
  ): Promise<{ ledger: SaleLedger; target: RedisTarget; fromSecret: boolean }> {
    const { namespace, name } = sale.metadata;
    const source = redisSource(namespace, settings.redis, this.#o.defaultRedis);
    const target: RedisTarget =
      source.kind === 'url' ? { url: source.url, ca: undefined } : await this.#readTarget(source);
    let client;
    try {
      client = await this.#pool.acquire(saleKey(sale), target);
    } catch (error) {
      throw ledgerUnavailable(error);
    }
    return {
      ledger: new SaleLedger(client, { namespace, name }),
      target,
      fromSecret: source.kind === 'secret',
    };
  }

  /**
   * For the finalizer: the sale's ledger even when its Secret is gone (a namespace being deleted
   * may take the Secret first): the connection it last used, or none if it never loaded one.
   */
  async #ledgerForCleanup(
    sale: SaleObject,
    settings: SaleSettings | undefined,
  ): Promise<SaleLedger | undefined> {
    const ref = { namespace: sale.metadata.namespace, name: sale.metadata.name };
    const last = this.#pool.current(saleKey(sale));
    try {
      if (settings === undefined) throw new SaleError('InvalidSpec', 'the spec is invalid');
      return (await this.#ledgerFor(sale, settings)).ledger;
    } catch (error) {
      if (!(error instanceof SaleError) || error.reason === 'LedgerUnavailable') throw error;
      if (last !== undefined) return new SaleLedger(last, ref);
      if ((sale.status as FlashSaleStatus | undefined)?.ledger === undefined) return undefined;
      throw error;
    }
  }

  async #readTarget(source: SecretSource): Promise<RedisTarget> {
    let data: Record<string, string> | undefined;
    try {
      ({ data } = await this.#core.readNamespacedSecret({
        namespace: source.namespace,
        name: source.name,
      }));
    } catch (error) {
      if (statusCode(error) !== 404) throw error;
      const { reason, message } = secretNotFound(source);
      throw new SaleError(reason, message);
    }
    const resolved = targetFromSecret(source, data);
    if (!resolved.ok) throw new SaleError(resolved.problem.reason, resolved.problem.message);
    return resolved.target;
  }

  /** Observe, plan, act; after each action observe again, so the status tells what now holds. */
  async #planAndApply(sale: SaleObject, ledger: SaleLedger | undefined): Promise<Plan> {
    const [snapshot, published] = await Promise.all([ledger?.snapshot(), ledger?.readConfig()]);
    let input: ReconcileInput = {
      sale,
      generation: sale.metadata.generation,
      status: sale.status as FlashSaleStatus | undefined,
      snapshot,
      published,
      now: Date.now(),
    };
    let plan = reconcile(input);
    const key = saleKey(sale);
    if (ledger === undefined) {
      this.#reaped.delete(key);
      return plan;
    }
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
    if (plan.halt !== undefined) await ledger.halt(plan.halt);
    if (input.snapshot !== undefined) this.#o.metrics.units(key, input.snapshot);
    const phase = plan.status.phase;
    if (phase === 'Active' || phase === 'SoldOut' || phase === 'Ended') {
      this.#reaped.set(key, {
        ledger,
        orderStatus: withDefaults(sale.spec as FlashSaleSpec).orderStatus,
      });
    } else {
      this.#reaped.delete(key);
    }
    return plan;
  }

  /** Writes what the plan says about the FlashSale itself: status (ledger marker included), Events. */
  async #record(sale: SaleObject, plan: Plan): Promise<void> {
    // Independent writes: one round trip for all of them instead of one after the other.
    await Promise.all([
      isDeepStrictEqual(sale.status, plan.status)
        ? undefined
        : this.#patchStatus(sale, plan.status),
      this.#emit(sale, plan.events),
    ]);
  }

  async #emit(sale: SaleObject, events: readonly SaleEventRecord[]): Promise<void> {
    const { namespace, name, uid, resourceVersion } = sale.metadata;
    await Promise.all(
      events.map(async ({ type, reason, message }) => {
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
      }),
    );
  }

  /** The failure as a condition and a Warning, best effort (the apiserver may be the cause). */
  async #reportFailure(key: string, error: unknown): Promise<void> {
    const sale = this.#seen.get(key);
    if (sale === undefined) return;
    const reason = error instanceof SaleError ? error.reason : 'ApiServerError';
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
      [...this.#reaped].map(async ([key, { ledger, orderStatus }]) => {
        try {
          const report = await reapOnce(ledger, orderStatus);
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
