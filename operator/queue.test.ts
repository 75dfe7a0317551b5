import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exponentialBackoff, maxOf, overallRate, WorkQueue, type Clock } from './queue.ts';

/** A clock whose timers run only when the test moves time forward. */
function fakeClock(): Clock & { advance(ms: number): void } {
  let now = 0;
  let timers: { at: number; fn: () => void }[] = [];
  return {
    now: () => now,
    setTimer(fn, ms) {
      const timer = { at: now + ms, fn };
      timers.push(timer);
      return () => {
        timers = timers.filter((t) => t !== timer);
      };
    },
    advance(ms) {
      now += ms;
      const due = timers.filter((t) => t.at <= now).sort((a, b) => a.at - b.at);
      timers = timers.filter((t) => t.at > now);
      for (const t of due) t.fn();
    },
  };
}

const noLimit = exponentialBackoff(0, 0);

void describe('WorkQueue', () => {
  it('hands a key added twice out once', async () => {
    const q = new WorkQueue(noLimit);
    q.add('a');
    q.add('a');
    q.add('b');
    assert.equal(q.length, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
  });

  it('never hands a key to two workers: added while processing, it comes back when done', async () => {
    const q = new WorkQueue(noLimit);
    q.add('a');
    const key = await q.get();
    q.add('a');
    assert.equal(q.length, 0);
    q.done(key ?? '');
    assert.equal(q.length, 1);
    assert.equal(await q.get(), 'a');
  });

  it('wakes a waiting worker', async () => {
    const q = new WorkQueue(noLimit);
    const next = q.get();
    q.add('a');
    assert.equal(await next, 'a');
  });

  it('adds after a delay; the earlier of two delayed adds wins', () => {
    const clock = fakeClock();
    const q = new WorkQueue(noLimit, clock);
    q.addAfter('a', 1000);
    q.addAfter('a', 500);
    q.addAfter('a', 2000);
    clock.advance(499);
    assert.equal(q.length, 0);
    clock.advance(1);
    assert.equal(q.length, 1);
    clock.advance(5000);
    assert.equal(q.length, 1);
  });

  it('backs off per key exponentially up to the cap, and forget starts over', async () => {
    const clock = fakeClock();
    const q = new WorkQueue(exponentialBackoff(100, 500), clock);
    for (const expected of [100, 200, 400, 500, 500]) {
      q.addRateLimited('a');
      clock.advance(expected - 1);
      assert.equal(q.length, 0, `before ${expected} ms`);
      clock.advance(1);
      assert.equal(q.length, 1, `at ${expected} ms`);
      q.done((await q.get()) ?? '');
    }
    assert.equal(q.numRequeues('a'), 5);
    q.forget('a');
    assert.equal(q.numRequeues('a'), 0);
  });

  it('limits the overall retry rate across keys', () => {
    const clock = fakeClock();
    const limiter = maxOf(exponentialBackoff(1, 1000), overallRate(10, 2, clock));
    const delays = ['a', 'b', 'c', 'd'].map((k) => limiter.when(k));
    // Two from the burst at once, then one every 100 ms.
    assert.deepEqual(delays, [1, 1, 100, 200]);
  });

  it('shutDown wakes idle workers and waits for work in flight', async () => {
    const q = new WorkQueue(noLimit);
    q.add('a');
    const key = await q.get();
    const idle = q.get();
    let stopped = false;
    const stopping = q.shutDown().then(() => {
      stopped = true;
    });
    assert.equal(await idle, undefined);
    q.add('b');
    assert.equal(q.length, 0);
    await Promise.resolve();
    assert.equal(stopped, false);
    q.done(key ?? '');
    await stopping;
    assert.equal(stopped, true);
  });
});
