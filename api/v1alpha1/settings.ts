// The normalized view of a FlashSale spec that the sidecar and the operator consume: every
// optional field filled from specDefaults (the same values the schema declares as `default`),
// times as epoch milliseconds, header names lower-cased as Node presents them, absent optional
// sections as null so the view survives JSON (it is published to Redis as the sale's config).
import {
  specDefaults,
  type FlashSaleSpec,
  type ValueSourceSpec,
  type httpMethods,
  type valueSources,
  type workloadKinds,
  type autoscalingEngines,
  type deletionPolicies,
} from './schema.ts';

export interface ValueSourceSettings {
  source: (typeof valueSources)[number];
  /** For Header sources, lower-cased. */
  name: string;
}

export interface SaleSettings {
  window: { startMs: number; endMs: number };
  items: { sku: string; stock: number; perUserLimit: number }[];
  checkout: {
    method: (typeof httpMethods)[number];
    path: string;
    sku: ValueSourceSettings;
    quantity: ValueSourceSettings;
    userHeader: string;
    idempotencyKeyHeader: string;
    reservationHeader: string;
    maxBodyBytes: number;
    upstreamTimeoutMilliseconds: number;
  };
  orderStatus: { url: string; timeoutMilliseconds: number } | null;
  limits: { admissionRate: number; burst: number };
  breaker: {
    failureRatePercent: number;
    slowCallRatePercent: number;
    slowCallMilliseconds: number;
    minimumCalls: number;
    windowSeconds: number;
    openSeconds: number;
    halfOpenCalls: number;
  };
  reservation: { ttlSeconds: number; idempotencyRetentionSeconds: number };
  /** null: the operator-wide default Redis. */
  redis: { secretName: string; secretKey: string } | null;
  workload: { kind: (typeof workloadKinds)[number]; name: string } | null;
  autoscaling: {
    engine: (typeof autoscalingEngines)[number];
    minReplicas: number;
    maxReplicas: number;
    targetRequestsPerSecond: number;
    prewarmSeconds: number;
  } | null;
  deletionPolicy: (typeof deletionPolicies)[number];
}

/** Fills every default of a schema-valid spec; pure. */
export function withDefaults(spec: FlashSaleSpec): SaleSettings {
  const checkout = spec.checkout ?? {};
  const { orderStatus, redis, workload, autoscaling } = spec;
  return {
    window: { startMs: Date.parse(spec.window.start), endMs: Date.parse(spec.window.end) },
    items: spec.items.map(({ sku, stock, perUserLimit }) => ({
      sku,
      stock,
      perUserLimit: perUserLimit ?? specDefaults.perUserLimit,
    })),
    checkout: {
      ...specDefaults.checkout,
      ...checkout,
      sku: valueSource(checkout.sku ?? specDefaults.checkout.sku),
      quantity: valueSource(checkout.quantity ?? specDefaults.checkout.quantity),
      userHeader: (checkout.userHeader ?? specDefaults.checkout.userHeader).toLowerCase(),
      idempotencyKeyHeader: (
        checkout.idempotencyKeyHeader ?? specDefaults.checkout.idempotencyKeyHeader
      ).toLowerCase(),
      reservationHeader: (
        checkout.reservationHeader ?? specDefaults.checkout.reservationHeader
      ).toLowerCase(),
    },
    orderStatus: orderStatus
      ? {
          url: orderStatus.url,
          timeoutMilliseconds:
            orderStatus.timeoutMilliseconds ?? specDefaults.orderStatusTimeoutMilliseconds,
        }
      : null,
    limits: { admissionRate: spec.limits.admissionRate, burst: spec.limits.burst },
    breaker: { ...specDefaults.breaker, ...spec.breaker },
    reservation: { ...specDefaults.reservation, ...spec.reservation },
    redis: redis
      ? {
          secretName: redis.secretRef.name,
          secretKey: redis.secretRef.key ?? specDefaults.secretKey,
        }
      : null,
    workload: workload
      ? { kind: workload.kind ?? specDefaults.workloadKind, name: workload.name }
      : null,
    autoscaling: autoscaling ? { ...specDefaults.autoscaling, ...autoscaling } : null,
    deletionPolicy: spec.deletionPolicy ?? specDefaults.deletionPolicy,
  };
}

function valueSource({ source, name }: ValueSourceSpec): ValueSourceSettings {
  const resolved = source ?? specDefaults.valueSource;
  return { source: resolved, name: resolved === 'Header' ? name.toLowerCase() : name };
}
