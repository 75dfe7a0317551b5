// The fault-injection scenario: several standalone sidecars on one sale, a shopper storm through
// each, one sidecar killed with SIGKILL twice (a replacement started in between), and windows of
// shop failures (5xx, commit-then-hang, connection resets). Afterwards, once the reaper settled
// what was in doubt, the figures every promise is checked against. Shared by the test and
// `npm run bench -- chaos`.
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { SaleLedger, saleKeys } from '../../ledger/index.ts';
import { runStorm, type StormResult } from '../demo/storm.ts';
import { waitFor } from '../support/process.ts';
import { startRedis } from '../support/redis.ts';
import { flashSale, startShop, startSidecar, type RunningSidecar } from '../support/sidecar.ts';

export interface ChaosOptions {
  /** Survivors; one more sidecar is the victim. */
  survivors: number;
  stock: number;
  /** Per storm: one per survivor, one per incarnation of the victim. */
  requests: number;
}

export interface ChaosFigures {
  /** Units the shop committed beyond the stock. */
  oversold: number;
  /** Units neither available, reserved nor sold, plus units sold in the ledger that no order holds. */
  lost_units: number;
  /** Requests to surviving sidecars that got no answer. */
  unanswered: number;
  /** Reservations still pending or in doubt once the reaper had its time. */
  in_doubt_unsettled: number;
  committed_units: number;
  ledger_sold: number;
  upstream_calls: number;
  /** Reservations made; each upstream call needs one. */
  admitted: number;
  answered: number;
  victim_unanswered: number;
  settle_ms: number;
  /** Answers by `status problem-type`, over every storm. */
  outcomes: Record<string, number>;
}

const SALE = 'chaos';
const FAULT_WINDOW_MS = 500;
// A slow shop throughout (so kills catch checkouts in flight), then 5xx, then lost answers.
const FAULTS = [
  { delayMs: 15 },
  { failRatio: 0.2 },
  { failRatio: 0, commitThenHangRatio: 0.1, resetRatio: 0.05 },
  { commitThenHangRatio: 0, resetRatio: 0 },
];

function storm(target: string, requests: number, seed: number, onThird = () => undefined) {
  let fired = false;
  return runStorm({
    target,
    skus: ['phone'],
    users: requests,
    requests,
    duplicateRatio: 0.1,
    overLimitRatio: 0.05,
    perUserLimit: 2,
    concurrency: 4,
    timeoutMs: 10_000,
    seed,
    progressIntervalMs: 20,
    onProgress: (progress) => {
      if (!fired && progress.sent >= requests / 3) {
        fired = true;
        onThird();
      }
    },
  });
}

const unanswered = (storms: readonly StormResult[]) =>
  storms.reduce((n, s) => n + s.planned - s.answered, 0);

function outcomes(storms: readonly StormResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { status, problemType, count } of storms.flatMap((s) => s.outcomes)) {
    const key = `${String(status)} ${problemType?.replace(/^.*\//, '') ?? ''}`.trim();
    counts[key] = (counts[key] ?? 0) + count;
  }
  return counts;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosFigures> {
  const redis = await startRedis();
  const shop = await startShop();
  const client = new Redis(redis.port, '127.0.0.1');
  const running: RunningSidecar[] = [];
  // One manifest for every sidecar: the same file, so none reloads the ledger.
  const sale = flashSale(SALE, {
    items: [{ sku: 'phone', stock: options.stock, perUserLimit: 2 }],
    checkout: { upstreamTimeoutMilliseconds: 1000 },
    reservation: { ttlSeconds: 2 },
    orderStatus: { url: `${shop.url}/orders/{reservation}` },
  });
  const start = async (id: string) => {
    const sidecar = await startSidecar({ sale, upstream: shop.url, redisUrl: redis.url, id });
    running.push(sidecar);
    return sidecar;
  };
  try {
    const ledger = new SaleLedger(client, { namespace: 'shop', name: SALE });
    const survivors = [];
    for (let i = 0; i < options.survivors; i++) survivors.push(await start(`survivor-${i}`));
    const firstVictim = await start('victim-1');

    const faults = (async () => {
      for (const window of FAULTS) {
        await shop.setFaults(window);
        await sleep(FAULT_WINDOW_MS);
      }
    })();
    // The victim's second incarnation starts when the first dies and is killed in turn.
    const victimStorms = (async () => {
      const first = await storm(firstVictim.url, options.requests, 100, () => {
        void firstVictim.process.stop('SIGKILL');
      });
      const second = await start('victim-2');
      const again = await storm(second.url, options.requests, 101, () => {
        void second.process.stop('SIGKILL');
      });
      return [first, again];
    })();
    const survivorStorms = await Promise.all(
      survivors.map((s, i) => storm(s.url, options.requests, i + 1)),
    );
    const victims = await victimStorms;
    await faults;
    await shop.setFaults({ delayMs: 0 });

    // The reaper: expired pending → in-doubt → settled through the shop's order status.
    const settleStarted = performance.now();
    const settled = await waitFor(
      'every reservation settled',
      async () => {
        const item = (await ledger.snapshot())?.items[0];
        return item !== undefined && item.reserved === 0 ? item : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    ).catch(async () => (await ledger.snapshot())?.items[0]);
    const settleMs = performance.now() - settleStarted;
    if (settled === undefined) throw new Error('the sale has no ledger');

    const stats = await shop.stats();
    const committed = stats.skus.phone?.units ?? 0;
    const orderIds = await client.hkeys(saleKeys({ namespace: 'shop', name: SALE }).orders);
    const gap = settled.total - settled.available - settled.reserved - settled.sold;
    return {
      oversold: Math.max(0, committed - options.stock),
      lost_units: Math.abs(gap) + Math.max(0, settled.sold - committed),
      unanswered: unanswered(survivorStorms),
      in_doubt_unsettled: settled.reserved,
      committed_units: committed,
      ledger_sold: settled.sold,
      upstream_calls: stats.checkoutCalls,
      admitted: orderIds.filter((id) => !id.includes('#')).length,
      answered: [...survivorStorms, ...victims].reduce((n, s) => n + s.answered, 0),
      victim_unanswered: unanswered(victims),
      settle_ms: Math.round(settleMs),
      outcomes: outcomes([...survivorStorms, ...victims]),
    };
  } finally {
    for (const sidecar of running) await sidecar.stop();
    client.disconnect();
    await shop.stop();
    await redis.destroy();
  }
}

/** `npm run bench -- chaos [--quick] --json`: the scenario's figures, one JSON object. */
export async function chaosBenchmark(options: {
  quick: boolean;
}): Promise<Record<string, unknown>> {
  const figures = await runChaos(
    options.quick
      ? { survivors: 2, stock: 400, requests: 300 }
      : { survivors: 3, stock: 1500, requests: 1000 },
  );
  return { ...figures };
}
