// The FlashSale API (flashguard.dev/v1alpha1): one TypeBox definition gives both the TypeScript
// types and the JSON Schema. The schema stays inside the Kubernetes structural-schema subset
// (every node typed and described, no $ref/anyOf/const, bounds as keywords, defaults as
// `default`) so the CRD's openAPIV3Schema is generated from it. Cross-field rules live in
// rules.ts, as the CEL the CRD carries plus the same check in code.
import Type, { type Static, type TSchemaOptions } from 'typebox';

export const apiVersion = 'flashguard.dev/v1alpha1';
export const kind = 'FlashSale';

export const httpMethods = ['POST', 'PUT', 'PATCH'] as const;
export const valueSources = ['Body', 'Header', 'Query'] as const;
export const workloadKinds = ['Deployment', 'StatefulSet'] as const;
export const autoscalingEngines = ['HPA', 'KEDA'] as const;
export const deletionPolicies = ['Delete', 'Retain'] as const;
export const phases = ['Scheduled', 'Active', 'SoldOut', 'Ended', 'Failed'] as const;
export const conditionStatuses = ['True', 'False', 'Unknown'] as const;

// Patterns stay in the subset both ECMAScript (Ajv) and RE2 (the apiserver) read alike.
const dns1123Label = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const dns1123Subdomain = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const headerName = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
// Beside `format: date-time`, the pattern insists on an explicit Z or offset (Ajv's format and
// the apiserver's need not agree on zoneless times) and on at most millisecond precision, so
// comparing epoch milliseconds in code agrees with CEL's timestamps.
const rfc3339 =
  '^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,3})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$';

/**
 * Defaults of every optional field, referenced by the schema's `default`s and by withDefaults.
 * A section's default is the whole defaulted section: the apiserver checks CEL rules against a
 * default as written, without filling the defaults nested in it.
 */
export const specDefaults = {
  perUserLimit: 1,
  valueSource: 'Body',
  checkout: {
    method: 'POST',
    path: '/checkout',
    sku: { source: 'Body', name: 'sku' },
    quantity: { source: 'Body', name: 'quantity' },
    userHeader: 'x-user-id',
    idempotencyKeyHeader: 'idempotency-key',
    reservationHeader: 'x-flashguard-reservation',
    maxBodyBytes: 16384,
    upstreamTimeoutMilliseconds: 10000,
  },
  orderStatusTimeoutMilliseconds: 2000,
  breaker: {
    failureRatePercent: 50,
    slowCallRatePercent: 80,
    slowCallMilliseconds: 2000,
    minimumCalls: 20,
    windowSeconds: 10,
    openSeconds: 5,
    halfOpenCalls: 5,
  },
  reservation: { ttlSeconds: 30, idempotencyRetentionSeconds: 86400 },
  secretKey: 'url',
  workloadKind: 'Deployment',
  autoscaling: { engine: 'HPA', prewarmSeconds: 300 },
  deletionPolicy: 'Delete',
} as const;

/** A string enum that carries `type: string`, as structural schemas require. */
function StringEnum<const Values extends readonly string[]>(
  values: Values,
  options: TSchemaOptions & { description: string },
) {
  return Type.Unsafe<Values[number]>({ type: 'string', enum: [...values], ...options });
}

function HeaderName(description: string, fallback: string) {
  return Type.Optional(
    Type.String({
      description,
      minLength: 1,
      maxLength: 128,
      pattern: headerName,
      default: fallback,
    }),
  );
}

function Timestamp(description: string) {
  return Type.String({ description, format: 'date-time', pattern: rfc3339, maxLength: 64 });
}

const WindowSchema = Type.Object(
  {
    start: Timestamp(
      'When the sale opens, RFC 3339 with a zone (2025-11-28T10:00:00Z). Checkouts before it are refused as not started.',
    ),
    end: Timestamp(
      'When the sale closes, RFC 3339 with a zone; must be after start. Checkouts from then on are refused as ended.',
    ),
  },
  { description: 'The time window in which the sale accepts checkouts.' },
);

