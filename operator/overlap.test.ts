import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withDefaults } from '../api/v1alpha1/index.ts';
import type { SaleObject } from './informer.ts';
import {
  claimOf,
  claimsBeside,
  collides,
  collisionMessage,
  earlierCollision,
  type SaleClaim,
} from './overlap.ts';
import { specSettings } from './reconcile.ts';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-12-12T10:00:00Z');

function claim(name: string, overrides: Partial<SaleClaim> = {}): SaleClaim {
  return {
    namespace: 'shop',
    name,
    creationTimestamp: '2026-12-01T00:00:00Z',
    workload: { kind: 'Deployment', name: 'checkout' },
    skus: ['A', 'B'],
    window: { startMs: T0, endMs: T0 + HOUR },
    ...overrides,
  };
}

function object(name: string, created: string, spec: Record<string, unknown>): SaleObject {
  return {
    apiVersion: 'flashguard.dev/v1alpha1',
    kind: 'FlashSale',
    metadata: {
      name,
      namespace: 'shop',
      uid: name,
      generation: 1,
      resourceVersion: '1',
      creationTimestamp: created,
    },
    spec,
  };
}

const spec = (workload: string | undefined, sku: string, startMs = T0) => ({
  window: { start: new Date(startMs).toISOString(), end: new Date(startMs + HOUR).toISOString() },
  items: [{ sku, stock: 5 }],
  limits: { admissionRate: 10, burst: 5 },
  ...(workload === undefined ? {} : { workload: { name: workload } }),
});

void describe('collides', () => {
  it('same workload, a SKU in common, intersecting windows', () => {
    assert.equal(collides(claim('a'), claim('b', { skus: ['B', 'C'] })), true);
  });
  for (const [why, other] of [
    ['another namespace', claim('b', { namespace: 'other' })],
    ['another workload', claim('b', { workload: { kind: 'Deployment', name: 'web' } })],
    ['another kind', claim('b', { workload: { kind: 'StatefulSet', name: 'checkout' } })],
    ['no SKU in common', claim('b', { skus: ['C'] })],
    ['back to back windows', claim('b', { window: { startMs: T0 + HOUR, endMs: T0 + 2 * HOUR } })],
  ] as const) {
    it(`not with ${why}`, () => {
      assert.equal(collides(claim('a'), other), false);
    });
  }
});

void describe('earlierCollision', () => {
  const early = claim('zeta', { creationTimestamp: '2026-11-30T00:00:00Z' });
  it('the later sale waits for the earlier one, not the other way round', () => {
    assert.equal(earlierCollision(claim('a'), [early])?.name, 'zeta');
    assert.equal(earlierCollision(early, [claim('a')]), undefined);
  });
  it('created in the same second: the name decides', () => {
    assert.equal(earlierCollision(claim('b'), [claim('a')])?.name, 'a');
    assert.equal(earlierCollision(claim('a'), [claim('b')]), undefined);
  });
  it('names the earliest of several', () => {
    const earliest = claim('y', { creationTimestamp: '2026-11-01T00:00:00Z' });
    assert.equal(earlierCollision(claim('a'), [early, earliest])?.name, 'y');
  });
  it('a message that names the other sale, the shared SKUs and the workload', () => {
    assert.equal(
      collisionMessage(claim('a', { skus: ['B'] }), early),
      'FlashSale zeta (created first) also sells B through Deployment/checkout in an overlapping ' +
        'window; change the SKUs or the window of one of them, or delete one',
    );
  });
});

void describe('claimsBeside over the cache', () => {
  const first = object('first', '2026-12-01T00:00:00Z', spec('checkout', 'A'));
  const mineObject = object('second', '2026-12-02T00:00:00Z', spec('checkout', 'A'));
  const mineSettings = specSettings(mineObject);
  assert.ok(mineSettings);
  const mine = claimOf(mineObject, mineSettings);
  assert.ok(mine);

  it('finds the earlier sale on the same workload and ignores the rest', () => {
    const deleting = object('deleting', '2026-11-01T00:00:00Z', spec('checkout', 'A'));
    deleting.metadata.deletionTimestamp = '2026-12-03T00:00:00Z';
    const cache = [
      first,
      mineObject,
      deleting,
      object('elsewhere', '2026-11-01T00:00:00Z', spec('web', 'A')),
      object('unguarded', '2026-11-01T00:00:00Z', spec(undefined, 'A')),
      object('invalid', '2026-11-01T00:00:00Z', { workload: { name: 'checkout' } }),
    ];
    const claims = claimsBeside(mine, cache, specSettings);
    assert.deepEqual(
      claims.map((c) => c.name),
      ['first'],
    );
    assert.equal(earlierCollision(mine, claims)?.name, 'first');
  });

  it('a sale without a workload has no claim', () => {
    const unguarded = object('u', '2026-12-01T00:00:00Z', spec(undefined, 'A'));
    assert.equal(claimOf(unguarded, withDefaults(spec(undefined, 'A'))), undefined);
  });
});
