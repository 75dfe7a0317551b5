// The sale's autoscaler, decided purely: from the FlashSale's settings and the time to the
// HorizontalPodAutoscaler or KEDA ScaledObject it should own (replica floor pre-warmed before
// the window, relaxed after), and from what the cluster holds to the writes, the
// AutoscalingReady condition, the Events and when to look again. autoscaling-apply.ts does I/O.
import { isDeepStrictEqual } from 'node:util';
import type { SaleSettings } from '../api/v1alpha1/index.ts';
import type { SaleEventRecord } from './reconcile.ts';

export const SALE_LABEL = 'flashguard.dev/sale';
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'flashguard-operator' } as const;
/** The Pods metric prometheus-adapter serves from flashguard_checkout_requests_total (C6). */
export const HPA_METRIC = 'flashguard_checkout_requests_per_second';
/** Outside the pre-warmed span the floor drops to this, and the object stays (see docs). */
export const RELAXED_FLOOR = 1;

export interface AutoscalerResource {
  engine: 'HPA' | 'KEDA';
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export const autoscalerResources: Record<'HPA' | 'KEDA', AutoscalerResource> = {
  HPA: {
    engine: 'HPA',
    group: 'autoscaling',
    version: 'v2',
    plural: 'horizontalpodautoscalers',
    kind: 'HorizontalPodAutoscaler',
  },
  KEDA: {
    engine: 'KEDA',
    group: 'keda.sh',
    version: 'v1alpha1',
    plural: 'scaledobjects',
    kind: 'ScaledObject',
  },
};

export interface AutoscalingOptions {
  /** The KEDA prometheus trigger's serverAddress (--prometheus-url). */
  prometheusUrl: string | undefined;
}

export interface SaleRef {
  name: string;
  namespace: string;
  uid: string;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface AutoscalerObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    ownerReferences?: OwnerReference[];
    resourceVersion?: string;
  };
  spec: Record<string, unknown>;
}

export interface ReplicaFloor {
  floor: number;
  prewarmed: boolean;
  /** When the floor changes next; undefined once the sale has ended. */
  nextChangeMs: number | undefined;
}

/** minReplicas from prewarmSeconds before the window opens until it ends; relaxed otherwise. */
export function replicaFloor(
  autoscaling: NonNullable<SaleSettings['autoscaling']>,
  window: SaleSettings['window'],
  now: number,
): ReplicaFloor {
  const raiseAt = window.startMs - autoscaling.prewarmSeconds * 1000;
  if (now < raiseAt) return { floor: RELAXED_FLOOR, prewarmed: false, nextChangeMs: raiseAt };
  if (now < window.endMs) {
    return { floor: autoscaling.minReplicas, prewarmed: true, nextChangeMs: window.endMs };
  }
  return { floor: RELAXED_FLOOR, prewarmed: false, nextChangeMs: undefined };
}

/** One autoscaler per workload: two sales on one workload meet on this name. */
export function autoscalerName(workload: NonNullable<SaleSettings['workload']>): string {
  return `flashguard-${workload.kind.toLowerCase()}-${workload.name}`;
}

/**
 * The workload's pods by name: `<deployment>-<pod-template-hash>-<5 characters>` or
 * `<statefulset>-<ordinal>`; tight enough that a sibling workload (checkout-canary) is left out.
 */
function podPattern(workload: NonNullable<SaleSettings['workload']>): string {
  // A regex inside a PromQL string: the dot is escaped for the regex, the backslash for PromQL.
  const name = workload.name.replace(/\./g, '\\\\.');
  return workload.kind === 'StatefulSet' ? `${name}-[0-9]+` : `${name}-[a-z0-9]{1,10}-[a-z0-9]{5}`;
}

/** C6: checkout requests per second summed over the workload's pods. */
export function kedaQuery(
  namespace: string,
  workload: NonNullable<SaleSettings['workload']>,
): string {
  return `sum(rate(flashguard_checkout_requests_total{namespace="${namespace}",pod=~"${podPattern(workload)}"}[1m]))`;
}

