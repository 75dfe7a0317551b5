// The fault-injection scenario, operator-managed: a real control plane, two operator replicas
// (leader election on the Lease), a FlashSale applied with kubectl for a workload, Redis with AOF,
// sidecars in workload mode in front of the demo shop. First a reference storm with no faults,
// then the same storm with every fault of the reliability issue injected in turn: kill -9 of a
// sidecar (twice, replaced each time), the shop answering 5xx until the breakers open (and
// healthy again until they close), commit-then-hang and connection resets, a graceful Redis
// restart, kill -9 of the operator leader, an apiserver restart. Then a storm that sells out,
// one wait for the operator's reaper to settle what is in doubt through the shop's order
// status, and the figures every promise is checked against. Shared by the test and
// `npm run bench -- chaos`.
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SaleLedger, saleKeys } from '../../ledger/index.ts';
import { connectRedis } from '../../sidecar/redis.ts';
import { startControlPlane } from '../controlplane/controlplane.ts';
import { flashSales, installFlashSaleCrd, isReady, startOperator } from '../support/operator.ts';
import type { RunningOperator } from '../support/operator.ts';
import { waitFor } from '../support/process.ts';
import { startRedis } from '../support/redis.ts';
import { flashSale, startShop, startSidecar, type RunningSidecar } from '../support/sidecar.ts';
import { outcomes, shopperStorm, startLanes, summarize, type LaneShape } from './storm-lanes.ts';

export interface ChaosOptions extends LaneShape {
  /** Sidecars that stay up; one more lane's sidecar is killed twice. */
  survivors: number;
  stock: number;
  /** How long the reference (fault-free) storm runs. */
  referenceMs: number;
}

const SALE = 'chaos';
const REFERENCE_SKU = 'reference';
const REFERENCE_STOCK = 1_000_000;
const WORKLOAD = 'shop/Deployment/checkout';
// A slow shop throughout, so kills catch checkouts in flight.
const SHOP_DELAY_MS = 20;
const FAULT_WINDOW_MS = 1500;
const BREAKER = {
  failureRatePercent: 50,
  minimumCalls: 5,
  windowSeconds: 2,
  openSeconds: 1,
  halfOpenCalls: 2,
};

const BREAKER_OPEN = 2;
const BREAKER_CLOSED = 0;

async function breakerStates(sidecar: RunningSidecar): Promise<number[]> {
  const res = await fetch(`${sidecar.opsUrl}/metrics`, { signal: AbortSignal.timeout(2000) });
  const text = await res.text();
  return [...text.matchAll(/^flashguard_breaker_state\{[^}]*\} (\d+)$/gm)].map((m) => Number(m[1]));
}

/**
 * Watches the sidecars' breakers: which opened, which of those closed again after, and every
 * change seen (`name state@ms`, 0 closed, 1 half-open, 2 open).
 */
function watchBreakers(
  sidecars: () => readonly RunningSidecar[],
  name: (sidecar: RunningSidecar) => string,
) {
  const opened = new Set<RunningSidecar>();
  const closedAfterOpen = new Set<RunningSidecar>();
  const last = new Map<RunningSidecar, string>();
  const changes: string[] = [];
  const started = performance.now();
  let watching = true;
  const poll = async () => {
    while (watching) {
      for (const sidecar of sidecars()) {
        const states = await breakerStates(sidecar).catch((): number[] => []);
        const seen = states.join(',');
        if (seen !== '' && seen !== last.get(sidecar)) {
          last.set(sidecar, seen);
          changes.push(
            `${name(sidecar)} ${seen}@${String(Math.round(performance.now() - started))}`,
          );
        }
        if (states.includes(BREAKER_OPEN)) {
          opened.add(sidecar);
          closedAfterOpen.delete(sidecar);
        } else if (opened.has(sidecar) && states.includes(BREAKER_CLOSED)) {
          closedAfterOpen.add(sidecar);
        }
      }
      await sleep(100);
    }
  };
  const polling = poll();
  return {
    opened: () => opened.size > 0,
    // A killed sidecar's breaker dies with it: only those still running must have closed.
    closed: () =>
      closedAfterOpen.size > 0 && sidecars().every((s) => !opened.has(s) || closedAfterOpen.has(s)),
    changes,
    async stop() {
      watching = false;
      await polling;
    },
  };
}

async function isLeader(operator: RunningOperator): Promise<boolean> {
  const res = await fetch(`${operator.opsUrl}/metrics`, { signal: AbortSignal.timeout(2000) });
  return /^flashguard_operator_leader 1$/m.test(await res.text());
}

/** Bounded wait that records a miss instead of failing the run: the figures then say so. */
const within = (what: string, probe: () => boolean | Promise<boolean>, timeoutMs: number) =>
  waitFor(what, async () => ((await probe()) ? true : undefined), { timeoutMs, intervalMs: 100 })
    .then(() => true)
    .catch(() => false);

