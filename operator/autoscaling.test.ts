import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withDefaults, type FlashSaleSpec, type SaleSettings } from '../api/v1alpha1/index.ts';
import { sooner } from './autoscaling-apply.ts';
import {
  autoscalerPlan,
  desiredAutoscaler,
  kedaQuery,
  replicaFloor,
  type AutoscalerObject,
  type DesiredAutoscaler,
  type ObservedAutoscalers,
} from './autoscaling.ts';
import { awaitChange, requeueAfter } from './reconcile.ts';

const start = Date.parse('2026-11-27T09:00:00Z');
const end = start + 3_600_000;
const sale = { name: 'black-friday', namespace: 'shop', uid: 'uid-1' };
const prometheus = { prometheusUrl: 'http://prometheus.monitoring:9090' };

function settings(
  autoscaling: Partial<FlashSaleSpec['autoscaling']> = {},
  kind = 'Deployment',
): SaleSettings {
  return withDefaults({
    window: { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
    items: [{ sku: 'phone', stock: 10 }],
    limits: { admissionRate: 100, burst: 10 },
    workload: { kind: kind as 'Deployment', name: 'checkout' },
    autoscaling: {
      minReplicas: 5,
      maxReplicas: 20,
      targetRequestsPerSecond: 50,
      prewarmSeconds: 600,
      ...autoscaling,
    },
  });
}

function object(desired: DesiredAutoscaler): AutoscalerObject {
  assert.equal(desired.kind, 'object', JSON.stringify(desired));
  return (desired as { object: AutoscalerObject }).object;
}

const nothing: ObservedAutoscalers = {
  otherEngine: undefined,
  owned: { HPA: [], KEDA: [] },
  existing: undefined,
  kedaMissing: false,
};

void describe('replicaFloor', () => {
  const a = settings().autoscaling;
  assert.ok(a);
  const window = { startMs: start, endMs: end };

  void it('is relaxed until prewarmSeconds before the window, then minReplicas until it ends', () => {
    assert.deepEqual(replicaFloor(a, window, start - 600_001), {
      floor: 1,
      prewarmed: false,
      nextChangeMs: start - 600_000,
    });
    assert.deepEqual(replicaFloor(a, window, start - 600_000), {
      floor: 5,
      prewarmed: true,
      nextChangeMs: end,
    });
    assert.equal(replicaFloor(a, window, end - 1).floor, 5);
    assert.deepEqual(replicaFloor(a, window, end), {
      floor: 1,
      prewarmed: false,
      nextChangeMs: undefined,
    });
  });
});

void describe('desiredAutoscaler', () => {
  void it('is nothing for a sale without autoscaling', () => {
    assert.deepEqual(
      desiredAutoscaler(sale, { ...settings(), autoscaling: null }, start, prometheus),
      {
        kind: 'none',
      },
    );
  });

  void it('makes an HPA on the Pods request-rate metric, owned by the sale', () => {
    const hpa = object(desiredAutoscaler(sale, settings(), start, prometheus));
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.equal(hpa.kind, 'HorizontalPodAutoscaler');
    assert.deepEqual(hpa.metadata, {
      name: 'flashguard-deployment-checkout',
      namespace: 'shop',
      labels: {
        'app.kubernetes.io/managed-by': 'flashguard-operator',
        'flashguard.dev/sale': 'black-friday',
      },
      ownerReferences: [
        {
          apiVersion: 'flashguard.dev/v1alpha1',
          kind: 'FlashSale',
          name: 'black-friday',
          uid: 'uid-1',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    });
    assert.deepEqual(hpa.spec, {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'checkout' },
      minReplicas: 5,
      maxReplicas: 20,
      metrics: [
        {
          type: 'Pods',
          pods: {
            metric: { name: 'flashguard_checkout_requests_per_second' },
            target: { type: 'AverageValue', averageValue: '50' },
          },
        },
      ],
    });
    assert.equal(object(desiredAutoscaler(sale, settings(), end, prometheus)).spec.minReplicas, 1);
  });

  void it('makes a KEDA ScaledObject with a Prometheus trigger on the workload’s pods', () => {
    const so = object(
      desiredAutoscaler(sale, settings({ engine: 'KEDA' }), start - 3_600_000, prometheus),
    );
    assert.equal(so.apiVersion, 'keda.sh/v1alpha1');
    assert.equal(so.kind, 'ScaledObject');
    assert.deepEqual(so.spec, {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'checkout' },
      minReplicaCount: 1,
      maxReplicaCount: 20,
      triggers: [
        {
          type: 'prometheus',
          metricType: 'AverageValue',
          metadata: {
            serverAddress: 'http://prometheus.monitoring:9090',
            query:
              'sum(rate(flashguard_checkout_requests_total{namespace="shop",pod=~"checkout-[a-z0-9]{1,10}-[a-z0-9]{5}"}[1m]))',
            threshold: '50',
          },
        },
      ],
    });
  });

  void it('scopes a StatefulSet’s query to its ordinals and escapes dots in names', () => {
    assert.equal(
      kedaQuery('shop', { kind: 'StatefulSet', name: 'checkout.v2' }),
      'sum(rate(flashguard_checkout_requests_total{namespace="shop",pod=~"checkout\\\\.v2-[0-9]+"}[1m]))',
    );
  });

  void it('refuses KEDA without a Prometheus URL, saying which flag is missing', () => {
    const desired = desiredAutoscaler(sale, settings({ engine: 'KEDA' }), start, {
      prometheusUrl: undefined,
    });
    assert.equal(desired.kind, 'invalid');
    assert.match((desired as { message: string }).message, /--prometheus-url/);
  });
});

void describe('autoscalerPlan', () => {
  const desired = desiredAutoscaler(sale, settings(), start, prometheus);
  const hpa = object(desired);

  void it('creates the object when none exists, with an Event', () => {
    const plan = autoscalerPlan(desired, nothing, sale, undefined);
    assert.deepEqual(plan.write, { op: 'create', object: hpa });
    assert.equal(plan.condition?.ok, true);
    assert.equal(plan.condition.reason, 'Prewarmed');
    assert.deepEqual(
      plan.events.map((e) => e.reason),
      ['AutoscalerCreated'],
    );
    assert.equal(plan.nextChangeMs, end);
  });

  void it('writes nothing when the cluster holds it already (apiserver defaults aside)', () => {
    const stored = structuredClone(hpa);
    stored.metadata.resourceVersion = '7';
    (stored.spec as { behavior?: unknown }).behavior = {
      scaleDown: { stabilizationWindowSeconds: 300 },
    };
    const plan = autoscalerPlan(
      desired,
      { ...nothing, existing: stored, owned: { HPA: [{ name: hpa.metadata.name }], KEDA: [] } },
      sale,
      undefined,
    );
    assert.equal(plan.write, undefined);
    assert.deepEqual(plan.remove, []);
    assert.deepEqual(plan.events, []);
  });

  void it('replaces it when the floor changes, keeping the resourceVersion', () => {
    const stored = object(desiredAutoscaler(sale, settings(), end, prometheus));
    stored.metadata.resourceVersion = '9';
    const plan = autoscalerPlan(desired, { ...nothing, existing: stored }, sale, undefined);
    assert.equal(plan.write?.op, 'replace');
    assert.equal(plan.write.object.spec.minReplicas, 5);
    assert.equal(plan.write.object.metadata.resourceVersion, '9');
    assert.deepEqual(
      plan.events.map((e) => e.reason),
      ['AutoscalerUpdated'],
    );
  });

  void it('leaves another sale’s autoscaler alone: condition and one Warning', () => {
    const theirs = structuredClone(hpa);
    theirs.metadata.ownerReferences = [
      {
        apiVersion: 'flashguard.dev/v1alpha1',
        kind: 'FlashSale',
        name: 'cyber-monday',
        uid: 'uid-2',
        controller: true,
      },
    ];
    const plan = autoscalerPlan(desired, { ...nothing, existing: theirs }, sale, undefined);
    assert.equal(plan.write, undefined);
    assert.equal(plan.condition?.ok, false);
    assert.equal(plan.condition.reason, 'WorkloadAutoscaledElsewhere');
    assert.match(
      plan.condition.message,
      /HorizontalPodAutoscaler flashguard-deployment-checkout already scales Deployment checkout, owned by FlashSale cyber-monday/,
    );
    assert.deepEqual(
      plan.events.map((e) => [e.type, e.reason]),
      [['Warning', 'WorkloadAutoscaledElsewhere']],
    );
    const again = autoscalerPlan(desired, { ...nothing, existing: theirs }, sale, plan.condition);
    assert.deepEqual(again.events, [], 'no second Warning for the same cause');
  });

  void it('sees another sale’s autoscaler under the other engine as a conflict too', () => {
    const keda = desiredAutoscaler(sale, settings({ engine: 'KEDA' }), start, prometheus);
    const theirs = structuredClone(hpa);
    theirs.metadata.ownerReferences = [
      {
        apiVersion: 'flashguard.dev/v1alpha1',
        kind: 'FlashSale',
        name: 'other',
        uid: 'uid-2',
        controller: true,
      },
    ];
    const plan = autoscalerPlan(keda, { ...nothing, otherEngine: theirs }, sale, undefined);
    assert.equal(plan.write, undefined);
    assert.equal(plan.condition?.reason, 'WorkloadAutoscaledElsewhere');
  });

  void it('reports a missing KEDA CRD as a condition, and writes nothing', () => {
    const keda = desiredAutoscaler(sale, settings({ engine: 'KEDA' }), start, prometheus);
    const plan = autoscalerPlan(keda, { ...nothing, kedaMissing: true }, sale, undefined);
    assert.equal(plan.write, undefined);
    assert.equal(plan.condition?.reason, 'KedaNotInstalled');
    assert.equal(plan.events[0]?.type, 'Warning');
  });

  void it('removes what the sale owned under another engine, or when autoscaling went', () => {
    const keda = desiredAutoscaler(sale, settings({ engine: 'KEDA' }), start, prometheus);
    const owned = { HPA: [{ name: 'flashguard-deployment-checkout' }], KEDA: [] };
    const switched = autoscalerPlan(keda, { ...nothing, owned }, sale, undefined);
    assert.deepEqual(
      switched.remove.map((r) => [r.resource.kind, r.name]),
      [['HorizontalPodAutoscaler', 'flashguard-deployment-checkout']],
    );
    assert.equal(switched.write?.object.kind, 'ScaledObject');
    const gone = autoscalerPlan({ kind: 'none' }, { ...nothing, owned }, sale, {
      reason: 'Prewarmed',
    });
    assert.equal(gone.remove.length, 1);
    assert.equal(gone.condition, undefined);
  });
});

void describe('sooner', () => {
  void it('takes the earlier look; awaiting a change yields to any requeue', () => {
    assert.deepEqual(sooner(requeueAfter(5000), requeueAfter(200)), requeueAfter(200));
    assert.deepEqual(sooner(awaitChange(), requeueAfter(200)), requeueAfter(200));
    assert.deepEqual(sooner(requeueAfter(200), awaitChange()), requeueAfter(200));
    assert.deepEqual(sooner(awaitChange(), awaitChange()), awaitChange());
  });
});