export type DesiredAutoscaler =
  | { kind: 'none' }
  | { kind: 'invalid'; reason: string; message: string }
  | {
      kind: 'object';
      resource: AutoscalerResource;
      object: AutoscalerObject;
      floor: ReplicaFloor;
      summary: string;
    };

export function desiredAutoscaler(
  sale: SaleRef,
  settings: SaleSettings,
  now: number,
  options: AutoscalingOptions,
): DesiredAutoscaler {
  const { autoscaling, workload } = settings;
  if (autoscaling === null || workload === null) return { kind: 'none' };
  const floor = replicaFloor(autoscaling, settings.window, now);
  const target = String(autoscaling.targetRequestsPerSecond);
  const scaleTargetRef = { apiVersion: 'apps/v1', kind: workload.kind, name: workload.name };
  let spec: Record<string, unknown>;
  if (autoscaling.engine === 'HPA') {
    spec = {
      scaleTargetRef,
      minReplicas: floor.floor,
      maxReplicas: autoscaling.maxReplicas,
      metrics: [
        {
          type: 'Pods',
          pods: {
            metric: { name: HPA_METRIC },
            target: { type: 'AverageValue', averageValue: target },
          },
        },
      ],
    };
  } else {
    if (options.prometheusUrl === undefined) {
      return {
        kind: 'invalid',
        reason: 'PrometheusUrlMissing',
        message:
          'engine KEDA needs the operator started with --prometheus-url (the trigger reads the rate from Prometheus)',
      };
    }
    spec = {
      scaleTargetRef,
      minReplicaCount: floor.floor,
      maxReplicaCount: autoscaling.maxReplicas,
      triggers: [
        {
          type: 'prometheus',
          metricType: 'AverageValue',
          metadata: {
            serverAddress: options.prometheusUrl,
            query: kedaQuery(sale.namespace, workload),
            threshold: target,
          },
        },
      ],
    };
  }
  const resource = autoscalerResources[autoscaling.engine];
  const name = autoscalerName(workload);
  const span = floor.prewarmed
    ? `pre-warmed to ${autoscaling.minReplicas} until the window ends`
    : `floor relaxed to ${RELAXED_FLOOR}`;
  return {
    kind: 'object',
    resource,
    floor,
    summary: `${resource.kind} ${name} scales ${workload.kind} ${workload.name} at ${target} req/s per pod, ${floor.floor}–${autoscaling.maxReplicas} replicas (${span})`,
    object: {
      apiVersion: `${resource.group}/${resource.version}`,
      kind: resource.kind,
      metadata: {
        name,
        namespace: sale.namespace,
        labels: { ...MANAGED_BY, [SALE_LABEL]: sale.name },
        ownerReferences: [
          {
            apiVersion: 'flashguard.dev/v1alpha1',
            kind: 'FlashSale',
            name: sale.name,
            uid: sale.uid,
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec,
    },
  };
}

/** What the cluster holds, as autoscaling-apply.ts observed it. */
export interface ObservedAutoscalers {
  /** Objects labelled as this sale's, per engine. */
  owned: Record<'HPA' | 'KEDA', { name: string }[]>;
  /** The desired object's name as it exists now (maybe another sale's), if any. */
  existing: AutoscalerObject | undefined;
  /** The same name under the other engine: another sale's autoscaler on the same workload. */
  otherEngine: AutoscalerObject | undefined;
  /** The ScaledObject CRD is not installed. */
  kedaMissing: boolean;
}

export interface AutoscalingCondition {
  ok: boolean;
  reason: string;
  message: string;
}

export interface AutoscalerPlan {
  write: { op: 'create' | 'replace'; object: AutoscalerObject } | undefined;
  remove: { resource: AutoscalerResource; name: string }[];
  /** undefined: the sale has no autoscaling and the condition goes away. */
  condition: AutoscalingCondition | undefined;
  events: SaleEventRecord[];
  /** When the floor changes next. */
  nextChangeMs: number | undefined;
}

function controllerUid(object: AutoscalerObject): string | undefined {
  return object.metadata.ownerReferences?.find(
    (o) => o.controller === true && o.kind === 'FlashSale',
  )?.uid;
}

/** Everything the desired object says is already so (the apiserver may add defaults). */
function holds(wanted: unknown, actual: unknown): boolean {
  if (typeof wanted !== 'object' || wanted === null) return isDeepStrictEqual(wanted, actual);
  if (typeof actual !== 'object' || actual === null) return false;
  if (Array.isArray(wanted)) {
    return (
      Array.isArray(actual) &&
      wanted.length === actual.length &&
      wanted.every((w, i) => holds(w, actual[i]))
    );
  }
  return Object.entries(wanted).every(([k, v]) => holds(v, (actual as Record<string, unknown>)[k]));
}

export function autoscalerPlan(
  desired: DesiredAutoscaler,
  observed: ObservedAutoscalers,
  sale: SaleRef,
  previous: { reason: string } | undefined,
): AutoscalerPlan {
  const keep = desired.kind === 'object' ? desired.object.metadata.name : undefined;
  const keepEngine = desired.kind === 'object' ? desired.resource.engine : undefined;
  // Ours, but not the one wanted now: the engine or the workload changed, or autoscaling went.
  const remove = (['HPA', 'KEDA'] as const).flatMap((engine) =>
    observed.owned[engine]
      .filter((o) => !(engine === keepEngine && o.name === keep))
      .map((o) => ({ resource: autoscalerResources[engine], name: o.name })),
  );
  const plan = (
    condition: AutoscalingCondition | undefined,
    write?: AutoscalerPlan['write'],
    events: SaleEventRecord[] = [],
  ): AutoscalerPlan => {
    // A Warning once per cause, not on every resync.
    const warning =
      condition !== undefined && !condition.ok && condition.reason !== previous?.reason
        ? [{ type: 'Warning' as const, reason: condition.reason, message: condition.message }]
        : [];
    return {
      write,
      remove,
      condition,
      events: [...warning, ...events],
      nextChangeMs: desired.kind === 'object' ? desired.floor.nextChangeMs : undefined,
    };
  };
  if (desired.kind === 'none') return plan(undefined);
  if (desired.kind === 'invalid') {
    return plan({ ok: false, reason: desired.reason, message: desired.message });
  }
  if (desired.resource.engine === 'KEDA' && observed.kedaMissing) {
    return plan({
      ok: false,
      reason: 'KedaNotInstalled',
      message:
        'engine KEDA, but the cluster has no keda.sh/v1alpha1 ScaledObject CRD: install KEDA or use engine HPA',
    });
  }
  const { existing } = observed;
  const { object } = desired;
  const foreign = [existing, observed.otherEngine].find(
    (o) => o !== undefined && controllerUid(o) !== sale.uid,
  );
  if (foreign !== undefined) {
    const target = object.spec.scaleTargetRef as { kind: string; name: string };
    const owner = foreign.metadata.ownerReferences?.find((o) => o.controller === true);
    const by =
      owner === undefined ? 'not managed by flashguard' : `owned by ${owner.kind} ${owner.name}`;
    return plan({
      ok: false,
      reason: 'WorkloadAutoscaledElsewhere',
      message: `${foreign.kind} ${foreign.metadata.name} already scales ${target.kind} ${target.name}, ${by}; one autoscaler per workload: remove spec.autoscaling from one of the sales`,
    });
  }
  const ready = {
    ok: true,
    reason: desired.floor.prewarmed ? 'Prewarmed' : 'Relaxed',
    message: desired.summary,
  };
  if (existing === undefined) {
    return plan(ready, { op: 'create', object }, [
      { type: 'Normal', reason: 'AutoscalerCreated', message: desired.summary },
    ]);
  }
  if (
    holds(object.spec, existing.spec) &&
    holds(object.metadata.labels, existing.metadata.labels)
  ) {
    return plan(ready);
  }
  const updated = {
    ...object,
    metadata: { ...object.metadata, resourceVersion: existing.metadata.resourceVersion },
  };
  return plan(ready, { op: 'replace', object: updated }, [
    { type: 'Normal', reason: 'AutoscalerUpdated', message: desired.summary },
  ]);
}
