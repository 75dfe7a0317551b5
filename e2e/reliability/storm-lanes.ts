// Shoppers that keep storming a set of sidecars until told to stop: one lane per sidecar, small
// storms back to back, so faults injected on their own schedule always find checkouts in flight.
// A lane's sidecar can be swapped (a killed one replaced); each storm is booked to the sidecar it
// was sent to, so the answers of killed incarnations can be told from those of the others.
import { setTimeout as sleep } from 'node:timers/promises';
import { runStorm, type StormResult } from '../demo/storm.ts';
import type { RunningSidecar } from '../support/sidecar.ts';

export interface LaneShape {
  /** The SKU every storm buys. */
  sku?: string;
  /** Requests per storm. */
  roundRequests: number;
  concurrency: number;
  /** Pause between storms: the pace (and the size) of a run. */
  pauseMs: number;
}

export interface Lane {
  current: RunningSidecar;
}

export interface LaneRun {
  readonly lanes: Lane[];
  /** Every storm, by the sidecar it went to. */
  readonly storms: Map<RunningSidecar, StormResult[]>;
  /** Ends every lane after its storm in flight; resolves once all ended. */
  stop(): Promise<void>;
}

// Users drawn from a million: distinct across storms, so per-user limits rarely bite.
const USERS = 1_000_000;

const DEAD_SIDECAR_PAUSE_MS = 200;

let seeds = 1;

/** One storm of `requests` through `target`, with the reliability suite's shopper mix. */
export function shopperStorm(
  target: string,
  requests: number,
  concurrency: number,
  sku = 'phone',
): Promise<StormResult> {
  return runStorm({
    target,
    skus: [sku],
    users: USERS,
    requests,
    duplicateRatio: 0.1,
    overLimitRatio: 0.05,
    perUserLimit: 2,
    concurrency,
    timeoutMs: 10_000,
    seed: seeds++,
  });
}

export function startLanes(sidecars: readonly RunningSidecar[], shape: LaneShape): LaneRun {
  const lanes: Lane[] = sidecars.map((current) => ({ current }));
  const storms = new Map<RunningSidecar, StormResult[]>();
  let stopping = false;
  const drive = async (lane: Lane) => {
    while (!stopping) {
      const sidecar = lane.current;
      const result = await shopperStorm(
        sidecar.url,
        shape.roundRequests,
        shape.concurrency,
        shape.sku,
      );
      storms.set(sidecar, [...(storms.get(sidecar) ?? []), result]);
      // A killed sidecar refuses at once: without a floor its lane would spin until replaced.
      await sleep(
        result.answered === 0 ? Math.max(shape.pauseMs, DEAD_SIDECAR_PAUSE_MS) : shape.pauseMs,
      );
    }
  };
  const driving = Promise.all(lanes.map(drive));
  return {
    lanes,
    storms,
    async stop() {
      stopping = true;
      await driving;
    },
  };
}

/** What a set of storms added up to. */
export function summarize(storms: readonly StormResult[], elapsedMs: number) {
  const answered = storms.reduce((n, s) => n + s.answered, 0);
  const committed = storms
    .flatMap((s) => s.outcomes)
    .reduce((n, o) => n + (o.status === 201 ? o.count : 0), 0);
  return {
    requests: storms.reduce((n, s) => n + s.planned, 0),
    answered,
    unanswered: storms.reduce((n, s) => n + s.planned - s.answered, 0),
    answered_per_second: Math.round((answered / elapsedMs) * 1000),
    // Answers include fast refusals (breaker open, Redis away): checkouts sold show the cost.
    sold_per_second: Math.round((committed / elapsedMs) * 1000),
    // Storms report percentiles, not samples: the worst storm's p99 bounds the run's.
    worst_storm_p99_ms: Math.round(Math.max(0, ...storms.map((s) => s.latencyMs.p99))),
  };
}

/** Answers by `status problem-type`, over every storm. */
export function outcomes(storms: readonly StormResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { status, problemType, count } of storms.flatMap((s) => s.outcomes)) {
    const key = `${String(status)} ${problemType?.replace(/^.*\//, '') ?? ''}`.trim();
    counts[key] = (counts[key] ?? 0) + count;
  }
  return counts;
}
