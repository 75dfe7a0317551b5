// A shopper storm through a sidecar with a crash injected mid-storm, and what the shop committed
// afterwards: the measure of oversell (design.md §4: never from the ledger alone). While Redis is
// away checkouts fail in a millisecond, so the storm comes in two halves: the crash lands in the
// first; the second starts once the sidecar is ready again and sells what is left.
import { runStorm, type OutcomeCount, type StormResult } from '../demo/storm.ts';
import { waitFor } from '../support/process.ts';
import type { RunningShop } from '../support/sidecar.ts';

export interface CrashedStorm {
  /** Both halves' answers, added up. */
  outcomes: OutcomeCount[];
  /** Requests that got no answer. */
  unanswered: number;
  /** Units the shop committed for the SKU. */
  committed: number;
  /** Committed units beyond the stock: must be 0. */
  oversold: number;
}

function addOutcomes(storms: readonly StormResult[]): OutcomeCount[] {
  const sums = new Map<string, OutcomeCount>();
  for (const outcome of storms.flatMap((s) => s.outcomes)) {
    const key = `${String(outcome.status)} ${outcome.problemType ?? ''}`;
    const sum = sums.get(key);
    if (sum === undefined) sums.set(key, { ...outcome });
    else sum.count += outcome.count;
  }
  return [...sums.values()];
}

/** Storms the sidecar at `target` for `sku`; `crash` runs halfway through the first half. */
export async function stormWithCrash(options: {
  target: string;
  opsUrl: string;
  shop: RunningShop;
  sku: string;
  stock: number;
  /** Per half. */
  requests: number;
  crash: () => Promise<void>;
}): Promise<CrashedStorm> {
  let crashing: Promise<void> | undefined;
  const half = (seed: number, crashAt: number) =>
    runStorm({
      target: options.target,
      skus: [options.sku],
      users: options.requests,
      requests: options.requests,
      duplicateRatio: 0.1,
      overLimitRatio: 0.05,
      perUserLimit: 2,
      concurrency: 8,
      timeoutMs: 15_000,
      seed,
      progressIntervalMs: 20,
      onProgress: (progress) => {
        if (crashing === undefined && progress.sent >= crashAt) crashing = options.crash();
      },
    });
  const first = await half(1, options.requests / 2);
  await crashing;
  await waitFor(
    'the sidecar to be ready again',
    async () => ((await fetch(`${options.opsUrl}/readyz`)).ok ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 200 },
  );
  const second = await half(2, Infinity);
  const committed = (await options.shop.stats()).skus[options.sku]?.units ?? 0;
  return {
    outcomes: addOutcomes([first, second]),
    unanswered: [first, second].reduce((n, s) => n + s.planned - s.answered, 0),
    committed,
    oversold: Math.max(0, committed - options.stock),
  };
}
