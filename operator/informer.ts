// List+watch of FlashSales that never gives up: client-node's informer stopped for good on
// non-410 errors (1.x) and 2.0.x aborts a watch after 30 s without bytes, so this one owns the
// loop. Any error re-lists after a jittered backoff; a watch silent for longer than `silentMs`
// (no event, no bookmark) is presumed dead and restarted; the server ends healthy watches before
// that (timeoutSeconds), and they resume from the last resourceVersion without a re-list.
import { CustomObjectsApi, Watch, type KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';

export const group = 'flashguard.dev';
export const version = 'v1alpha1';
export const plural = 'flashsales';

export interface SaleObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation: number;
    resourceVersion: string;
    creationTimestamp: string;
    deletionTimestamp?: string;
    finalizers?: string[];
  };
  spec: unknown;
  status?: unknown;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface InformerOptions {
  kubeconfig: KubeConfig;
  /** undefined: every namespace. */
  namespaces: readonly string[] | undefined;
  onEvent: (type: WatchEventType, sale: SaleObject) => void;
  log: (msg: string, fields?: Record<string, unknown>) => void;
  silentMs?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Full jitter (AWS): uniform in [0, min(cap, base × 2^attempt)], never less than base. */
export function jitteredBackoff(attempt: number, baseMs: number, capMs: number): number {
  return Math.max(baseMs, Math.random() * Math.min(capMs, baseMs * 2 ** attempt));
}

export function saleKey(sale: { metadata: { namespace: string; name: string } }): string {
  return `${sale.metadata.namespace}/${sale.metadata.name}`;
}

/**
 * The object with only the metadata the operator reads. managedFields and kubectl's
 * last-applied annotation outweigh the spec and are never read (client-go informers drop them
 * with a TransformFunc too); with 1,000 sales cached they were most of the cache.
 */
export function slim(sale: SaleObject): SaleObject {
  const { name, namespace, uid, generation, resourceVersion, creationTimestamp } = sale.metadata;
  const { deletionTimestamp, finalizers } = sale.metadata;
  return {
    ...sale,
    metadata: {
      name,
      namespace,
      uid,
      generation,
      resourceVersion,
      creationTimestamp,
      ...(deletionTimestamp === undefined ? {} : { deletionTimestamp }),
      ...(finalizers === undefined ? {} : { finalizers }),
    },
  };
}

/** Under client-node's 30 s inactivity abort, so a quiet but healthy watch ends cleanly. */
const SERVER_TIMEOUT_S = 25;

interface Gone {
  gone: true;
}

export class SaleInformer {
  readonly #options: Required<InformerOptions>;
  readonly #api: CustomObjectsApi;
  readonly #stop = new AbortController();
  readonly #loops: Promise<void>[] = [];
  #synced = 0;

  constructor(options: InformerOptions) {
    this.#options = { silentMs: 30_000, minBackoffMs: 200, maxBackoffMs: 30_000, ...options };
    this.#api = options.kubeconfig.makeApiClient(CustomObjectsApi);
  }

  /** True once every namespace watched has been listed at least once. */
  get synced(): boolean {
    return this.#synced === (this.#options.namespaces ?? [undefined]).length;
  }

  start(): void {
    for (const namespace of this.#options.namespaces ?? [undefined]) {
      this.#loops.push(this.#run(namespace));
    }
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.all(this.#loops);
  }

  async #run(namespace: string | undefined): Promise<void> {
    const { log, minBackoffMs, maxBackoffMs } = this.#options;
    const known = new Map<string, SaleObject>();
    let firstList = true;
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      try {
        let resourceVersion = await this.#list(namespace, known);
        if (this.#stopped()) return;
        if (firstList) {
          firstList = false;
          this.#synced += 1;
        }
        failures = 0;
        for (;;) {
          const next = await this.#watch(namespace, resourceVersion, known);
          if (typeof next !== 'string') break; // 410 Gone: re-list
          resourceVersion = next;
          if (this.#stopped()) return;
        }
      } catch (error) {
        if (this.#stopped()) return;
        const delay = jitteredBackoff(failures++, minBackoffMs, maxBackoffMs);
        log('watch failed; re-listing', {
          namespace: namespace ?? '*',
          error: String(error),
          retryInMs: Math.round(delay),
        });
        await sleep(delay, undefined, { signal: this.#stop.signal }).catch(() => undefined);
      }
    }
  }

  #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  #path(namespace: string | undefined): string {
    return namespace === undefined
      ? `/apis/${group}/${version}/${plural}`
      : `/apis/${group}/${version}/namespaces/${namespace}/${plural}`;
  }

  /** Lists, emits what changed since `known` (deletions included), returns the list's version. */
  async #list(namespace: string | undefined, known: Map<string, SaleObject>): Promise<string> {
    const list = (await (namespace === undefined
      ? this.#api.listClusterCustomObject({ group, version, plural })
      : this.#api.listNamespacedCustomObject({ group, version, namespace, plural }))) as {
      items: SaleObject[];
      metadata: { resourceVersion: string };
    };
    const seen = new Set<string>();
    for (const item of list.items) {
      const sale = slim(item);
      const key = saleKey(sale);
      seen.add(key);
      const before = known.get(key);
      known.set(key, sale);
      if (before?.metadata.resourceVersion !== sale.metadata.resourceVersion) {
        this.#options.onEvent(before === undefined ? 'ADDED' : 'MODIFIED', sale);
      }
    }
    for (const [key, sale] of known) {
      if (!seen.has(key)) {
        known.delete(key);
        this.#options.onEvent('DELETED', sale);
      }
    }
    return list.metadata.resourceVersion;
  }

  /**
   * One watch from `resourceVersion`: resolves with the version to resume from when the server
   * ended it, `{ gone: true }` on 410, and rejects on any other error or on silence.
   */
  async #watch(
    namespace: string | undefined,
    resourceVersion: string,
    known: Map<string, SaleObject>,
  ): Promise<string | Gone> {
    const { silentMs, onEvent } = this.#options;
    // client-node 2.0.x also aborts a watch after 30 s without a byte: one more restart cause.
    const watch = new Watch(this.#options.kubeconfig);
    let latest = resourceVersion;
    let settled = false;
    let abort: (() => void) | undefined;
    const ended = new Promise<string | Gone>((resolve, reject) => {
      let watchdog: NodeJS.Timeout | undefined;
      const settle = (outcome: string | Gone | Error): void => {
        settled = true;
        clearTimeout(watchdog);
        this.#stop.signal.removeEventListener('abort', onStop);
        abort?.();
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const onStop = (): void => {
        settle(latest);
      };
      const feed = (): void => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          settle(new Error(`watch silent for ${silentMs} ms`));
        }, silentMs);
      };
      this.#stop.signal.addEventListener('abort', onStop);
      feed();
      void watch
        .watch(
          this.#path(namespace),
          {
            resourceVersion,
            allowWatchBookmarks: true,
            // The server ends a healthy watch before any watchdog would (then we resume).
            timeoutSeconds: Math.floor(SERVER_TIMEOUT_S * (0.75 + Math.random() * 0.25)),
          },
          (type: string, object: unknown) => {
            feed();
            if (type === 'ERROR') {
              const status = object as { code?: number; message?: string };
              settle(
                status.code === 410
                  ? { gone: true }
                  : new Error(`watch error ${String(status.code)}: ${String(status.message)}`),
              );
              return;
            }
            const sale = slim(object as SaleObject);
            latest = sale.metadata.resourceVersion;
            if (type === 'BOOKMARK') return;
            const key = saleKey(sale);
            if (type === 'DELETED') known.delete(key);
            else known.set(key, sale);
            onEvent(type as WatchEventType, sale);
          },
          (error: unknown) => {
            settle(error instanceof Error ? error : latest);
          },
        )
        .then((controller) => {
          abort = () => {
            controller.abort();
          };
          // Settled while still connecting (silence, stop): drop the connection now.
          if (settled) abort();
        });
    });
    return ended;
  }
}
