// The operator on the real test bed: apply-to-Ready latency (Ready checked in the ledger too),
// beside a ConfigMap create-to-watch round trip on the same apiserver with the same client
// (client-node create, client-node Watch event); then 1,000 sales converging, and peak RSS.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  V1ConfigMap,
  V1ObjectMeta,
  Watch,
} from '@kubernetes/client-node';
import { SaleLedger } from '../ledger/index.ts';
import { connectRedis } from '../sidecar/redis.ts';
import { startControlPlane, type ControlPlane } from '../e2e/controlplane/controlplane.ts';
import { startOperator } from '../e2e/support/operator.ts';
import { startRedis, type RedisServer } from '../e2e/support/redis.ts';
import { waitFor, type ManagedProcess } from '../e2e/support/process.ts';

const root = join(import.meta.dirname, '..');
const NS = 'default';
const GROUP = 'flashguard.dev';
const VERSION = 'v1alpha1';
const CONCURRENCY = 32;

interface Watched {
  metadata: { name: string; generation?: number; resourceVersion?: string };
  status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
}

/**
 * A Watch on a collection; `until(name)` resolves when an event for `name` passes `done`. A watch
 * the client or the server ends (client-node aborts after 30 s without a byte) resumes from the
 * last resourceVersion seen, so a slow phase of the run loses no event.
 */
async function watchCollection(kc: KubeConfig, path: string, done: (o: Watched) => boolean) {
  const waiters = new Map<string, () => void>();
  const seen = new Set<string>();
  let resourceVersion: string | undefined;
  let stopped = false;
  let controller: AbortController;
  const start = async (): Promise<void> => {
    controller = await new Watch(kc).watch(
      path,
      resourceVersion === undefined ? {} : { resourceVersion },
      (type: string, object: Watched) => {
        resourceVersion = object.metadata.resourceVersion;
        if (type === 'BOOKMARK' || type === 'DELETED' || !done(object)) return;
        const name = object.metadata.name;
        seen.add(name);
        waiters.get(name)?.();
      },
      () => {
        if (!stopped) void start();
      },
    );
  };
  await start();
  return {
    until: (name: string) =>
      new Promise<void>((resolve) => {
        if (seen.has(name)) resolve();
        else waiters.set(name, resolve);
      }),
    stop: () => {
      stopped = true;
      controller.abort();
    },
  };
}

const isReady = (o: Watched): boolean =>
  o.status?.observedGeneration === o.metadata.generation &&
  o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;

/** A sale from the template: window an hour ahead (Scheduled, quiet), 1–3 SKUs, small stock. */
function flashSale(name: string, index: number) {
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
  const start = Date.now() + 3_600_000;
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'FlashSale',
    metadata: { name, namespace: NS },
    spec: {
      window: { start: iso(start), end: iso(start + 3_600_000) },
      items: Array.from({ length: (index % 3) + 1 }, (_, i) => ({
        sku: `${name}-sku-${String(i)}`,
        stock: 10 + i,
        perUserLimit: 2,
      })),
      limits: { admissionRate: 500, burst: 50 },
      deletionPolicy: 'Delete',
    },
  };
}

/** Polls the ledger (5 ms) until it holds exactly the template's stock at generation 1. */
async function ledgerHolds(client: ReturnType<typeof connectRedis>, name: string, index: number) {
  const want = flashSale(name, index).spec.items;
  await waitFor(
    `ledger of ${name}`,
    async () => {
      const s = await new SaleLedger(client, { namespace: NS, name }).snapshot();
      const ok =
        s?.generation === 1 &&
        s.items.length === want.length &&
        want.every((w) => s.items.find((i) => i.sku === w.sku)?.total === w.stock);
      return ok ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 5 },
  );
}

