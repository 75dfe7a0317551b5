import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket } from './token-bucket.ts';

test('a token bucket allows its burst, then its rate, and says when to retry', () => {
  const bucket = new TokenBucket(10, 3, 0);
  for (let i = 0; i < 3; i++) assert.deepEqual(bucket.take(0), { ok: true });
  assert.deepEqual(bucket.take(0), { ok: false, retryAfterMs: 100 });
  assert.deepEqual(bucket.take(100), { ok: true });
  assert.deepEqual(bucket.take(150), { ok: false, retryAfterMs: 50 });
  // Idle time never saves up more than the burst.
  for (let i = 0; i < 3; i++) assert.deepEqual(bucket.take(60_000), { ok: true });
  assert.equal(bucket.take(60_000).ok, false);
});

test('reconfiguring keeps earned tokens but caps them at the new burst', () => {
  const bucket = new TokenBucket(10, 10, 0);
  bucket.configure(1, 2, 0);
  assert.equal(bucket.rate, 1);
  assert.equal(bucket.take(0).ok, true);
  assert.equal(bucket.take(0).ok, true);
  assert.deepEqual(bucket.take(0), { ok: false, retryAfterMs: 1000 });
});
