// Coalesces the calls made during one event-loop turn into one call per group. In a storm a
// sidecar reads many checkouts in one turn, and each needs a reserve and later a settle: one
// script call per turn instead of one per checkout costs the sidecar and Redis far less per
// checkout (measured with `npm run bench -- storm`). The flush runs in the turn's check phase
// (setImmediate), after every socket read in it, so a lone call waits for no timer.

interface Waiter<Request, Result> {
  request: Request;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/**
 * Runs one group's requests as one call; returns one result per request, in order. A group only
 * keeps apart requests that cannot share a call: the requests themselves say how to run them.
 */
export type BatchRunner<Request, Result> = (
  requests: readonly Request[],
) => Promise<readonly Result[]>;

export class TurnBatcher<Request, Result> {
  readonly #run: BatchRunner<Request, Result>;
  readonly #maxBatch: number;
  #groups = new Map<string, Waiter<Request, Result>[]>();
  #scheduled = false;

  /** `maxBatch` bounds one call, so one script never holds Redis for long. */
  constructor(run: BatchRunner<Request, Result>, maxBatch: number) {
    this.#run = run;
    this.#maxBatch = maxBatch;
  }

  /** Resolves with this request's result once its group's call of this turn returns. */
  add(request: Request, group = ''): Promise<Result> {
    return new Promise((resolve, reject) => {
      let waiters = this.#groups.get(group);
      if (waiters === undefined) {
        waiters = [];
        this.#groups.set(group, waiters);
      }
      waiters.push({ request, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#flush();
        });
      }
    });
  }

  #flush(): void {
    const groups = this.#groups;
    this.#groups = new Map();
    this.#scheduled = false;
    for (const waiters of groups.values()) {
      for (let start = 0; start < waiters.length; start += this.#maxBatch) {
        void this.#call(waiters.slice(start, start + this.#maxBatch));
      }
    }
  }

  async #call(waiters: readonly Waiter<Request, Result>[]): Promise<void> {
    try {
      const results = await this.#run(waiters.map((w) => w.request));
      if (results.length !== waiters.length) {
        throw new Error(`a batch of ${waiters.length} got ${results.length} results`);
      }
      waiters.forEach((w, i) => {
        w.resolve(results[i] as Result);
      });
    } catch (error) {
      for (const w of waiters) w.reject(error);
    }
  }
}