async function startLeadingOperator(
  cp: ControlPlane,
  redis: RedisServer,
): Promise<{ proc: ManagedProcess; opsUrl: string }> {
  // FLASHGUARD_BENCH_CPU_PROF=<dir> profiles the operator (written when it exits on SIGTERM);
  // FLASHGUARD_BENCH_HEAP_SNAPSHOT=<dir> writes a heap snapshot once the 1,000 have converged.
  const profDir = process.env.FLASHGUARD_BENCH_CPU_PROF;
  const heapDir = process.env.FLASHGUARD_BENCH_HEAP_SNAPSHOT;
  const { process: proc, opsUrl } = await startOperator({
    kubeconfig: cp.kubeconfig,
    redisUrl: redis.url,
    identity: 'bench',
    logDir: join(cp.dir, 'logs'),
    nodeArgs: [
      ...(profDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profDir]),
      ...(heapDir === undefined
        ? []
        : ['--heapsnapshot-signal=SIGUSR2', '--diagnostic-dir', heapDir]),
    ],
  });
  // Ready answers for a standby too: wait until it leads, so no time goes to the election.
  await waitFor(
    'operator to lead',
    async () => {
      const text = await (await fetch(`${opsUrl}/metrics`)).text();
      return /^flashguard_operator_leader 1$/m.test(text) ? true : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  return { proc, opsUrl };
}

/** The operator's own view of its memory (prom-client's default metrics), in MB. */
async function heapFigures(opsUrl: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${opsUrl}/metrics`)).text();
  const mb = (name: string) =>
    Math.round(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]) / 104857.6) / 10;
  return {
    operator_heap_used_mb: mb('nodejs_heap_size_used_bytes'),
    operator_external_mb: mb('nodejs_external_memory_bytes'),
  };
}

/** Runs `task` over `count` indexes with at most CONCURRENCY in flight. */
async function pooled(count: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

const vmKb = (pid: number, field: string): number =>
  Number(
    new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
      readFileSync(`/proc/${String(pid)}/status`, 'utf8'),
    )?.[1],
  );

const ms1 = (n: number) => Math.round(n * 10) / 10;

export async function operatorBenchmark({
  quick,
}: {
  quick: boolean;
}): Promise<Record<string, unknown>> {
  const samples = quick ? 20 : 100;
  const many = quick ? 100 : 1000;
  const [cp, redis] = await Promise.all([startControlPlane(), startRedis()]);
  const client = connectRedis(redis.url);
  let operator: ManagedProcess | undefined;
  const watches: { stop: () => void }[] = [];
  try {
    await cp.kubectl(['apply', '-f', join(root, 'crds', 'flashguard.dev_flashsales.yaml')]);
    await cp.kubectl(['wait', '--for=condition=Established', 'crd/flashsales.flashguard.dev']);
    const started = await startLeadingOperator(cp, redis);
    operator = started.proc;
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    const cmWatch = await watchCollection(kc, `/api/v1/namespaces/${NS}/configmaps`, () => true);
    const fsWatch = await watchCollection(
      kc,
      `/apis/${GROUP}/${VERSION}/namespaces/${NS}/flashsales`,
      isReady,
    );
    watches.push(cmWatch, fsWatch);

    const configMapRoundTrip = async (name: string): Promise<number> => {
      const body = Object.assign(new V1ConfigMap(), {
        metadata: Object.assign(new V1ObjectMeta(), { name }),
        data: { stock: '10' },
      });
      const t0 = performance.now();
      const seen = cmWatch.until(name);
      await core.createNamespacedConfigMap({
        namespace: NS,
        body,
      });
      await seen;
      return performance.now() - t0;
    };
    const saleToReady = async (name: string, index: number): Promise<number> => {
      const t0 = performance.now();
      const ready = fsWatch.until(name);
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: NS,
        plural: 'flashsales',
        body: flashSale(name, index),
      });
      await ready;
      await ledgerHolds(client, name, index);
      return performance.now() - t0;
    };

    // Warm both paths (JIT, connections, the operator's first reconcile) outside the figures.
    for (let i = 0; i < 3; i++) {
      await configMapRoundTrip(`warm-cm-${String(i)}`);
      await saleToReady(`warm-fs-${String(i)}`, i);
    }
    // One at a time, alternating, so drift hits both sides alike and nothing queues.
    const cmMs: number[] = [];
    const fsMs: number[] = [];
    for (let i = 0; i < samples; i++) {
      if (i % 20 === 0) console.error(`operator bench: latency ${String(i)}/${String(samples)}`);
      cmMs.push(await configMapRoundTrip(`cm-${String(i)}`));
      fsMs.push(await saleToReady(`lat-${String(i)}`, i));
    }

    // Reference for the bulk: the same number of ConfigMaps, same concurrency, all seen.
    console.error(`operator bench: ${String(many)} ConfigMaps`);
    let t0 = performance.now();
    await pooled(many, async (i) => {
      await configMapRoundTrip(`bulk-cm-${String(i)}`);
    });
    const refBulkS = (performance.now() - t0) / 1000;

    console.error(`operator bench: converge ${String(many)} FlashSales`);
    t0 = performance.now();
    let createdAt = 0;
    await pooled(many, async (i) => {
      await custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: NS,
        plural: 'flashsales',
        body: flashSale(`bulk-${String(i)}`, i),
      });
    });
    createdAt = performance.now() - t0;
    await Promise.all(Array.from({ length: many }, (_, i) => fsWatch.until(`bulk-${String(i)}`)));
    await pooled(many, (i) => ledgerHolds(client, `bulk-${String(i)}`, i));
    const convergeS = (performance.now() - t0) / 1000;
    const hwmKb = vmKb(operator.pid, 'VmHWM');
    const rssKb = vmKb(operator.pid, 'VmRSS');
    const heap = await heapFigures(started.opsUrl);
    const heapDir = process.env.FLASHGUARD_BENCH_HEAP_SNAPSHOT;
    if (heapDir !== undefined) {
      operator.child.kill('SIGUSR2');
      // Written synchronously: once the operator answers again, the snapshot is complete.
      await waitFor(
        'heap snapshot',
        async () =>
          readdirSync(heapDir).some((f) => f.endsWith('.heapsnapshot')) &&
          (await fetch(`${started.opsUrl}/healthz`)).ok
            ? true
            : undefined,
        { timeoutMs: 300_000, intervalMs: 500 },
      );
    }

    const p50 = percentile(fsMs, 50);
    const refMs = percentile(cmMs, 50);
    return {
      samples,
      bulk: many,
      method:
        'client-node create, end = client-node Watch event (FlashSale: Ready=True at observedGeneration, then ledger snapshot polled every 5 ms until it holds the stock)',
      apply_to_ready_p50_ms: ms1(p50),
      apply_to_ready_p99_ms: ms1(percentile(fsMs, 99)),
      ref_configmap_watch_ms: ms1(refMs),
      ref_configmap_watch_p99_ms: ms1(percentile(cmMs, 99)),
      ratio_p50: ms1(p50 / refMs),
      [`converge_${String(many)}_s`]: Math.round(convergeS * 100) / 100,
      [`create_${String(many)}_s`]: Math.round(createdAt / 10) / 100,
      [`ref_configmap_${String(many)}_s`]: Math.round(refBulkS * 100) / 100,
      operator_peak_rss_mb: Math.round(hwmKb / 102.4) / 10,
      operator_rss_after_mb: Math.round(rssKb / 102.4) / 10,
      ...heap,
      targets: {
        p50_under_500_ms: p50 < 500,
        p50_under_10x_ref: p50 < 10 * refMs,
        converge_under_60_s: convergeS < 60,
        rss_under_200_mb: hwmKb / 1024 < 200,
      },
    };
  } finally {
    for (const w of watches) w.stop();
    await operator?.stop();
    client.disconnect();
    await Promise.all([redis.destroy(), cp.stop()]);
  }
}