const ItemSchema = Type.Object(
  {
    sku: Type.String({
      description:
        'Stock-keeping unit as the checkout request names it: 1-64 letters, digits, ".", "_", ":" or "-". Unique within the sale.',
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9._:-]+$',
    }),
    stock: Type.Integer({
      description:
        'Units on sale. Raising it mid-sale adds the difference; lowering it never goes below the units already reserved or sold.',
      minimum: 0,
      maximum: 1_000_000_000,
    }),
    perUserLimit: Type.Optional(
      Type.Integer({
        description: 'Most units of this SKU one user may hold (reserved plus bought).',
        minimum: 1,
        maximum: 1000,
        default: specDefaults.perUserLimit,
      }),
    ),
  },
  { description: 'One SKU on sale and its stock.' },
);

function ValueSource(what: string, fallback: { source: string; name: string }) {
  return Type.Optional(
    Type.Object(
      {
        source: Type.Optional(
          StringEnum(valueSources, {
            description: `Where the ${what} is read: Body (a top-level property of the JSON body), Header or Query (a query parameter).`,
            default: specDefaults.valueSource,
          }),
        ),
        name: Type.String({
          description: `Name of the body property, header or query parameter that holds the ${what}.`,
          minLength: 1,
          maxLength: 128,
          pattern: headerName,
        }),
      },
      { description: `Where a checkout request carries the ${what}.`, default: fallback },
    ),
  );
}

const CheckoutSchema = Type.Object(
  {
    method: Type.Optional(
      StringEnum(httpMethods, {
        description: 'HTTP method of a sale checkout request.',
        default: specDefaults.checkout.method,
      }),
    ),
    path: Type.Optional(
      Type.String({
        description:
          'Exact request path of a sale checkout, without the query string. Other requests pass through untouched.',
        minLength: 1,
        maxLength: 256,
        pattern: '^/[^?#\\s]*$',
        default: specDefaults.checkout.path,
      }),
    ),
    sku: ValueSource('SKU', specDefaults.checkout.sku),
    quantity: ValueSource('quantity (a positive integer)', specDefaults.checkout.quantity),
    userHeader: HeaderName(
      "Request header holding the authenticated user's id, set by the shop's gateway; per-user limits count by it.",
      specDefaults.checkout.userHeader,
    ),
    idempotencyKeyHeader: HeaderName(
      'Request header holding the client idempotency key; a repeated key replays the first outcome.',
      specDefaults.checkout.idempotencyKeyHeader,
    ),
    reservationHeader: HeaderName(
      'Header the sidecar sets to the reservation id when it forwards the checkout; the shop creates the order idempotently keyed by it. Must differ from userHeader and idempotencyKeyHeader.',
      specDefaults.checkout.reservationHeader,
    ),
    maxBodyBytes: Type.Optional(
      Type.Integer({
        description: 'Largest checkout request body the sidecar reads, in bytes (at most 1 MiB).',
        minimum: 1,
        maximum: 1_048_576,
        default: specDefaults.checkout.maxBodyBytes,
      }),
    ),
    upstreamTimeoutMilliseconds: Type.Optional(
      Type.Integer({
        description:
          'How long the sidecar waits for the checkout service; an answer lost after that leaves the reservation in doubt.',
        minimum: 100,
        maximum: 120_000,
        default: specDefaults.checkout.upstreamTimeoutMilliseconds,
      }),
    ),
  },
  {
    description: 'How the sidecar recognises a sale checkout and reads SKU, quantity and user.',
    default: specDefaults.checkout,
  },
);

