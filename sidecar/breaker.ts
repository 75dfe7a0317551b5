// A circuit breaker on the upstream checkout, over a sliding time window: it opens on a high
// failure rate or a high slow-call rate once enough calls were seen, stays open for a while,
// then lets a few trial calls through (half-open) and closes or opens again on their result.
// Written here because opossum (the usual Node breaker) has no slow-call rule and no bounded
// half-open permits; the rules follow resilience4j's. Pure: time is an argument.
import type { SaleSettings } from '../api/v1alpha1/index.ts';

/** The FlashSale's `spec.breaker`, defaults filled. */
export type BreakerSettings = SaleSettings['breaker'];

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface CallResult {
  failed: boolean;
  durationMs: number;
}

interface Bucket {
  second: number;
  calls: number;
  failures: number;
  slow: number;
}

export class CircuitBreaker {
  #settings: BreakerSettings;
  #state: BreakerState = 'closed';
  #openedAtMs = 0;
  /** Trial calls let through in this half-open period, and their results so far. */
  #trials = { started: 0, calls: 0, failures: 0, slow: 0 };
  #buckets: Bucket[];

  constructor(settings: BreakerSettings) {
    this.#settings = settings;
    this.#buckets = this.#emptyBuckets();
  }

  configure(settings: BreakerSettings): void {
    const resized = settings.windowSeconds !== this.#settings.windowSeconds;
    this.#settings = settings;
    if (resized) this.#buckets = this.#emptyBuckets();
  }

  /** The state at `nowMs` (an open breaker turns half-open when its open time is over). */
  state(nowMs: number): BreakerState {
    if (this.#state === 'open' && nowMs - this.#openedAtMs >= this.#settings.openSeconds * 1000) {
      this.#state = 'half-open';
      this.#trials = { started: 0, calls: 0, failures: 0, slow: 0 };
    }
    return this.#state;
  }

  /** Asks to make a call; when refused, says how long until the breaker lets calls through. */
  tryAcquire(nowMs: number): { ok: true } | { ok: false; retryAfterMs: number } {
    const state = this.state(nowMs);
    if (state === 'closed') return { ok: true };
    if (state === 'half-open' && this.#trials.started < this.#settings.halfOpenCalls) {
      this.#trials.started += 1;
      return { ok: true };
    }
    const openUntil = this.#openedAtMs + this.#settings.openSeconds * 1000;
    return { ok: false, retryAfterMs: Math.max(1000, openUntil - nowMs) };
  }

  /** Gives back a permit that tryAcquire granted but no upstream call used. */
  cancel(nowMs: number): void {
    if (this.state(nowMs) === 'half-open' && this.#trials.started > this.#trials.calls) {
      this.#trials.started -= 1;
    }
  }

  /** Records the result of a call that tryAcquire allowed. */
  record(result: CallResult, nowMs: number): void {
    const slow = result.durationMs >= this.#settings.slowCallMilliseconds;
    const state = this.state(nowMs);
    if (state === 'half-open') {
      const t = this.#trials;
      t.calls += 1;
      if (result.failed) t.failures += 1;
      if (slow) t.slow += 1;
      if (t.calls >= this.#settings.halfOpenCalls) {
        if (this.#tripped(t.calls, t.failures, t.slow)) this.#open(nowMs);
        else this.#close();
      }
      return;
    }
    if (state === 'open') return; // a call that started before the breaker opened
    const bucket = this.#bucketAt(nowMs);
    bucket.calls += 1;
    if (result.failed) bucket.failures += 1;
    if (slow) bucket.slow += 1;
    const totals = this.#totals(nowMs);
    if (
      totals.calls >= this.#settings.minimumCalls &&
      this.#tripped(totals.calls, totals.failures, totals.slow)
    ) {
      this.#open(nowMs);
    }
  }

  #tripped(calls: number, failures: number, slow: number): boolean {
    return (
      (failures * 100) / calls >= this.#settings.failureRatePercent ||
      (slow * 100) / calls >= this.#settings.slowCallRatePercent
    );
  }

  #open(nowMs: number): void {
    this.#state = 'open';
    this.#openedAtMs = nowMs;
  }

  #close(): void {
    this.#state = 'closed';
    this.#buckets = this.#emptyBuckets();
  }

  #emptyBuckets(): Bucket[] {
    return Array.from({ length: this.#settings.windowSeconds }, () => ({
      second: -1,
      calls: 0,
      failures: 0,
      slow: 0,
    }));
  }

  #bucketAt(nowMs: number): Bucket {
    const second = Math.floor(nowMs / 1000);
    const bucket = this.#buckets[second % this.#buckets.length] as Bucket;
    if (bucket.second !== second) {
      bucket.second = second;
      bucket.calls = bucket.failures = bucket.slow = 0;
    }
    return bucket;
  }

  #totals(nowMs: number): { calls: number; failures: number; slow: number } {
    const oldest = Math.floor(nowMs / 1000) - this.#buckets.length + 1;
    const totals = { calls: 0, failures: 0, slow: 0 };
    for (const b of this.#buckets) {
      if (b.second >= oldest) {
        totals.calls += b.calls;
        totals.failures += b.failures;
        totals.slow += b.slow;
      }
    }
    return totals;
  }
}
