// Properties over generated FlashSales: what the generator of valid sales makes validates, and
// pushing any one bounded field out of its bounds fails naming that field and nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { validateFlashSale } from './validate.ts';
import {
  FlashSaleSchema,
  autoscalingEngines,
  deletionPolicies,
  httpMethods,
  valueSources,
  workloadKinds,
} from './schema.ts';
import { plainSchema, type SchemaNode } from './schema-walk.ts';

const header = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$/);
const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
const int = (min: number, max: number) => fc.integer({ min, max });
const optional = { requiredKeys: [] as never[] };

const window = fc
  .tuple(int(Date.UTC(2020, 0, 1), Date.UTC(2035, 0, 1)), int(1, 30 * 86_400_000))
  .map(([start, length]) => ({
    start: new Date(start).toISOString(),
    end: new Date(start + length).toISOString(),
  }));

const items = fc.uniqueArray(
  fc.record(
    {
      sku: fc.stringMatching(/^[A-Za-z0-9._:-]{1,64}$/),
      stock: int(0, 1_000_000_000),
      perUserLimit: int(1, 1000),
    },
    { requiredKeys: ['sku', 'stock'] },
  ),
  { minLength: 1, maxLength: 8, selector: (item) => item.sku },
);

const valueSource = fc.record(
  { source: fc.constantFrom(...valueSources), name: header },
  { requiredKeys: ['name'] },
);

const checkout = fc
  .record(
    {
      method: fc.constantFrom(...httpMethods),
      path: fc.stringMatching(/^\/[a-z0-9/_-]{0,40}$/),
      sku: valueSource,
      quantity: valueSource,
      userHeader: header,
      idempotencyKeyHeader: header,
      reservationHeader: fc.constant('x-flashguard-reservation'),
      maxBodyBytes: int(1, 1_048_576),
      // below the default reservation TTL, so the TTL rule holds whatever the TTL
      upstreamTimeoutMilliseconds: int(100, 29_999),
    },
    optional,
  )
  .filter((c) =>
    [c.userHeader, c.idempotencyKeyHeader].every(
      (h) => h?.toLowerCase() !== 'x-flashguard-reservation',
    ),
  );

const breaker = fc.record(
  {
    failureRatePercent: int(1, 100),
    slowCallRatePercent: int(1, 100),
    slowCallMilliseconds: int(1, 120_000),
    minimumCalls: int(1, 10_000),
    windowSeconds: int(1, 3600),
    openSeconds: int(1, 3600),
    halfOpenCalls: int(1, 1000),
  },
  optional,
);

const scaling = int(1, 1000).chain((minReplicas) =>
  fc.record(
    {
      workload: fc.record(
        { kind: fc.constantFrom(...workloadKinds), name: dnsLabel },
        { requiredKeys: ['name'] },
      ),
      autoscaling: fc.record(
        {
          engine: fc.constantFrom(...autoscalingEngines),
          minReplicas: fc.constant(minReplicas),
          maxReplicas: int(minReplicas, 1000),
          targetRequestsPerSecond: int(1, 100_000),
          prewarmSeconds: int(0, 86_400),
        },
        { requiredKeys: ['minReplicas', 'maxReplicas', 'targetRequestsPerSecond'] },
      ),
    },
    { requiredKeys: ['workload'] },
  ),
);

const sale = fc
  .record({
    name: dnsLabel,
    base: fc.record({
      window,
      items,
      limits: fc.record({ admissionRate: int(1, 1e6), burst: int(1, 1e6) }),
    }),
    more: fc.record(
      {
        checkout,
        breaker,
        orderStatus: fc.record(
          {
            url: fc.constantFrom(
              'http://shop/o/{reservation}',
              'https://s.example:8443/x?id={reservation}',
            ),
            timeoutMilliseconds: int(100, 60_000),
          },
          { requiredKeys: ['url'] },
        ),
        reservation: fc.record(
          { ttlSeconds: int(30, 3600), idempotencyRetentionSeconds: int(0, 2_592_000) },
          optional,
        ),
        redis: fc.record({
          secretRef: fc.record({ name: dnsLabel, key: header }, { requiredKeys: ['name'] }),
        }),
        deletionPolicy: fc.constantFrom(...deletionPolicies),
      },
      optional,
    ),
    scaling: fc.option(scaling, { nil: undefined }),
  })
  .map(({ name, base, more, scaling }) => ({
    apiVersion: 'flashguard.dev/v1alpha1',
    kind: 'FlashSale',
    metadata: { name },
    spec: { ...base, ...more, ...scaling },
  }));

interface Leaf {
  field: string;
  segments: (string | number)[];
  node: SchemaNode;
}

/** The bounded scalar fields present in a value, with their schema nodes. */
function boundedLeaves(
  value: unknown,
  node: SchemaNode,
  field = '',
  segments: (string | number)[] = [],
): Leaf[] {
  if (Array.isArray(value) && node.items) {
    const items = node.items;
    return value.flatMap((v, i) => boundedLeaves(v, items, `${field}[${i}]`, [...segments, i]));
  }
  if (typeof value === 'object' && value !== null && node.properties) {
    return Object.entries(node.properties).flatMap(([key, child]) =>
      key in value
        ? boundedLeaves(
            (value as Record<string, unknown>)[key],
            child,
            field === '' ? key : `${field}.${key}`,
            [...segments, key],
          )
        : [],
    );
  }
  const bounded =
    node.enum !== undefined || node.maxLength !== undefined || node.maximum !== undefined;
  return bounded ? [{ field, segments, node }] : [];
}

function outOfBounds(node: SchemaNode, below: boolean): unknown {
  if (node.enum !== undefined) return 'Bogus';
  if (node.type === 'string') return 'x'.repeat(Number(node.maxLength) + 1);
  return below && typeof node.minimum === 'number' ? node.minimum - 1 : Number(node.maximum) + 1;
}

function set(target: unknown, segments: (string | number)[], value: unknown): void {
  const last = segments.at(-1);
  const parent = segments
    .slice(0, -1)
    .reduce<unknown>((at, s) => (at as Record<string, unknown>)[s], target);
  (parent as Record<string | number, unknown>)[last ?? ''] = value;
}

const schema = plainSchema(FlashSaleSchema);

test('every generated valid FlashSale validates', () => {
  fc.assert(
    fc.property(sale, (s) => {
      const result = validateFlashSale(s);
      assert.ok(result.ok, JSON.stringify(result.ok ? null : result.errors));
    }),
  );
});

test('one bounded field out of bounds fails naming that field only', () => {
  fc.assert(
    fc.property(sale, fc.nat(), fc.boolean(), (s, pick, below) => {
      const leaves = boundedLeaves(s, schema);
      const leaf = leaves[pick % leaves.length];
      assert.ok(leaf);
      set(s, leaf.segments, outOfBounds(leaf.node, below));
      const result = validateFlashSale(s);
      assert.ok(!result.ok, `${leaf.field} accepted`);
      assert.deepEqual([...new Set(result.errors.map((e) => e.field))], [leaf.field]);
    }),
  );
});