const OrderStatusSchema = Type.Object(
  {
    url: Type.String({
      description:
        'http(s) URL template of the shop\'s order-status endpoint; "{reservation}" is replaced by the reservation id. It answers 2xx if the order was committed, 404 if not.',
      minLength: 1,
      maxLength: 2048,
      pattern: '^https?://[^/?#\\s{}]+[^\\s]*\\{reservation\\}[^\\s]*$',
    }),
    timeoutMilliseconds: Type.Optional(
      Type.Integer({
        description: 'Timeout of one order-status request.',
        minimum: 100,
        maximum: 60_000,
        default: specDefaults.orderStatusTimeoutMilliseconds,
      }),
    ),
  },
  {
    description:
      "The shop's order-status endpoint, used to settle in-doubt reservations. Without it they stay held (never resold) until a human settles them.",
  },
);

const LimitsSchema = Type.Object(
  {
    admissionRate: Type.Integer({
      description:
        'Checkouts admitted per second across the whole cluster; the sidecars share it. The operator lowers it as stock runs out.',
      minimum: 1,
      maximum: 1_000_000,
    }),
    burst: Type.Integer({
      description: 'Checkouts admitted at once above the steady rate, across the whole cluster.',
      minimum: 1,
      maximum: 1_000_000,
    }),
  },
  { description: 'Admission limits that keep the checkout service within its capacity.' },
);

function BreakerInteger(description: string, fallback: number, minimum: number, maximum: number) {
  return Type.Optional(Type.Integer({ description, minimum, maximum, default: fallback }));
}

const BreakerSchema = Type.Object(
  {
    failureRatePercent: BreakerInteger(
      'Opens the breaker when at least this percentage of calls in the window failed.',
      specDefaults.breaker.failureRatePercent,
      1,
      100,
    ),
    slowCallRatePercent: BreakerInteger(
      'Opens the breaker when at least this percentage of calls in the window were slow.',
      specDefaults.breaker.slowCallRatePercent,
      1,
      100,
    ),
    slowCallMilliseconds: BreakerInteger(
      'A call taking at least this long counts as slow.',
      specDefaults.breaker.slowCallMilliseconds,
      1,
      120_000,
    ),
    minimumCalls: BreakerInteger(
      'Calls the window must hold before the rates are judged.',
      specDefaults.breaker.minimumCalls,
      1,
      10_000,
    ),
    windowSeconds: BreakerInteger(
      'Length of the sliding window the rates are measured over.',
      specDefaults.breaker.windowSeconds,
      1,
      3600,
    ),
    openSeconds: BreakerInteger(
      'How long the breaker stays open before letting trial calls through.',
      specDefaults.breaker.openSeconds,
      1,
      3600,
    ),
    halfOpenCalls: BreakerInteger(
      'Trial calls let through while half-open; all must succeed to close the breaker.',
      specDefaults.breaker.halfOpenCalls,
      1,
      1000,
    ),
  },
  {
    description: 'Circuit breaker in front of the checkout service, per sidecar.',
    default: specDefaults.breaker,
  },
);

const ReservationSchema = Type.Object(
  {
    ttlSeconds: Type.Optional(
      Type.Integer({
        description:
          'A pending reservation not confirmed within this time is released. Must exceed checkout.upstreamTimeoutMilliseconds.',
        minimum: 1,
        maximum: 3600,
        default: specDefaults.reservation.ttlSeconds,
      }),
    ),
    idempotencyRetentionSeconds: Type.Optional(
      Type.Integer({
        description: 'How long idempotency records are kept after the sale ends (at most 30 days).',
        minimum: 0,
        maximum: 2_592_000,
        default: specDefaults.reservation.idempotencyRetentionSeconds,
      }),
    ),
  },
  {
    description: 'Lifetimes of reservations and idempotency records.',
    default: specDefaults.reservation,
  },
);

const RedisSchema = Type.Object(
  {
    secretRef: Type.Object(
      {
        name: Type.String({
          description: "Name of the Secret in the FlashSale's namespace.",
          minLength: 1,
          maxLength: 253,
          pattern: dns1123Subdomain,
        }),
        key: Type.Optional(
          Type.String({
            description: 'Key in the Secret whose value is the Redis URL.',
            minLength: 1,
            maxLength: 253,
            pattern: '^[-._a-zA-Z0-9]+$',
            default: specDefaults.secretKey,
          }),
        ),
      },
      { description: 'Secret holding the Redis URL, credentials included.' },
    ),
  },
  {
    description:
      "The Redis holding this sale's ledger. Absent: the operator-wide default. Credentials only via the Secret.",
  },
);