export async function runChaos(options: ChaosOptions) {
  const [cp, redis, shop] = await Promise.all([
    startControlPlane(),
    startRedis({ aof: true }),
    startShop(),
  ]);
  const client = connectRedis(redis.url);
  const sidecars: RunningSidecar[] = [];
  const names = new Map<RunningSidecar, string>();
  const operators: RunningOperator[] = [];
  const start = async (id: string) => {
    const sidecar = await startSidecar({
      workload: WORKLOAD,
      upstream: shop.url,
      redisUrl: redis.url,
      id,
      // Beside the control plane's logs (kept with FLASHGUARD_KEEP_TESTBED=1).
      dir: mkdtempSync(join(cp.dir, 'logs', `${id}-`)),
    });
    sidecars.push(sidecar);
    names.set(sidecar, id);
    return sidecar;
  };
  try {
    await installFlashSaleCrd(cp);
    await cp.kubectl(['create', 'namespace', 'shop']);
    for (const identity of ['operator-a', 'operator-b']) {
      operators.push(
        await startOperator({
          kubeconfig: cp.kubeconfig,
          redisUrl: redis.url,
          identity,
          logDir: join(cp.dir, 'logs'),
          leaseSeconds: 3,
        }),
      );
    }
    const sales = flashSales(cp);
    await sales.apply(
      flashSale(SALE, {
        workload: { name: 'checkout' },
        items: [
          { sku: 'phone', stock: options.stock, perUserLimit: 2 },
          // The reference storm buys this one, so the chaos storm finds the stock untouched.
          { sku: REFERENCE_SKU, stock: REFERENCE_STOCK, perUserLimit: 2 },
        ],
        checkout: { upstreamTimeoutMilliseconds: 1000 },
        reservation: { ttlSeconds: 2 },
        orderStatus: { url: `${shop.url}/orders/{reservation}` },
        breaker: BREAKER,
      }),
    );
    await waitFor(
      `shop/${SALE} Ready`,
      async () => (isReady(await sales.get(SALE, 'shop')) ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await shop.setFaults({ delayMs: SHOP_DELAY_MS });
    const survivors: RunningSidecar[] = [];
    for (let i = 0; i < options.survivors; i++) survivors.push(await start(`survivor-${i}`));
    const firstVictim = await start('victim-1');

    // The reference: the same storm, no faults.
    const referenceStarted = performance.now();
    const reference = startLanes([...survivors, firstVictim], { ...options, sku: REFERENCE_SKU });
    await sleep(options.referenceMs);
    await reference.stop();
    const referenceFigures = summarize(
      [...reference.storms.values()].flat(),
      performance.now() - referenceStarted,
    );

    const chaosStarted = performance.now();
    const lanes = startLanes([...survivors, firstVictim], options);
    const victimLane = lanes.lanes.at(-1);
    if (victimLane === undefined) throw new Error('no victim lane');
    const breakers = watchBreakers(
      () => lanes.lanes.map((l) => l.current),
      (s) => names.get(s) ?? '',
    );
    const killed = new Set<RunningSidecar>();
    const injected: string[] = [];
    const inject = (fault: string) => {
      injected.push(`${fault}@${String(Math.round(performance.now() - chaosStarted))}`);
    };
    const killVictim = async (replacement: string) => {
      const victim = victimLane.current;
      inject(`sidecar ${names.get(victim) ?? ''} SIGKILL`);
      await victim.process.stop('SIGKILL');
      killed.add(victim);
      victimLane.current = await start(replacement);
    };

    await sleep(FAULT_WINDOW_MS);
    await killVictim('victim-2');

    await shop.setFaults({ failRatio: 1 });
    inject('shop 5xx');
    await within('a breaker to open', breakers.opened, 20_000);
    await shop.setFaults({ failRatio: 0 });
    await within('the open breakers to close', breakers.closed, 20_000);

    await shop.setFaults({ commitThenHangRatio: 0.1, resetRatio: 0.05 });
    inject('shop commit-then-hang and resets');
    await sleep(FAULT_WINDOW_MS);
    await shop.setFaults({ commitThenHangRatio: 0, resetRatio: 0 });

    await redis.stop('SIGTERM');
    await redis.start();
    inject('redis graceful restart');
    await sleep(FAULT_WINDOW_MS);

    await killVictim('victim-3');

    const oldLeader = await waitFor('an operator leader', async () => {
      for (const operator of operators) if (await isLeader(operator)) return operator;
      return undefined;
    });
    const standby = operators.find((o) => o !== oldLeader);
    await oldLeader.process.stop('SIGKILL');
    inject('operator leader SIGKILL');
    const leaderKilledAt = performance.now();
    const takeover =
      standby !== undefined &&
      (await within('the standby to lead', () => isLeader(standby).catch(() => false), 30_000));
    // Measured here: the fault timeline's next mark also counts the apiserver restart.
    const takeoverMs = Math.round(performance.now() - leaderKilledAt);

    await cp.restartApiServer();
    inject('apiserver restart');
    await sleep(FAULT_WINDOW_MS);
    // A breaker may have opened again on the later faults; the storm goes on until it closes.
    await within('the breakers to close', breakers.closed, 20_000);

    await lanes.stop();
    await breakers.stop();
    const chaosMs = performance.now() - chaosStarted;

    // Sell what is left, so the stock is what bounds the orders.
    const ledger = new SaleLedger(client, { namespace: 'shop', name: SALE });
    const items = async () => (await ledger.snapshot())?.items ?? [];
    const left = (await items()).find((i) => i.sku === 'phone')?.available ?? 0;
    const drain = await Promise.all(
      survivors.map((s) =>
        shopperStorm(s.url, Math.ceil((left * 1.2) / survivors.length) + 10, options.concurrency),
      ),
    );

    // The operator's reaper: expired pending → in-doubt → settled through the order status.
    const settleStarted = performance.now();
    const settled = await waitFor(
      'every reservation settled',
      async () => {
        const now = await items();
        return now.length > 0 && now.every((i) => i.reserved === 0) ? now : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    ).catch(items);
    const settleMs = performance.now() - settleStarted;
    const phone = settled.find((i) => i.sku === 'phone');
    if (phone === undefined) throw new Error('the sale has no ledger');

    const stats = await shop.stats();
    const committed = (sku: string) => stats.skus[sku]?.units ?? 0;
    // Per SKU: units neither available, reserved nor sold, and units sold with no order.
    const lost = settled.map(
      (i) =>
        Math.abs(i.total - i.available - i.reserved - i.sold) +
        Math.max(0, i.sold - committed(i.sku)),
    );
    // Upstream calls and reservations of both SKUs: the reference storm's count on both sides.
    const orderIds = await client.hkeys(saleKeys({ namespace: 'shop', name: SALE }).orders);
    const stayedUp = [...lanes.storms].filter(([s]) => !killed.has(s)).flatMap(([, r]) => r);
    const victims = [...lanes.storms].filter(([s]) => killed.has(s)).flatMap(([, r]) => r);
    const chaos = summarize([...stayedUp, ...victims], chaosMs);
    return {
      oversold: Math.max(0, committed('phone') - options.stock),
      lost_units: lost.reduce((a, b) => a + b, 0),
      unanswered: summarize([...stayedUp, ...drain], chaosMs).unanswered,
      in_doubt_unsettled: settled.reduce((n, i) => n + i.reserved, 0),
      victim_unanswered: summarize(victims, chaosMs).unanswered,
      upstream_calls: stats.checkoutCalls,
      // Reservations made; each upstream call needs one.
      admitted: orderIds.filter((id) => !id.includes('#')).length,
      breaker_opened: breakers.opened(),
      breaker_closed: breakers.closed(),
      breaker_changes: breakers.changes,
      leader_takeover: takeover,
      // From the SIGKILL to the standby reporting itself leader (Lease duration 3 s).
      leader_takeover_ms: takeover ? takeoverMs : undefined,
      stock: options.stock,
      committed_units: committed('phone'),
      ledger_sold: phone.sold,
      available_after: phone.available,
      settle_ms: Math.round(settleMs),
      faults: injected,
      reference: referenceFigures,
      chaos: { ...chaos, elapsed_ms: Math.round(chaosMs) },
      drain: summarize(drain, chaosMs).requests,
      outcomes: outcomes([...stayedUp, ...victims, ...drain]),
    };
  } finally {
    for (const sidecar of sidecars) await sidecar.stop();
    for (const operator of operators) await operator.process.stop();
    client.disconnect();
    await Promise.all([shop.stop(), redis.destroy(), cp.stop()]);
  }
}

export type ChaosFigures = Awaited<ReturnType<typeof runChaos>>;

/** The test's size: a few hundred requests. */
export const ciChaos: ChaosOptions = {
  survivors: 2,
  stock: 450,
  roundRequests: 5,
  concurrency: 2,
  pauseMs: 400,
  referenceMs: 3000,
};

/** `npm run bench -- chaos [--quick] --json`: the scenario's figures, one JSON object. */
export async function chaosBenchmark(options: {
  quick: boolean;
}): Promise<Record<string, unknown>> {
  const figures = await runChaos(
    options.quick
      ? ciChaos
      : {
          survivors: 3,
          stock: 20_000,
          roundRequests: 40,
          concurrency: 4,
          pauseMs: 100,
          referenceMs: 10_000,
        },
  );
  return { ...figures };
}
