import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sameShape } from './sales.ts';

describe('published settings', () => {
  test('are taken only when they have the shape of the local ones', () => {
    const local = {
      window: { startMs: 1, endMs: 2 },
      items: [{ sku: 'a', stock: 1 }],
      redis: null,
    };
    assert.ok(
      sameShape(local, { window: { startMs: 5, endMs: 9 }, items: [], redis: null, extra: 1 }),
    );
    assert.ok(!sameShape(local, { window: { startMs: '5', endMs: 9 }, items: [], redis: null }));
    assert.ok(
      !sameShape(local, {
        window: { startMs: 5, endMs: 9 },
        items: [{ sku: 1, stock: 1 }],
        redis: null,
      }),
    );
    assert.ok(!sameShape(local, { items: [], redis: null }));
    assert.ok(!sameShape(local, 'nope'));
    // An optional section absent locally may be set in the published settings.
    assert.ok(
      sameShape(local, { window: { startMs: 5, endMs: 9 }, items: [], redis: { url: 'x' } }),
    );
    assert.ok(!sameShape(local, { window: { startMs: 5, endMs: 9 }, items: [], redis: 'x' }));
  });
});
