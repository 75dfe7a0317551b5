import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TurnBatcher } from './batch.ts';

/** A batcher that doubles numbers and records every call it makes. */
function doubler(maxBatch = 64) {
  const calls: number[][] = [];
  const batcher = new TurnBatcher<number, number>((requests) => {
    calls.push([...requests]);
    return Promise.resolve(requests.map((n) => n * 2));
  }, maxBatch);
  return { batcher, calls };
}

test('the requests of one turn make one call per group, each answered with its own result', async () => {
  const { batcher, calls } = doubler();
  const results = await Promise.all([
    batcher.add(1),
    batcher.add(2, 'acked'),
    batcher.add(3),
    batcher.add(4, 'acked'),
  ]);
  assert.deepEqual(results, [2, 4, 6, 8]);
  assert.deepEqual(calls, [
    [1, 3],
    [2, 4],
  ]);
});

test('requests from different socket reads of one turn share a call; the next turn makes another', async () => {
  const { batcher, calls } = doubler();
  // Two I/O callbacks of one poll phase, each followed by its own microtasks and nextTicks.
  const first = batcher.add(1);
  await Promise.resolve();
  const second = new Promise<number>((resolve) => {
    process.nextTick(() => {
      resolve(batcher.add(2));
    });
  });
  assert.deepEqual(await Promise.all([first, second]), [2, 4]);
  assert.equal(await batcher.add(3), 6);
  assert.deepEqual(calls, [[1, 2], [3]]);
});

test('a turn with more than maxBatch requests is split into calls of at most maxBatch', async () => {
  const { batcher, calls } = doubler(2);
  assert.deepEqual(await Promise.all([1, 2, 3, 4, 5].map((n) => batcher.add(n))), [2, 4, 6, 8, 10]);
  assert.deepEqual(calls, [[1, 2], [3, 4], [5]]);
});

test('a failed call rejects its own requests only', async () => {
  const batcher = new TurnBatcher<number, number>(
    // The call of group 'down' (request 2) fails; the other group's call does not.
    (requests) =>
      requests.includes(2)
        ? Promise.reject(new Error('Redis away'))
        : Promise.resolve([...requests]),
    64,
  );
  const [ok, failed] = await Promise.allSettled([batcher.add(1), batcher.add(2, 'down')]);
  assert.deepEqual(ok, { status: 'fulfilled', value: 1 });
  assert.equal(failed.status, 'rejected');
  assert.match(String(failed.reason), /Redis away/);
  // The batcher keeps working after a failure.
  assert.equal(await batcher.add(3), 3);
});

test('a call that answers with the wrong number of results rejects its requests', async () => {
  const batcher = new TurnBatcher<number, number>(() => Promise.resolve([1]), 64);
  const settled = await Promise.allSettled([batcher.add(1), batcher.add(2)]);
  for (const s of settled) {
    assert.equal(s.status, 'rejected');
    assert.match(String(s.reason), /a batch of 2 got 1 results/);
  }
});
