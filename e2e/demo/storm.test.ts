// The shopper storm: its plan is the storm the demo promises (retries, over-limit buyers), and
// against the demo shop directly its counts add up to what the shop saw.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCheckoutApp, type CheckoutApp } from './checkout-app.ts';
import { percentile, planStorm, runStorm, type StormShape } from './storm.ts';

const shape: StormShape = {
  skus: ['A', 'B', 'C'],
  users: 50,
  requests: 2000,
  duplicateRatio: 0.2,
  overLimitRatio: 0.1,
  perUserLimit: 2,
};

describe('planStorm', () => {
  test('the same seed plans the same storm; another seed another', () => {
    assert.deepEqual(planStorm(shape, 7), planStorm(shape, 7));
    assert.notDeepEqual(planStorm(shape, 7), planStorm(shape, 8));
  });

  test('retries repeat an earlier request exactly, Idempotency-Key included', () => {
    const plan = planStorm(shape, 1);
    const firstAttempts = new Map(
      plan.filter((r) => !r.retry).map((r) => [r.idempotencyKey, r] as const),
    );
    assert.equal(firstAttempts.size, plan.filter((r) => !r.retry).length, 'keys are unique');
    for (const [i, request] of plan.entries()) {
      if (!request.retry) continue;
      const original = firstAttempts.get(request.idempotencyKey);
      assert.ok(original, `retry ${i} repeats no earlier request`);
      assert.deepEqual({ ...request, retry: false }, original);
      assert.ok(plan.indexOf(original) < i, 'a retry comes after its original');
    }
    const retries = plan.filter((r) => r.retry).length;
    assert.ok(retries > 300 && retries < 500, `${retries} retries for a ratio of 0.2`);
  });

  test('over-limit shoppers ask for more than the limit; the others for one unit', () => {
    const plan = planStorm(shape, 2).filter((r) => !r.retry);
    const overLimit = plan.filter((r) => r.quantity === shape.perUserLimit + 1).length;
    assert.ok(plan.every((r) => r.quantity === 1 || r.quantity === shape.perUserLimit + 1));
    assert.ok(overLimit > 0.05 * plan.length && overLimit < 0.15 * plan.length, `${overLimit}`);
    assert.ok(plan.every((r) => shape.skus.includes(r.sku)));
    assert.equal(new Set(plan.map((r) => r.user)).size, shape.users);
  });

  test('refuses a shape that cannot be a storm', () => {
    assert.throws(() => planStorm({ ...shape, skus: [] }, 1), /skus/);
    assert.throws(() => planStorm({ ...shape, users: 0 }, 1), /users/);
    assert.throws(() => planStorm({ ...shape, duplicateRatio: 1.5 }, 1), /duplicateRatio/);
  });
});

test('percentile is nearest-rank', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 50), 50);
  assert.equal(percentile(sorted, 99), 99);
  assert.equal(percentile(sorted, 100), 100);
  assert.equal(percentile([5], 99), 5);
  assert.equal(percentile([], 50), 0);
});

describe('runStorm straight at the demo shop', () => {
  let app: CheckoutApp;
  before(async () => {
    app = await startCheckoutApp({ port: 0 });
  });
  after(() => app.close());

  test('every request is counted once, and the shop saw exactly the storm', async () => {
    const before = app.stats();
    const seed = 42;
    let progressCalls = 0;
    const result = await runStorm({
      ...shape,
      requests: 600,
      target: app.url,
      concurrency: 16,
      timeoutMs: 5000,
      seed,
      reservationHeader: 'x-flashguard-reservation',
      onProgress: () => (progressCalls += 1),
    });
    const plan = planStorm({ ...shape, requests: 600 }, seed);
    const firstAttempts = plan.filter((r) => !r.retry);

    assert.equal(result.seed, seed);
    assert.equal(result.planned, 600);
    assert.equal(result.sent, 600);
    assert.equal(result.answered, 600);
    assert.equal(result.timeouts + result.resets + result.errors, 0);
    assert.equal(result.retries, plan.length - firstAttempts.length);
    assert.deepEqual(
      result.outcomes.map((o) => [o.status, o.problemType, o.count]),
      [[201, undefined, 600]],
    );
    assert.ok(progressCalls >= 1, 'progress was reported');
    assert.ok(result.latencyMs.p50 > 0 && result.latencyMs.p50 <= result.latencyMs.p99);
    assert.ok(result.latencyMs.p99 <= result.latencyMs.max);

    const stats = app.stats();
    assert.equal(stats.checkoutCalls - before.checkoutCalls, 600);
    // Retries land on their first attempt's order: one order per first attempt.
    assert.equal(stats.orders - before.orders, firstAttempts.length);
    assert.equal(
      stats.units - before.units,
      firstAttempts.reduce((sum, r) => sum + r.quantity, 0),
    );
  });

  test('a failing shop: answers, timeouts and resets still add up to the requests', async () => {
    app.setFaults({ failRatio: 0.2, commitThenHangRatio: 0.1, resetRatio: 0.2 });
    try {
      const result = await runStorm({
        ...shape,
        requests: 300,
        target: app.url,
        concurrency: 16,
        timeoutMs: 300,
        reservationHeader: 'x-flashguard-reservation',
      });
      assert.equal(result.answered + result.timeouts + result.resets + result.errors, 300);
      assert.equal(
        result.outcomes.reduce((sum, o) => sum + o.count, 0),
        result.answered,
      );
      assert.equal(result.errors, 0, result.errorSamples.join('; '));
      assert.ok(result.timeouts > 0, 'commit-then-hang shows as timeouts');
      assert.ok(result.resets > 0, 'resets show as resets');
      assert.ok(result.outcomes.some((o) => o.status === 500));
    } finally {
      app.setFaults({ failRatio: 0, commitThenHangRatio: 0, resetRatio: 0 });
    }
  });

  test('nobody listening: every request is an error, none hangs', async () => {
    const gone = await startCheckoutApp({ port: 0 });
    await gone.close();
    const result = await runStorm({
      ...shape,
      requests: 20,
      target: gone.url,
      concurrency: 4,
      timeoutMs: 2000,
    });
    assert.equal(result.errors, 20);
    assert.match(result.errorSamples.join(), /ECONNREFUSED/);
  });
});
