import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { withDefaults, type SaleSettings } from './settings.ts';
import { validateFlashSale } from './validate.ts';
import type { FlashSale } from './schema.ts';
import { minimalSale } from './testdata/sale.ts';

const minimalSettings: SaleSettings = {
  window: { startMs: Date.UTC(2026, 10, 27, 10), endMs: Date.UTC(2026, 10, 27, 12) },
  items: [
    { sku: 'A-1', stock: 10, perUserLimit: 1 },
    { sku: 'B-2', stock: 5, perUserLimit: 2 },
  ],
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
  orderStatus: null,
  limits: { admissionRate: 100, burst: 10 },
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
  redis: null,
  workload: null,
  autoscaling: null,
  deletionPolicy: 'Delete',
};

function validated(obj: unknown): FlashSale {
  const result = validateFlashSale(obj);
  assert.ok(result.ok, JSON.stringify(result.ok ? null : result.errors));
  return result.value;
}

test('a minimal spec gets every default', () => {
  const sale = minimalSale() as unknown as FlashSale;
  assert.deepEqual(withDefaults(sale.spec), minimalSettings);
});

test('validation fills the schema defaults into a copy, as the apiserver would', () => {
  const raw = minimalSale();
  const sale = validated(raw);
  assert.equal(sale.metadata.namespace, 'default');
  assert.equal(sale.spec.checkout?.method, 'POST');
  assert.equal(sale.spec.items[0]?.perUserLimit, 1);
  assert.equal(raw.spec.checkout, undefined, 'the input is left alone');
  const result = validateFlashSale(raw);
  assert.ok(result.ok);
  assert.deepEqual(result.settings, minimalSettings);
});

test('the code defaults and the schema defaults agree, on every example', () => {
  const examples = join(import.meta.dirname, '..', '..', 'examples');
  const docs = readdirSync(examples)
    .filter((file) => file.endsWith('.yaml'))
    .map((file) => parse(readFileSync(join(examples, file), 'utf8')) as FlashSale);
  for (const doc of [...docs, minimalSale() as unknown as FlashSale]) {
    assert.deepEqual(withDefaults(doc.spec), withDefaults(validated(doc).spec));
  }
});

test('partly given sections keep what is given and default the rest', () => {
  const sale = minimalSale();
  sale.spec.checkout = {
    sku: { source: 'Header', name: 'X-Sku' },
    quantity: { name: 'qty' },
    userHeader: 'X-Customer',
  };
  sale.spec.breaker = { minimumCalls: 7 };
  sale.spec.redis = { secretRef: { name: 'redis' } };
  sale.spec.workload = { name: 'checkout' };
  sale.spec.autoscaling = { minReplicas: 2, maxReplicas: 4, targetRequestsPerSecond: 9 };
  sale.spec.orderStatus = { url: 'https://shop/orders/{reservation}' };
  sale.spec.window = { start: '2026-11-27T18:00:00+08:00', end: '2026-11-27T11:00:00.5Z' };
  const settings = withDefaults(validated(sale).spec);
  // header names lower-cased as Node presents them; body and query names kept as given
  assert.deepEqual(settings.checkout.sku, { source: 'Header', name: 'x-sku' });
  assert.deepEqual(settings.checkout.quantity, { source: 'Body', name: 'qty' });
  assert.equal(settings.checkout.userHeader, 'x-customer');
  assert.equal(settings.breaker.minimumCalls, 7);
  assert.equal(settings.breaker.openSeconds, 5);
  assert.deepEqual(settings.redis, { secretName: 'redis', secretKey: 'url' });
  assert.deepEqual(settings.workload, { kind: 'Deployment', name: 'checkout' });
  assert.deepEqual(settings.autoscaling, {
    engine: 'HPA',
    minReplicas: 2,
    maxReplicas: 4,
    targetRequestsPerSecond: 9,
    prewarmSeconds: 300,
  });
  assert.deepEqual(settings.orderStatus, {
    url: 'https://shop/orders/{reservation}',
    timeoutMilliseconds: 2000,
  });
  assert.deepEqual(settings.window, {
    startMs: Date.UTC(2026, 10, 27, 10),
    endMs: Date.UTC(2026, 10, 27, 11, 0, 0, 500),
  });
});

test('settings survive JSON, as the config published to Redis', () => {
  assert.deepEqual(JSON.parse(JSON.stringify(minimalSettings)), minimalSettings);
});
