// The work queue between the informer and the reconciler, after client-go's: a key waits at most
// once (dedupe), is never handed to two workers at once (added while processing, it comes back
// when done), and retries are delayed by small composable rate limiters.

export interface Clock {
  now(): number;
  /** Runs `fn` after `ms`; the result cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => {
      clearTimeout(timer);
    };
  },
};

/** How long to wait before retrying `key`, client-go's three methods. */
export interface RateLimiter {
  when(key: string): number;
  forget(key: string): void;
  numRequeues(key: string): number;
}

/** base × 2^failures per key, at most `capMs`. */
export function exponentialBackoff(baseMs: number, capMs: number): RateLimiter {
  const failures = new Map<string, number>();
  return {
    when(key) {
      const n = failures.get(key) ?? 0;
      failures.set(key, n + 1);
      return Math.min(capMs, baseMs * 2 ** n);
    },
    forget(key) {
      failures.delete(key);
    },
    numRequeues: (key) => failures.get(key) ?? 0,
  };
}

/** A token bucket over all keys: at most `perSecond` retries a second after `burst`. */
export function overallRate(perSecond: number, burst: number, clock: Clock): RateLimiter {
  // The time at which the next token is free; reserving moves it forward.
  let nextFree = -Infinity;
  const interval = 1000 / perSecond;
  return {
    when() {
      const now = clock.now();
      nextFree = Math.max(nextFree, now - burst * interval) + interval;
      return Math.max(0, nextFree - now);
    },
    forget() {
      // Not per key.
    },
    numRequeues: () => 0,
  };
}

/** The longest delay of several limiters (client-go's MaxOfRateLimiter). */
export function maxOf(...limiters: RateLimiter[]): RateLimiter {
  return {
    when: (key) => Math.max(...limiters.map((l) => l.when(key))),
    forget(key) {
      for (const l of limiters) l.forget(key);
    },
    numRequeues: (key) => Math.max(...limiters.map((l) => l.numRequeues(key))),
  };
}

export class WorkQueue {
  readonly #limiter: RateLimiter;
  readonly #clock: Clock;
  readonly #queue: string[] = [];
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #timers = new Map<string, { at: number; cancel: () => void }>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #idle: (() => void)[] = [];
  #shuttingDown = false;

  constructor(limiter: RateLimiter, clock: Clock = systemClock) {
    this.#limiter = limiter;
    this.#clock = clock;
  }

  get length(): number {
    return this.#queue.length;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    const waiter = this.#waiters.shift();
    if (waiter === undefined) this.#queue.push(key);
    else {
      this.#dirty.delete(key);
      this.#processing.add(key);
      waiter(key);
    }
  }

  /** Adds `key` after `ms`; an earlier pending add for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + ms;
    const pending = this.#timers.get(key);
    if (pending !== undefined && pending.at <= at) return;
    pending?.cancel();
    const cancel = this.#clock.setTimer(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    this.#timers.set(key, { at, cancel });
  }

  /** Retries `key` after its rate limiters' delay. */
  addRateLimited(key: string): void {
    this.addAfter(key, this.#limiter.when(key));
  }

  /** `key` succeeded: its backoff starts over. */
  forget(key: string): void {
    this.#limiter.forget(key);
  }

  numRequeues(key: string): number {
    return this.#limiter.numRequeues(key);
  }

  /** The next key to work on; undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#dirty.delete(key);
      this.#processing.add(key);
      return Promise.resolve(key);
    }
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Work on `key` finished; if it was added meanwhile, it is queued again. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.has(key)) {
      this.#dirty.delete(key);
      this.add(key);
    }
    if (this.#processing.size === 0) for (const idle of this.#idle.splice(0)) idle();
  }

  /** Takes no more work, wakes idle workers and resolves once in-flight work is done. */
  async shutDown(): Promise<void> {
    this.#shuttingDown = true;
    for (const { cancel } of this.#timers.values()) cancel();
    this.#timers.clear();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
    this.#queue.length = 0;
    this.#dirty.clear();
    if (this.#processing.size > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
  }
}
