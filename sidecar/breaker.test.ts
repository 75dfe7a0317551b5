import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CircuitBreaker, type BreakerSettings, type CallResult } from './breaker.ts';

const settings: BreakerSettings = {
  failureRatePercent: 50,
  slowCallRatePercent: 80,
  slowCallMilliseconds: 1000,
  minimumCalls: 10,
  windowSeconds: 10,
  openSeconds: 5,
  halfOpenCalls: 3,
};
type Result = CallResult;
const times = (n: number, r: Result): Result[] => Array.from({ length: n }, () => r);
const ok = { failed: false, durationMs: 10 };
const fail = { failed: true, durationMs: 10 };
const slow = { failed: false, durationMs: 1500 };

function feed(
  breaker: CircuitBreaker,
  results: { failed: boolean; durationMs: number }[],
  at: number,
) {
  for (const r of results) {
    assert.equal(breaker.tryAcquire(at).ok, true);
    breaker.record(r, at);
  }
}

describe('circuit breaker', () => {
  test('stays closed below the minimum number of calls, whatever they were', () => {
    const b = new CircuitBreaker(settings);
    feed(b, times(9, fail), 0);
    assert.equal(b.state(0), 'closed');
  });

  test('opens at the failure rate once enough calls were seen, and refuses with Retry-After', () => {
    const b = new CircuitBreaker(settings);
    feed(b, [...times(5, ok), ...times(4, fail)], 0);
    assert.equal(b.state(0), 'closed');
    feed(b, [fail], 100); // 5 of 10 failed: 50 %
    assert.equal(b.state(100), 'open');
    assert.deepEqual(b.tryAcquire(2100), { ok: false, retryAfterMs: 3000 });
  });

  test('opens at the slow-call rate even when every call succeeds', () => {
    const b = new CircuitBreaker(settings);
    feed(b, [...times(2, ok), ...times(7, slow)], 0);
    assert.equal(b.state(0), 'closed');
    feed(b, [slow], 0); // 8 of 10 slow: 80 %
    assert.equal(b.state(0), 'open');
  });

  test('forgets calls older than its window', () => {
    const b = new CircuitBreaker(settings);
    feed(b, times(9, fail), 0);
    feed(b, times(5, ok), 10_500); // the failures are out of the 10 s window now
    assert.equal(b.state(10_500), 'closed');
  });

  test('half-opens after the open time, lets exactly halfOpenCalls through, then closes', () => {
    const b = new CircuitBreaker(settings);
    feed(b, times(10, fail), 0);
    assert.equal(b.state(4999), 'open');
    assert.equal(b.state(5000), 'half-open');
    assert.equal(b.tryAcquire(5000).ok, true);
    assert.equal(b.tryAcquire(5000).ok, true);
    assert.equal(b.tryAcquire(5000).ok, true);
    assert.equal(b.tryAcquire(5000).ok, false, 'a fourth trial call is refused');
    b.record(ok, 5010);
    b.record(ok, 5010);
    assert.equal(b.state(5010), 'half-open');
    b.record(ok, 5020);
    assert.equal(b.state(5020), 'closed');
    // Closing starts a fresh window: one failure does not reopen it.
    feed(b, [fail], 5030);
    assert.equal(b.state(5030), 'closed');
  });

  test('opens again when the trial calls fail', () => {
    const b = new CircuitBreaker(settings);
    feed(b, times(10, fail), 0);
    feed(b, [ok, fail, fail], 5000);
    assert.equal(b.state(5000), 'open');
    assert.equal(b.tryAcquire(9999).ok, false);
    assert.equal(b.state(10_000), 'half-open');
  });

  test('a trial permit that was not used is given back', () => {
    const b = new CircuitBreaker(settings);
    feed(b, times(10, fail), 0);
    for (let i = 0; i < 3; i++) assert.equal(b.tryAcquire(5000).ok, true);
    b.cancel(5000);
    assert.equal(b.tryAcquire(5000).ok, true);
    assert.equal(b.tryAcquire(5000).ok, false);
  });
});
