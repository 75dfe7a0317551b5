import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateFlashSale, type ValidationError } from './validate.ts';
import { minimalSale } from './testdata/sale.ts';

function errorsOf(obj: unknown): ValidationError[] {
  const result = validateFlashSale(obj);
  assert.ok(!result.ok, 'accepted');
  return result.errors;
}

test('a minimal FlashSale is valid', () => {
  assert.ok(validateFlashSale(minimalSale()).ok);
});

test('apiVersion and kind are checked', () => {
  assert.deepEqual(errorsOf({ ...minimalSale(), apiVersion: 'flashguard.dev/v1' }), [
    {
      field: 'apiVersion',
      message: 'apiVersion must be one of flashguard.dev/v1alpha1 (got "flashguard.dev/v1")',
    },
  ]);
  assert.deepEqual(
    errorsOf({ ...minimalSale(), kind: 'Sale' }).map((e) => e.field),
    ['kind'],
  );
});

test('something that is not an object is rejected as a whole', () => {
  for (const value of [null, 3, 'FlashSale', []]) {
    assert.deepEqual(
      errorsOf(value).map((e) => e.field),
      [''],
    );
  }
});

test('unknown fields are errors, as with kubectl strict validation; metadata stays open', () => {
  const sale = minimalSale();
  sale.spec.breaker = { failureRatio: 0.5 };
  sale.metadata.labels = { team: 'shop' };
  sale.metadata.annotations = { note: 'x' };
  assert.deepEqual(errorsOf(sale), [
    {
      field: 'spec.breaker.failureRatio',
      message: 'spec.breaker.failureRatio is not a known field',
    },
  ]);
});

test('all errors are reported at once, each naming its field and why', () => {
  const sale = minimalSale();
  sale.metadata.name = 'Bad_Name';
  sale.spec.window = { start: 'soon', end: '2026-11-27T12:00:00Z' };
  sale.spec.items = [{ sku: 'A', stock: 1e10, perUserLimit: 1 }, { sku: 'B' }];
  sale.spec.checkout = { method: 'GET' };
  assert.deepEqual(errorsOf(sale), [
    {
      field: 'metadata.name',
      message: 'metadata.name must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ (got "Bad_Name")',
    },
    {
      field: 'spec.window.start',
      message:
        'spec.window.start must be an RFC 3339 date-time with a zone, like 2025-11-28T10:00:00Z (got "soon")',
    },
    {
      field: 'spec.items[0].stock',
      message: 'spec.items[0].stock must be <= 1000000000 (got 10000000000)',
    },
    { field: 'spec.items[1].stock', message: 'spec.items[1].stock is required' },
    {
      field: 'spec.checkout.method',
      message: 'spec.checkout.method must be one of POST, PUT, PATCH (got "GET")',
    },
  ]);
});

test('timestamps: a zone is required, millisecond precision at most', () => {
  const withStart = (start: string) => {
    const sale = minimalSale();
    sale.spec.window.start = start;
    return validateFlashSale(sale);
  };
  for (const ok of [
    '2026-11-27T10:00:00Z',
    '2026-11-27T10:00:00.123+05:30',
    '2026-11-27T09:00:00-01:00',
  ]) {
    assert.ok(withStart(ok).ok, ok);
  }
  for (const bad of [
    '2026-11-27T10:00:00',
    '2026-11-27 10:00:00Z',
    '2026-11-27T10:00:00.1234Z',
    '2026-02-30T10:00:00Z',
    '2026-11-27T24:00:00Z',
    '2026-11-27t10:00:00z',
  ]) {
    assert.ok(!withStart(bad).ok, bad);
  }
});

test('the namespace defaults to default, a given one is kept', () => {
  const sale = minimalSale();
  const result = validateFlashSale(sale);
  assert.ok(result.ok);
  assert.equal(result.value.metadata.namespace, 'default');
  sale.metadata.namespace = 'shop';
  const given = validateFlashSale(sale);
  assert.ok(given.ok);
  assert.equal(given.value.metadata.namespace, 'shop');
});

test('a status written by the operator validates too', () => {
  const sale = {
    ...minimalSale(),
    status: {
      phase: 'Active',
      observedGeneration: 3,
      stock: 15,
      sold: 4,
      items: [{ sku: 'A-1', available: 6, reserved: 1, sold: 3, inDoubt: 0 }],
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          observedGeneration: 3,
          lastTransitionTime: '2026-11-27T10:00:01Z',
          reason: 'StockLoaded',
          message: '',
        },
      ],
    },
  };
  assert.ok(validateFlashSale(sale).ok);
  sale.status.phase = 'Running';
  assert.deepEqual(
    errorsOf(sale).map((e) => e.field),
    ['status.phase'],
  );
});

test('null on an optional field means its default, as the apiserver reads it', () => {
  const withNulls = minimalSale() as unknown as { spec: Record<string, unknown> };
  Object.assign(withNulls.spec, { checkout: null, breaker: null, deletionPolicy: null });
  const plain = validateFlashSale(minimalSale());
  const nulled = validateFlashSale(withNulls);
  assert.ok(plain.ok && nulled.ok, JSON.stringify(nulled));
  assert.deepEqual(nulled.settings, plain.settings);
  // A required section is still required when null.
  Object.assign(withNulls.spec, { limits: null });
  assert.deepEqual(
    errorsOf(withNulls).map((e) => e.field),
    ['spec.limits'],
  );
});