const WorkloadSchema = Type.Object(
  {
    kind: Type.Optional(
      StringEnum(workloadKinds, {
        description: 'Kind of the checkout workload.',
        default: specDefaults.workloadKind,
      }),
    ),
    name: Type.String({
      description: "Name of the checkout workload in the FlashSale's namespace.",
      minLength: 1,
      maxLength: 253,
      pattern: dns1123Subdomain,
    }),
  },
  { description: 'The checkout workload the sale guards and autoscales.' },
);

const AutoscalingSchema = Type.Object(
  {
    engine: Type.Optional(
      StringEnum(autoscalingEngines, {
        description:
          "HPA (autoscaling/v2 on the sidecars' request rate via prometheus-adapter) or KEDA (a ScaledObject with a Prometheus trigger).",
        default: specDefaults.autoscaling.engine,
      }),
    ),
    minReplicas: Type.Integer({
      description: 'Replica floor during the sale, from prewarmSeconds before the window opens.',
      minimum: 1,
      maximum: 1000,
    }),
    maxReplicas: Type.Integer({
      description: 'Replica ceiling during the sale; at least minReplicas.',
      minimum: 1,
      maximum: 1000,
    }),
    targetRequestsPerSecond: Type.Integer({
      description: 'Checkout requests per second one pod should take; the autoscaler aims at it.',
      minimum: 1,
      maximum: 100_000,
    }),
    prewarmSeconds: Type.Optional(
      Type.Integer({
        description: 'How long before the window opens the replica floor is raised to minReplicas.',
        minimum: 0,
        maximum: 86_400,
        default: specDefaults.autoscaling.prewarmSeconds,
      }),
    ),
  },
  { description: 'Autoscaling of the checkout workload for the sale; requires workload.' },
);

export const FlashSaleSpecSchema = Type.Object(
  {
    window: WindowSchema,
    items: Type.Array(ItemSchema, {
      description: 'The SKUs on sale, 1 to 100, each SKU once.',
      minItems: 1,
      maxItems: 100,
    }),
    checkout: Type.Optional(CheckoutSchema),
    orderStatus: Type.Optional(OrderStatusSchema),
    limits: LimitsSchema,
    breaker: Type.Optional(BreakerSchema),
    reservation: Type.Optional(ReservationSchema),
    redis: Type.Optional(RedisSchema),
    workload: Type.Optional(WorkloadSchema),
    autoscaling: Type.Optional(AutoscalingSchema),
    deletionPolicy: Type.Optional(
      StringEnum(deletionPolicies, {
        description:
          'What happens to the ledger when the FlashSale is deleted: Delete removes it, Retain keeps it for audit.',
        default: specDefaults.deletionPolicy,
      }),
    ),
  },
  { description: 'The desired sale: window, stock, limits and how checkouts are guarded.' },
);

