import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateFlashSale } from './validate.ts';
import { celRules, ruleField } from './rules.ts';
import { minimalSale } from './testdata/sale.ts';

type Spec = ReturnType<typeof minimalSale>['spec'];

function fields(spec: Spec): string[] {
  const result = validateFlashSale({ ...minimalSale(), spec });
  return result.ok ? [] : result.errors.map((e) => e.field);
}

function spec(patch: Record<string, unknown>): Spec {
  return { ...minimalSale().spec, ...patch };
}

const workload = { name: 'checkout' };
const autoscaling = { minReplicas: 2, maxReplicas: 10, targetRequestsPerSecond: 50 };

// Each rule: a spec on each side of it. The failing side names exactly the rule's field.
const cases: Record<string, { holds: Spec[]; fails: Spec[] }> = {
  'spec.window.end': {
    holds: [spec({ window: { start: '2026-11-27T10:00:00Z', end: '2026-11-27T10:00:00.001Z' } })],
    fails: [
      spec({ window: { start: '2026-11-27T10:00:00Z', end: '2026-11-27T09:59:59Z' } }),
      // the same instant written in two zones
      spec({ window: { start: '2026-11-27T12:00:00+02:00', end: '2026-11-27T10:00:00Z' } }),
    ],
  },
  'spec.items': {
    holds: [
      spec({
        items: [
          { sku: 'a', stock: 1 },
          { sku: 'A', stock: 1 },
        ],
      }),
    ],
    fails: [
      spec({
        items: [
          { sku: 'a', stock: 1 },
          { sku: 'b', stock: 1 },
          { sku: 'a', stock: 2 },
        ],
      }),
    ],
  },
  'spec.checkout.reservationHeader': {
    holds: [spec({ checkout: { reservationHeader: 'x-order-ref' } })],
    fails: [
      spec({ checkout: { reservationHeader: 'X-User-Id' } }),
      spec({ checkout: { userHeader: 'x-reservation', reservationHeader: 'x-reservation' } }),
      spec({ checkout: { reservationHeader: 'Idempotency-Key' } }),
    ],
  },
  'spec.autoscaling.maxReplicas': {
    holds: [spec({ workload, autoscaling: { ...autoscaling, maxReplicas: 2 } })],
    fails: [spec({ workload, autoscaling: { ...autoscaling, maxReplicas: 1 } })],
  },
  'spec.workload': {
    holds: [spec({ workload, autoscaling }), spec({ workload })],
    fails: [spec({ autoscaling })],
  },
  'spec.reservation.ttlSeconds': {
    holds: [
      spec({ reservation: { ttlSeconds: 11 } }),
      spec({ reservation: { ttlSeconds: 2 }, checkout: { upstreamTimeoutMilliseconds: 1999 } }),
    ],
    fails: [
      spec({ reservation: { ttlSeconds: 10 } }),
      spec({ checkout: { upstreamTimeoutMilliseconds: 30000 } }),
    ],
  },
};

test('every rule has cases here', () => {
  assert.deepEqual(Object.keys(cases).sort(), celRules.map(ruleField).sort());
});

for (const [field, { holds, fails }] of Object.entries(cases)) {
  test(`rule on ${field}: holds`, () => {
    for (const s of holds) assert.deepEqual(fields(s), []);
  });
  test(`rule on ${field}: fails naming ${field}`, () => {
    for (const s of fails) assert.deepEqual(fields(s), [field]);
  });
}

test('rules are CRD-ready: a CEL expression, a message, a field path relative to the node', () => {
  for (const rule of celRules) {
    assert.ok(rule.rule.includes('self'), rule.rule);
    assert.ok(rule.message.length > 0);
    if (rule.fieldPath !== undefined) assert.match(rule.fieldPath, /^(\.[a-zA-Z]+)+$/);
  }
});
