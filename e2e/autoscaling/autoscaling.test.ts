// Autoscaling objects end to end: the operator (its real entrypoint) creates the HPA or KEDA
// ScaledObject a FlashSale asks for, owned by the sale, pre-warms the replica floor before the
// window and relaxes it after, and reports what it cannot do as a condition and an Event.
// Neither autoscaler can act here — no nodes, no metrics API, no KEDA operator (only a test copy
// of its CRD, e2e/fixtures/keda) — so these tests check the objects the autoscalers would read.
// The KEDA query itself is then run against a real Prometheus scraping real sidecars.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startControlPlane, type ControlPlane } from '../controlplane/controlplane.ts';
import { startOperator, type RunningOperator } from '../support/operator.ts';
import { waitFor } from '../support/process.ts';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { deployment, installCrd, installFlashSaleCrd } from '../support/workloads.ts';
import {
  flashSale,
  startShop,
  startSidecar,
  type RunningShop,
  type RunningSidecar,
} from '../support/sidecar.ts';

const root = join(import.meta.dirname, '..', '..');
const NS = 'shop';

interface Owned {
  metadata: {
    name: string;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec: Record<string, unknown>;
}
interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface Sale {
  metadata: { uid: string };
  status?: { conditions?: Condition[] };
}
interface Trigger {
  type: string;
  metricType: string;
  metadata: { serverAddress: string; query: string; threshold: string };
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

function sale(
  name: string,
  workload: string,
  autoscaling: Record<string, unknown>,
  window = { startMs: Date.now() - 60_000, endMs: Date.now() + 3_600_000 },
  sku = 'phone',
) {
  return {
    apiVersion: 'flashguard.dev/v1alpha1',
    kind: 'FlashSale',
    metadata: { name, namespace: NS },
    spec: {
      window: { start: iso(window.startMs), end: iso(window.endMs) },
      items: [{ sku, stock: 10 }],
      limits: { admissionRate: 100, burst: 10 },
      workload: { kind: 'Deployment', name: workload },
      autoscaling: { minReplicas: 4, maxReplicas: 12, targetRequestsPerSecond: 25, ...autoscaling },
    },
  };
}

/** Requests per second each sidecar gets during the paced load. */
const PACE_PER_SIDECAR = 4;

void describe('autoscaling objects made by the operator', () => {
  let cp: ControlPlane;
  let redis: RedisServer;
  let operator: RunningOperator;
  let shop: RunningShop;
  let prometheus: RunningPrometheus;
  /** Two sidecars of Deployment checkout-keda in namespace shop, and one elsewhere the query must leave out. */
  const sidecars: { sidecar: RunningSidecar; namespace: string; pod: string }[] = [];

  const apply = (doc: unknown) => cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(doc) });
  const getJson = async <T>(args: string[]): Promise<T | undefined> => {
    const result = await cp.kubectl([...args, '-n', NS, '-o', 'json'], { check: false });
    return result.code === 0 ? (JSON.parse(result.stdout) as T) : undefined;
  };
  const condition = async (name: string) =>
    (await getJson<Sale>(['get', 'flashsale', name]))?.status?.conditions?.find(
      (c) => c.type === 'AutoscalingReady',
    );
  const conditionWhen = (name: string, holds: (c: Condition) => boolean) =>
    waitFor(
      `AutoscalingReady of ${name} as expected`,
      async () => {
        const c = await condition(name);
        return c !== undefined && holds(c) ? c : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
  const warning = (reason: string) =>
    waitFor(
      `a Warning Event ${reason}`,
      async () => {
        const events = await getJson<{ items: { type: string; reason: string }[] }>([
          'get',
          'events',
          '--field-selector',
          `reason=${reason}`,
        ]);
        return events?.items.find((e) => e.type === 'Warning');
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );

  before(async () => {
    [cp, redis, shop] = await Promise.all([
      startControlPlane({ controllerManager: true }),
      startRedis(),
      startShop(),
    ]);
    const paced = flashSale('paced-load', {
      items: [{ sku: 'phone', stock: 100_000, perUserLimit: 1 }],
      limits: { admissionRate: 10_000, burst: 1000 },
    });
    const pods = [
      { namespace: NS, pod: 'checkout-keda-7d9f8b6c5-x2k4q' },
      { namespace: NS, pod: 'checkout-keda-7d9f8b6c5-m8n3p' },
      { namespace: 'staging', pod: 'checkout-keda-59b7c4d8f-q7w2z' },
    ];
    for (const { namespace, pod } of pods) {
      const sidecar = await startSidecar({
        sale: paced,
        upstream: shop.url,
        redisUrl: redis.url,
        id: pod,
      });
      sidecars.push({ sidecar, namespace, pod });
    }
    prometheus = await startPrometheus({
      jobs: [
        {
          job: 'flashguard-sidecars',
          targets: sidecars.map(({ sidecar, namespace, pod }) => ({
            address: new URL(sidecar.opsUrl).host,
            labels: { namespace, pod },
          })),
        },
      ],
    });
    await installFlashSaleCrd(cp);
    await cp.kubectl(['create', 'namespace', NS]);
    for (const name of ['checkout', 'checkout-keda'])
      await apply(deployment(name, { namespace: NS }));
    operator = await startOperator({
      kubeconfig: cp.kubeconfig,
      redisUrl: redis.url,
      identity: 'autoscaling',
      logDir: join(cp.dir, 'logs'),
      args: ['--prometheus-url', prometheus.url],
    });
  });

  after(async () => {
    await operator.process.stop();
    await Promise.all(sidecars.map(({ sidecar }) => sidecar.stop()));
    await Promise.all([shop.stop(), prometheus.stop()]);
    await Promise.all([cp.stop(), redis.stop()]);
  });

  void it('reports a missing KEDA CRD as AutoscalingReady=False with a Warning, and keeps running', async () => {
    await apply(sale('keda-sale', 'checkout-keda', { engine: 'KEDA' }));
    const found = await conditionWhen('keda-sale', (c) => c.reason === 'KedaNotInstalled');
    assert.equal(found.status, 'False');
    assert.match(found.message, /install KEDA or use engine HPA/);
    await warning('KedaNotInstalled');
    assert.equal((await fetch(`${operator.opsUrl}/healthz`)).status, 200);
  });

  void it('creates the ScaledObject once the CRD exists: Prometheus trigger, bounds, owner', async () => {
    const kedaCrd = join(root, 'e2e', 'fixtures', 'keda', 'keda.sh_scaledobjects.yaml');
    await installCrd(cp, kedaCrd, 'scaledobjects.keda.sh');
    const so = await waitFor(
      'the ScaledObject',
      () => getJson<Owned>(['get', 'scaledobject', 'flashguard-deployment-checkout-keda']),
      {
        timeoutMs: 30_000,
        intervalMs: 250,
      },
    );
    const uid = (await getJson<Sale>(['get', 'flashsale', 'keda-sale']))?.metadata.uid;
    assert.deepEqual(
      so.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
      [['FlashSale', 'keda-sale', uid, true]],
    );
    assert.deepEqual(so.spec.scaleTargetRef, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'checkout-keda',
    });
    // The window is open: the floor is pre-warmed.
    assert.equal(so.spec.minReplicaCount, 4);
    assert.equal(so.spec.maxReplicaCount, 12);
    const [trigger, ...more] = so.spec.triggers as Trigger[];
    assert.equal(more.length, 0);
    assert.deepEqual(trigger, {
      type: 'prometheus',
      metricType: 'AverageValue',
      metadata: {
        serverAddress: prometheus.url,
        query: `sum(rate(flashguard_checkout_requests_total{namespace="shop",pod=~"checkout-keda-[a-z0-9]{1,10}-[a-z0-9]{5}"}[1m]))`,
        threshold: '25',
      },
    });
    await conditionWhen('keda-sale', (c) => c.status === 'True');
  });

  void it('creates an HPA on the request-rate metric and pre-warms, then relaxes, its floor', async () => {
    // A window a few seconds ahead: floor 1, then 4 from prewarmSeconds before it, then 1 after.
    // Whole seconds: the spec's RFC 3339 times carry no milliseconds.
    const startMs = Math.ceil((Date.now() + 20_000) / 1000) * 1000;
    const raiseAt = startMs - 10_000;
    const endMs = startMs + 8_000;
    await apply(
      sale('hpa-sale', 'checkout', { engine: 'HPA', prewarmSeconds: 10 }, { startMs, endMs }),
    );
    const floorBecomes = (replicas: number) =>
      waitFor(
        `the HPA's floor at ${replicas}`,
        async () => ((await floor()) === replicas ? true : undefined),
        {
          timeoutMs: 40_000,
          intervalMs: 200,
        },
      );
    const floor = async () =>
      (await getJson<Owned>(['get', 'hpa', 'flashguard-deployment-checkout']))?.spec.minReplicas as
        number | undefined;
    const first = await waitFor(
      'the HPA',
      async () => {
        const hpa = await getJson<Owned>(['get', 'hpa', 'flashguard-deployment-checkout']);
        return hpa === undefined ? undefined : { hpa, at: Date.now() };
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.ok(
      first.at < raiseAt,
      'seen before the pre-warm (else the test machine is too slow to tell)',
    );
    assert.equal(first.hpa.spec.minReplicas, 1, 'relaxed before the pre-warm');
    assert.equal(first.hpa.spec.maxReplicas, 12);
    assert.deepEqual(first.hpa.spec.scaleTargetRef, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'checkout',
    });
    assert.deepEqual(first.hpa.spec.metrics, [
      {
        type: 'Pods',
        pods: {
          metric: { name: 'flashguard_checkout_requests_per_second' },
          target: { type: 'AverageValue', averageValue: '25' },
        },
      },
    ]);
    const uid = (await getJson<Sale>(['get', 'flashsale', 'hpa-sale']))?.metadata.uid;
    assert.equal(first.hpa.metadata.ownerReferences?.[0]?.uid, uid);

    await floorBecomes(4);
    assert.ok(Date.now() >= raiseAt, 'not pre-warmed before prewarmSeconds ahead of the window');
    assert.equal((await condition('hpa-sale'))?.reason, 'Prewarmed');
    await floorBecomes(1);
    assert.ok(Date.now() >= endMs, 'relaxed only once the window ended');
    assert.notEqual(
      await getJson<Owned>(['get', 'hpa', 'flashguard-deployment-checkout']),
      undefined,
      'kept',
    );
  });

  void it('leaves a workload autoscaled by another sale alone, with a condition and a Warning', async () => {
    // Another SKU: the sales may share the workload (no SaleOverlap), not its autoscaler.
    await apply(sale('rival', 'checkout', { engine: 'HPA' }, undefined, 'tablet'));
    const found = await conditionWhen('rival', (c) => c.status === 'False');
    assert.equal(found.reason, 'WorkloadAutoscaledElsewhere');
    assert.match(found.message, /owned by FlashSale hpa-sale/);
    await warning('WorkloadAutoscaledElsewhere');
    const hpa = await getJson<Owned>(['get', 'hpa', 'flashguard-deployment-checkout']);
    assert.equal(hpa?.metadata.ownerReferences?.[0]?.name, 'hpa-sale');
    assert.equal(hpa.spec.maxReplicas, 12);
  });

  void it('lets the garbage collector remove the HPA with its sale, and the rival takes over', async () => {
    await cp.kubectl(['delete', 'flashsale', 'hpa-sale', '-n', NS]);
    await waitFor(
      'the rival to own the HPA once hpa-sale and its HPA are gone',
      async () => {
        const hpa = await getJson<Owned>(['get', 'hpa', 'flashguard-deployment-checkout']);
        return hpa?.metadata.ownerReferences?.[0]?.name === 'rival' ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    assert.equal((await condition('rival'))?.status, 'True');
  });

  void it('has a KEDA query that measures the workload’s request rate on a real Prometheus', async (t) => {
    const created = await getJson<Owned>([
      'get',
      'scaledobject',
      'flashguard-deployment-checkout-keda',
    ]);
    assert.ok(created);
    const [trigger] = created.spec.triggers as [Trigger];
    await prometheus.waitForTargets();

    // Paced load: PACE_PER_SIDECAR sale checkouts a second to each sidecar, past the query's
    // 1-minute range so rate() covers a full window of steady load.
    const periodMs = 1000 / PACE_PER_SIDECAR;
    const started = Date.now();
    const durationMs = 75_000;
    const inFlight: Promise<number>[] = [];
    for (let i = 0; started + i * periodMs < started + durationMs; i++) {
      const due = started + i * periodMs;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
      for (const { sidecar, pod } of sidecars) {
        inFlight.push(
          fetch(`${sidecar.url}/checkout`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-user-id': `${pod}-${i}` },
            body: JSON.stringify({ sku: 'phone', quantity: 1 }),
          }).then(async (r) => {
            await r.body?.cancel();
            return r.status;
          }),
        );
      }
    }
    const statuses = await Promise.all(inFlight);
    // The demo shop answers 201 Created to every order.
    assert.deepEqual([...new Set(statuses)], [201], 'every paced checkout went through');

    const url = `${trigger.metadata.serverAddress}/api/v1/query?query=${encodeURIComponent(trigger.metadata.query)}`;
    const answer = (await (await fetch(url)).json()) as {
      status: string;
      data: { result: { value: [number, string] }[] };
    };
    assert.equal(answer.status, 'success');
    const [sample, ...others] = answer.data.result;
    assert.equal(others.length, 0, 'one sum');
    const measured = Number(sample?.value[1]);
    // Two of the three sidecars are checkout's pods in namespace shop; the third is left out.
    const expected = 2 * PACE_PER_SIDECAR;
    t.diagnostic(`KEDA query: ${measured} req/s measured, ${expected} req/s paced`);
    assert.ok(
      Math.abs(measured - expected) <= expected * 0.1,
      `the query measured ${measured} req/s; the paced load was ${expected} req/s on checkout's pods`,
    );
  });
});