const ConditionSchema = Type.Object(
  {
    type: Type.String({
      description:
        'Condition type in CamelCase: StockLoaded, LimitsPublished, AutoscalingReady, Ready.',
      minLength: 1,
      maxLength: 316,
      pattern:
        '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    }),
    status: StringEnum(conditionStatuses, { description: 'True, False or Unknown.' }),
    observedGeneration: Type.Optional(
      Type.Integer({
        description: 'The .metadata.generation the condition was set from.',
        minimum: 0,
      }),
    ),
    lastTransitionTime: Type.String({
      description: 'When the status last changed.',
      format: 'date-time',
      maxLength: 64,
    }),
    reason: Type.String({
      description: 'Machine-readable CamelCase reason for the last transition.',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    }),
    message: Type.String({
      description: 'Human-readable details of the transition.',
      maxLength: 32768,
    }),
  },
  { description: 'A condition in the shape of metav1.Condition.' },
);

function Units(description: string) {
  return Type.Integer({ description, minimum: 0 });
}

const ItemStatusSchema = Type.Object(
  {
    sku: Type.String({ description: 'The SKU.', minLength: 1, maxLength: 64 }),
    available: Units('Units that can still be reserved.'),
    reserved: Units('Units in pending reservations (in-doubt ones included).'),
    sold: Units('Units in confirmed reservations.'),
    inDoubt: Units('Units whose checkout answer was lost, awaiting settlement with the shop.'),
  },
  { description: 'Ledger counts of one SKU.' },
);

const LedgerStatusSchema = Type.Object(
  {
    id: Type.String({
      description: 'Id of the ledger this sale loaded into Redis.',
      minLength: 1,
      maxLength: 64,
    }),
    seq: Type.Integer({
      description: 'Highest ledger sequence number observed; a lower one means Redis rolled back.',
      minimum: 0,
    }),
  },
  {
    description:
      'The ledger last observed, so a preload refuses to reload a lost or rolled-back ledger.',
  },
);

export const FlashSaleStatusSchema = Type.Object(
  {
    phase: Type.Optional(
      StringEnum(phases, { description: 'Scheduled, Active, SoldOut, Ended or Failed.' }),
    ),
    observedGeneration: Type.Optional(
      Type.Integer({
        description: 'The .metadata.generation the status was computed from.',
        minimum: 0,
      }),
    ),
    stock: Type.Optional(Units('Total units over all SKUs, as loaded into the ledger.')),
    sold: Type.Optional(Units('Total units sold over all SKUs.')),
    items: Type.Optional(
      Type.Array(ItemStatusSchema, {
        description: 'Ledger counts per SKU, synced at a bounded rate.',
        maxItems: 100,
      }),
    ),
    conditions: Type.Optional(
      Type.Array(ConditionSchema, {
        description: 'Latest observations of the sale: StockLoaded, LimitsPublished, Ready...',
        maxItems: 16,
      }),
    ),
    ledger: Type.Optional(LedgerStatusSchema),
  },
  { description: 'Observed state of the sale, written by the operator.' },
);

const MetadataSchema = Type.Object(
  {
    name: Type.String({
      description:
        'Name of the FlashSale: a DNS-1123 label (at most 63 lowercase letters, digits and "-"), so it fits in label values.',
      minLength: 1,
      maxLength: 63,
      pattern: dns1123Label,
    }),
    namespace: Type.Optional(
      Type.String({
        description: 'Namespace of the FlashSale.',
        minLength: 1,
        maxLength: 63,
        pattern: dns1123Label,
        default: 'default',
      }),
    ),
    generation: Type.Optional(
      Type.Integer({ description: 'Generation of the spec, set by the apiserver.', minimum: 0 }),
    ),
  },
  { description: 'Standard object metadata; other fields (labels, annotations...) pass through.' },
);

export const FlashSaleSchema = Type.Object(
  {
    apiVersion: StringEnum([apiVersion], { description: 'flashguard.dev/v1alpha1' }),
    kind: StringEnum([kind], { description: 'FlashSale' }),
    metadata: MetadataSchema,
    spec: FlashSaleSpecSchema,
    status: Type.Optional(FlashSaleStatusSchema),
  },
  { description: 'A flash sale: a window, SKUs with little stock, and how checkouts are guarded.' },
);

export type FlashSale = Static<typeof FlashSaleSchema>;
export type FlashSaleSpec = Static<typeof FlashSaleSpecSchema>;
export type FlashSaleStatus = Static<typeof FlashSaleStatusSchema>;
export type FlashSaleItem = Static<typeof ItemSchema>;
export type CheckoutSpec = Static<typeof CheckoutSchema>;
export type ValueSourceSpec = NonNullable<CheckoutSpec['sku']>;
export type FlashSaleCondition = Static<typeof ConditionSchema>;
export type FlashSaleItemStatus = Static<typeof ItemStatusSchema>;
export type Phase = (typeof phases)[number];
