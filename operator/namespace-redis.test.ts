import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SaleObject } from './informer.ts';
import { guardingSales, namespaceSecretData, sameRedis } from './namespace-redis.ts';
import { specSettings } from './reconcile.ts';

function sale(name: string, namespace: string, created: string, workload?: string): SaleObject {
  return {
    apiVersion: 'flashguard.dev/v1alpha1',
    kind: 'FlashSale',
    metadata: {
      name,
      namespace,
      uid: name,
      generation: 1,
      resourceVersion: '1',
      creationTimestamp: created,
    },
    spec: {
      window: { start: '2026-12-12T10:00:00Z', end: '2026-12-12T11:00:00Z' },
      items: [{ sku: name, stock: 1 }],
      limits: { admissionRate: 10, burst: 5 },
      ...(workload === undefined ? {} : { workload: { name: workload } }),
    },
  };
}

void describe('guardingSales', () => {
  it("the namespace's live workload sales, earliest first", () => {
    const going = sale('going', 'shop', '2026-11-01T00:00:00Z', 'web');
    going.metadata.deletionTimestamp = '2026-12-01T00:00:00Z';
    const cache = [
      sale('late', 'shop', '2026-12-03T00:00:00Z', 'checkout'),
      sale('early', 'shop', '2026-12-01T00:00:00Z', 'web'),
      sale('unguarded', 'shop', '2026-11-01T00:00:00Z'),
      sale('elsewhere', 'other', '2026-11-01T00:00:00Z', 'web'),
      going,
    ];
    assert.deepEqual(
      guardingSales('shop', cache, specSettings).map((g) => g.sale.metadata.name),
      ['early', 'late'],
    );
  });
});

void describe('sameRedis', () => {
  it('one server whatever the credentials; another port is another Redis', () => {
    const a = { url: 'redis://:old@r:6379', ca: undefined };
    assert.equal(sameRedis(a, { url: 'redis://:new@r:6379', ca: 'PEM' }), true);
    assert.equal(sameRedis(a, { url: 'redis://:old@r:6380', ca: undefined }), false);
  });
  it('the Secret carries ca.crt only when there is a CA', () => {
    assert.deepEqual(namespaceSecretData({ url: 'redis://r', ca: undefined }), {
      url: 'redis://r',
    });
    assert.deepEqual(namespaceSecretData({ url: 'rediss://r', ca: 'PEM' }), {
      url: 'rediss://r',
      'ca.crt': 'PEM',
    });
  });
});
