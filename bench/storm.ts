// The sidecar in a flash-sale storm (design.md §8), every figure beside a like-for-like reference
// measured in the same run with the same load generator (wrk running bench/shoppers.lua):
//  - storm: a SKU that sells out under full load: answered/s, latency, stock against the orders
//    the demo shop committed, upstream calls;
//  - reject path: the sold-out SKU, answered from local state, against a bare Fastify route that
//    receives the same POST and answers a JSON body of the same size (bench/ref-route.ts);
//  - admit path: a SKU with more stock than the run can sell, every request a new user, against
//    load straight at the demo shop;
//  - CPU time per request from the OS, of the sidecar on the admit path and of the bare route;
//  - Redis commands per answer while sold out;
//  - the p99 the sidecar adds at half its peak admit rate;
//  - the floor: a guard with none of the sidecar's logic on the same clients (bench/floor-guard.ts)
//    under the admit load, at full speed and at half load: what no guard on this stack goes below.
// wrk is pinned to one core and every server to the others, so the load generator does not take
// CPU from what it measures; each run records how busy both sides were.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  freePort,
  startProcess,
  waitForHttp,
  type ManagedProcess,
} from '../e2e/support/process.ts';
import { startRedis, type RedisServer } from '../e2e/support/redis.ts';
import {
  flashSale,
  startShop,
  startSidecar,
  type RunningShop,
  type RunningSidecar,
} from '../e2e/support/sidecar.ts';
import { affinity, coreTimes, corePercent, pin, processCpuSeconds } from './os-cpu.ts';
import { runWrk, type WrkResult, type WrkRun } from './wrk.ts';

/** Sells out during the storm, then serves the reject path. */
const LIMITED = 'limited';
/** More stock than any run can sell: the admit path. */
const PLENTY = 'plenty';
const PLENTY_STOCK = 10_000_000;
const CONNECTIONS = 64;
/** Paced runs: many connections, each mostly thinking, so arrivals are close to Poisson. */
const PACED_CONNECTIONS = 64;
const SOLD_OUT_TYPE = 'https://flashguard.dev/problems/sold-out';

interface Plan {
  rounds: number;
  warmSeconds: number;
  stormSeconds: number;
  stormStock: number;
  peakSeconds: number;
  pacedSeconds: number;
  /** Back-to-back runs of the reject path and the bare route: many short pairs, so a few noisy
   *  seconds on the shared machine move the median ratio little. */
  rejectPairs: number;
  pairSeconds: number;
}

const plans: Record<'quick' | 'full', Plan> = {
  quick: {
    rounds: 1,
    warmSeconds: 1,
    stormSeconds: 2,
    stormStock: 1000,
    peakSeconds: 2,
    pacedSeconds: 3,
    rejectPairs: 2,
    pairSeconds: 1,
  },
  full: {
    rounds: 3,
    warmSeconds: 3,
    stormSeconds: 5,
    stormStock: 5000,
    peakSeconds: 5,
    pacedSeconds: 6,
    rejectPairs: 9,
    pairSeconds: 2,
  },
};

interface TestBed {
  dir: string;
  redis: RedisServer;
  shop: RunningShop;
  sidecar: RunningSidecar;
  /** The CPU wrk runs on, none when there is only one, and the ones the servers run on. */
  loadgenCore: number | undefined;
  serverCores: readonly number[];
}

interface Sample extends WrkResult {
  /** OS CPU time of the measured server process per answered request. */
  serverCpuUsPerRequest: number;
  serverCoresBusyPct: number;
  loadgenCoreBusyPct: number;
  /** Time the hypervisor gave to other guests: noise no reference can cancel. */
  stealPct: number;
}

type Load = Pick<WrkRun, 'url' | 'sku' | 'mode' | 'seconds'> & { thinkMs?: number };

let runs = 0;

/** One wrk run, with the CPU time `serverPid` used meanwhile. */
async function measure(bed: TestBed, load: Load, serverPid: number | undefined): Promise<Sample> {
  runs += 1;
  const paced = (load.thinkMs ?? 0) > 0;
  const cpuBefore = serverPid === undefined ? 0 : processCpuSeconds(serverPid);
  const before = coreTimes();
  const result = await runWrk({
    ...load,
    runId: `run${runs}`,
    connections: paced ? PACED_CONNECTIONS : CONNECTIONS,
    core: bed.loadgenCore,
    outFile: join(bed.dir, `wrk-${runs}.txt`),
  });
  const after = coreTimes();
  const cpu = serverPid === undefined ? Number.NaN : processCpuSeconds(serverPid) - cpuBefore;
  const { connect, read, write, timeout } = result.errors;
  if (connect + read + write + timeout > 0) {
    throw new Error(`wrk saw transport errors at ${load.url}: ${JSON.stringify(result.errors)}`);
  }
  const allCores = [
    ...bed.serverCores,
    ...(bed.loadgenCore === undefined ? [] : [bed.loadgenCore]),
  ];
  return {
    ...result,
    serverCpuUsPerRequest: (cpu * 1e6) / result.requests,
    serverCoresBusyPct: corePercent(before, after, bed.serverCores, 'busy'),
    loadgenCoreBusyPct:
      bed.loadgenCore === undefined
        ? Number.NaN
        : corePercent(before, after, [bed.loadgenCore], 'busy'),
    stealPct: corePercent(before, after, allCores, 'steal'),
  };
}

/** The sidecar's checkout counters by `sku outcome`, from its /metrics. */
async function checkoutCounts(sidecar: RunningSidecar): Promise<Map<string, number>> {
  const text = await (await fetch(`${sidecar.opsUrl}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(
    /^flashguard_checkout_requests_total\{[^}]*sku="([^"]+)",outcome="([^"]+)"\} (\d+)$/gm,
  )) {
    counts.set(`${m[1] ?? ''} ${m[2] ?? ''}`, Number(m[3]));
  }
  return counts;
}

/** Redis commands served so far by name, script-internal calls included, INFO left out. */
async function redisCalls(redis: RedisServer): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const m of (await redis.cli('INFO', 'commandstats')).matchAll(
    /^cmdstat_([^:]+):calls=(\d+)/gm,
  )) {
    if (m[1] !== 'info') calls.set(m[1] ?? '', Number(m[2]));
  }
  return calls;
}

/** The counters that moved between two readings. */
function moved(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const changes: Record<string, number> = {};
  for (const [name, value] of after) {
    const change = value - (before.get(name) ?? 0);
    if (change !== 0) changes[name] = change;
  }
  return changes;
}

/**
 * Checks every answer of a sidecar run was `sku outcome`: the sidecar counts an answer before
 * sending it, so its counter covers at least what wrk received.
 */
function expectOnly(counts: Record<string, number>, key: string, answered: number): void {
  const others = Object.keys(counts).filter((k) => k !== key);
  if ((counts[key] ?? 0) < answered || others.length > 0) {
    throw new Error(
      `expected ${answered}+ answers "${key}", the sidecar counted ${JSON.stringify(counts)}`,
    );
  }
}

/** The sold-out SKU at full speed, with the Redis commands served meanwhile. */
async function rejectRun(bed: TestBed, seconds: number) {
  const countsBefore = await checkoutCounts(bed.sidecar);
  const callsBefore = await redisCalls(bed.redis);
  const load: Load = { url: bed.sidecar.url, sku: LIMITED, mode: 'guarded', seconds };
  const sample = await measure(bed, load, bed.sidecar.process.pid);
  const calls = moved(callsBefore, await redisCalls(bed.redis));
  expectOnly(
    moved(countsBefore, await checkoutCounts(bed.sidecar)),
    `${LIMITED} sold-out`,
    sample.requests,
  );
  return { ...sample, redisCalls: calls };
}

async function admitRun(bed: TestBed, seconds: number, thinkMs = 0): Promise<Sample> {
  const countsBefore = await checkoutCounts(bed.sidecar);
  const load: Load = { url: bed.sidecar.url, sku: PLENTY, mode: 'guarded', seconds, thinkMs };
  const sample = await measure(bed, load, bed.sidecar.process.pid);
  expectOnly(
    moved(countsBefore, await checkoutCounts(bed.sidecar)),
    `${PLENTY} committed`,
    sample.requests,
  );
  return sample;
}

async function directRun(bed: TestBed, seconds: number, thinkMs = 0): Promise<Sample> {
  const load: Load = { url: bed.shop.url, sku: PLENTY, mode: 'direct', seconds, thinkMs };
  const sample = await measure(bed, load, undefined);
  if (sample.errors.status > 0) {
    throw new Error(`the shop refused ${sample.errors.status} direct checkouts`);
  }
  return sample;
}

/** A reference server of the bench's own: the bare route or the floor guard. */
interface RefServer {
  url: string;
  process: ManagedProcess;
}

/** The bare route gets exactly what the sidecar gets on the reject path. */
function refRun(bed: TestBed, ref: RefServer, seconds: number, thinkMs = 0): Promise<Sample> {
  const load: Load = { url: ref.url, sku: LIMITED, mode: 'guarded', seconds, thinkMs };
  return measure(bed, load, ref.process.pid);
}

/** The floor guard gets exactly what the sidecar gets on the admit path; the shop takes all. */
async function floorRun(
  bed: TestBed,
  floor: RefServer,
  seconds: number,
  thinkMs = 0,
): Promise<Sample> {
  const load: Load = { url: floor.url, sku: PLENTY, mode: 'guarded', seconds, thinkMs };
  const sample = await measure(bed, load, floor.process.pid);
  if (sample.errors.status > 0) {
    throw new Error(`the shop refused ${sample.errors.status} checkouts through the floor guard`);
  }
  return sample;
}

/** The storm: full load at a SKU with `stock` units until well after it sold out. */
async function stormRun(bed: TestBed, stock: number, seconds: number) {
  const shopBefore = await bed.shop.stats();
  const countsBefore = await checkoutCounts(bed.sidecar);
  const load: Load = { url: bed.sidecar.url, sku: LIMITED, mode: 'guarded', seconds };
  const sample = await measure(bed, load, bed.sidecar.process.pid);
  await sleep(500); // the checkouts in flight when wrk stopped
  const shopAfter = await bed.shop.stats();
  const committed = (shopAfter.skus[LIMITED]?.units ?? 0) - (shopBefore.skus[LIMITED]?.units ?? 0);
  return {
    sample,
    committed,
    oversold: committed - stock,
    upstreamCalls: shopAfter.checkoutCalls - shopBefore.checkoutCalls,
    outcomes: moved(countsBefore, await checkoutCounts(bed.sidecar)),
  };
}

/** The sidecar's answer to a sold-out checkout: a 409 sold-out problem. */
async function soldOutAnswer(sidecar: RunningSidecar): Promise<string> {
  const response = await fetch(`${sidecar.url}/checkout`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-user-id': 'probe' },
    body: JSON.stringify({ sku: LIMITED, quantity: 1 }),
  });
  const body = await response.text();
  const type = (JSON.parse(body) as { type?: unknown }).type;
  if (response.status !== 409 || type !== SOLD_OUT_TYPE) {
    throw new Error(`expected 409 sold-out after the storm, got ${response.status} ${body}`);
  }
  return body;
}

interface References {
  route: RefServer;
  floor: RefServer;
}

/** Starts bench/NAME.ts on a free port; it answers GET /ready once it can take load. */
async function startRefServer(dir: string, name: string, args: string[]): Promise<RefServer> {
  const port = await freePort();
  const logFile = join(dir, `${name}.log`);
  const proc = startProcess({
    name,
    command: process.execPath,
    args: [join(import.meta.dirname, `${name}.ts`), '--listen', `127.0.0.1:${port}`, ...args],
    logFile,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/ready`, proc, logFile);
  return { url, process: proc };
}

/** Runs `sides` once per round, the order reversed every other round so drift hits all alike. */
async function alternate(rounds: number, sides: (() => Promise<void>)[], label: string) {
  for (let r = 0; r < rounds; r++) {
    process.stderr.write(`storm bench: ${label}, round ${r + 1}/${rounds}\n`);
    for (const side of r % 2 === 0 ? sides : [...sides].reverse()) await side();
  }
}

async function peakRounds(bed: TestBed, refs: References, plan: Plan) {
  const peaks = {
    ref: [] as Sample[],
    direct: [] as Sample[],
    admit: [] as Sample[],
    floor: [] as Sample[],
  };
  await alternate(
    plan.rounds,
    [
      async () => void peaks.ref.push(await refRun(bed, refs.route, plan.peakSeconds)),
      async () => void peaks.direct.push(await directRun(bed, plan.peakSeconds)),
      async () => void peaks.admit.push(await admitRun(bed, plan.peakSeconds)),
      async () => void peaks.floor.push(await floorRun(bed, refs.floor, plan.peakSeconds)),
    ],
    'full speed: bare route, direct, admit, floor guard',
  );
  return peaks;
}

/** The sold-out answer against the bare route, both at full speed, pair by pair. */
async function rejectPairs(bed: TestBed, ref: RefServer, plan: Plan) {
  const pairs = { ref: [] as Sample[], reject: [] as Awaited<ReturnType<typeof rejectRun>>[] };
  await alternate(
    plan.rejectPairs,
    [
      async () => void pairs.ref.push(await refRun(bed, ref, plan.pairSeconds)),
      async () => void pairs.reject.push(await rejectRun(bed, plan.pairSeconds)),
    ],
    'full speed: sold out, bare route',
  );
  return pairs;
}

/** All four at one rate: the added latency, and CPU per request without batching differences. */
async function halfLoadRounds(bed: TestBed, refs: References, plan: Plan, thinkMs: number) {
  const paced = {
    guarded: [] as Sample[],
    direct: [] as Sample[],
    ref: [] as Sample[],
    floor: [] as Sample[],
  };
  const seconds = plan.pacedSeconds;
  await alternate(
    plan.rounds,
    [
      async () => void paced.guarded.push(await admitRun(bed, seconds, thinkMs)),
      async () => void paced.direct.push(await directRun(bed, seconds, thinkMs)),
      async () => void paced.ref.push(await refRun(bed, refs.route, seconds, thinkMs)),
      async () => void paced.floor.push(await floorRun(bed, refs.floor, seconds, thinkMs)),
    ],
    'half load: admit, direct, bare route, floor guard',
  );
  return paced;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const medianOf = <T>(list: readonly T[], pick: (item: T) => number, digits = 1) =>
  round(median(list.map(pick)), digits);
/** Ours / reference of each round, the two measured back to back. */
const pairRatios = (ours: Sample[], ref: Sample[], pick: (s: Sample) => number) =>
  ours.map((s, i) => pick(s) / (ref[i] === undefined ? Number.NaN : pick(ref[i])));
/** Median over rounds of ours / reference. */
const roundRatio = (ours: Sample[], ref: Sample[], pick: (s: Sample) => number) =>
  median(pairRatios(ours, ref, pick));
/** The first and third quartile (nearest rank). */
function quartiles(values: readonly number[]): [number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return [at(0.25) ?? Number.NaN, at(0.75) ?? Number.NaN];
}
const bySide = (sides: Record<string, Sample[]>, pick: (s: Sample) => number) =>
  Object.fromEntries(Object.entries(sides).map(([side, list]) => [side, medianOf(list, pick)]));

export async function stormBenchmark({
  quick,
}: {
  quick: boolean;
}): Promise<Record<string, unknown>> {
  const plan = plans[quick ? 'quick' : 'full'];
  const ownCpus = affinity(process.pid);
  const loadgenCore = ownCpus.length >= 2 ? ownCpus[0] : undefined;
  const serverCores = loadgenCore === undefined ? ownCpus : ownCpus.slice(1);
  const dir = mkdtempSync(join(tmpdir(), 'flashguard-bench-storm-'));
  const stops: (() => Promise<void>)[] = [];
  // Pinned now, every server started below inherits the server cores; wrk gets its own.
  if (loadgenCore !== undefined) pin(process.pid, serverCores);
  try {
    const redis = await startRedis();
    stops.push(() => redis.destroy());
    const shop = await startShop();
    stops.push(() => shop.stop());
    const sidecar = await startSidecar({
      sale: flashSale('storm', {
        items: [
          { sku: LIMITED, stock: plan.stormStock, perUserLimit: 1 },
          { sku: PLENTY, stock: PLENTY_STOCK, perUserLimit: 1 },
        ],
        // Throughput runs: the rate limit must not be what answers.
        limits: { admissionRate: 1_000_000, burst: 1_000_000 },
      }),
      upstream: shop.url,
      redisUrl: redis.url,
      dir,
    });
    stops.push(() => sidecar.stop());
    const bed: TestBed = { dir, redis, shop, sidecar, loadgenCore, serverCores };

    process.stderr.write('storm bench: warming up the sidecar and the shop\n');
    await admitRun(bed, plan.warmSeconds);
    await directRun(bed, plan.warmSeconds);
    process.stderr.write(`storm bench: storm, ${plan.stormStock} units, ${plan.stormSeconds} s\n`);
    const storm = await stormRun(bed, plan.stormStock, plan.stormSeconds);

    const soldOutBody = await soldOutAnswer(sidecar);
    const bodyBytes = String(Buffer.byteLength(soldOutBody));
    const ref = await startRefServer(dir, 'ref-route', ['--body-bytes', bodyBytes]);
    stops.push(() => ref.process.stop());
    await refRun(bed, ref, plan.warmSeconds);
    const floor = await startRefServer(dir, 'floor-guard', [
      ...['--upstream', shop.url],
      ...['--redis', redis.url],
    ]);
    stops.push(() => floor.process.stop());
    await floorRun(bed, floor, plan.warmSeconds);
    const refs: References = { route: ref, floor };

    const pairs = await rejectPairs(bed, ref, plan);
    const peaks = await peakRounds(bed, refs, plan);
    const halfRate = median(peaks.admit.map((s) => s.perSecond)) / 2;
    const thinkMs = (PACED_CONNECTIONS * 1000) / halfRate;
    const paced = await halfLoadRounds(bed, refs, plan, thinkMs);

    const rejectRatios = pairRatios(pairs.reject, pairs.ref, (s) => s.perSecond);
    const rejectVsRef = median(rejectRatios);
    const cpuVsRef = roundRatio(peaks.admit, peaks.ref, (s) => s.serverCpuUsPerRequest);
    const cpuVsRefSameRate = roundRatio(paced.guarded, paced.ref, (s) => s.serverCpuUsPerRequest);
    const soldOutCalls: Record<string, number> = {};
    for (const run of pairs.reject) {
      for (const [name, n] of Object.entries(run.redisCalls)) {
        soldOutCalls[name] = (soldOutCalls[name] ?? 0) + n;
      }
    }
    const soldOutAnswers = pairs.reject.reduce((sum, s) => sum + s.requests, 0);
    const redisCmdsPerAnswer =
      Object.values(soldOutCalls).reduce((sum, n) => sum + n, 0) / soldOutAnswers;
    const addedP99Of = (guard: Sample[]) =>
      median(guard.map((s, i) => s.p99Ms - (paced.direct[i]?.p99Ms ?? Number.NaN)));
    const addedP99 = addedP99Of(paced.guarded);
    const allRuns = [
      storm.sample,
      ...Object.values(pairs).flat(),
      ...Object.values(peaks).flat(),
      ...Object.values(paced).flat(),
    ];

    return {
      rounds: plan.rounds,
      connections: CONNECTIONS,
      // The storm: one SKU selling out under full load.
      answered_per_s: round(storm.sample.perSecond, 0),
      p50_ms: round(storm.sample.p50Ms, 2),
      p99_ms: round(storm.sample.p99Ms, 2),
      stock: plan.stormStock,
      committed: storm.committed,
      oversold: storm.oversold,
      upstream_calls: storm.upstreamCalls,
      storm_outcomes: storm.outcomes,
      // Reject path (sold out, local state) against the bare route, both at full speed: the
      // median of the pairs' ratios, with the pairs' quartiles.
      reject_per_s: medianOf(pairs.reject, (s) => s.perSecond, 0),
      ref_route_per_s: medianOf(pairs.ref, (s) => s.perSecond, 0),
      reject_vs_ref_route: round(rejectVsRef, 3),
      reject_vs_ref_route_quartiles: quartiles(rejectRatios).map((q) => round(q, 3)),
      reject_pairs: `${plan.rejectPairs} x ${plan.pairSeconds} s each`,
      ref_route_body_bytes: Buffer.byteLength(soldOutBody),
      // Admit path against the shop alone, both at full speed.
      admit_per_s: medianOf(peaks.admit, (s) => s.perSecond, 0),
      ref_direct_per_s: medianOf(peaks.direct, (s) => s.perSecond, 0),
      admit_p99_ms: medianOf(peaks.admit, (s) => s.p99Ms, 2),
      ref_direct_p99_ms: medianOf(peaks.direct, (s) => s.p99Ms, 2),
      // OS CPU time per request, at full speed.
      sidecar_cpu_us_per_admit: medianOf(peaks.admit, (s) => s.serverCpuUsPerRequest),
      ref_cpu_us_per_req: medianOf(peaks.ref, (s) => s.serverCpuUsPerRequest),
      sidecar_cpu_vs_ref: round(cpuVsRef, 2),
      sidecar_cpu_us_per_reject: medianOf(pairs.reject, (s) => s.serverCpuUsPerRequest),
      // The floor (bench/floor-guard.ts): a guard with none of the sidecar's logic on the same
      // stack (node:http, two ioredis script calls, an undici forward) under the admit load, at
      // full speed and at the half-load rate. No guard on this stack goes below it.
      floor_per_s: medianOf(peaks.floor, (s) => s.perSecond, 0),
      floor_cpu_us_per_req: medianOf(peaks.floor, (s) => s.serverCpuUsPerRequest),
      floor_cpu_vs_ref: round(
        roundRatio(peaks.floor, peaks.ref, (s) => s.serverCpuUsPerRequest),
        2,
      ),
      sidecar_cpu_vs_floor: round(
        roundRatio(peaks.admit, peaks.floor, (s) => s.serverCpuUsPerRequest),
        2,
      ),
      floor_added_p99_ms_half_load: round(addedP99Of(paced.floor), 2),
      // Redis while sold out: only the sidecar's once-a-second poll and reaper are left.
      redis_cmds_per_answer: round(redisCmdsPerAnswer, 5),
      redis_cmds_sold_out: soldOutCalls,
      sold_out_answers: soldOutAnswers,
      added_p99_ms_half_load: round(addedP99, 2),
      half_load: {
        target_per_s: round(halfRate, 0),
        pacing: `wrk delay(): ${PACED_CONNECTIONS} connections, exponential think time, mean ${round(thinkMs)} ms`,
        per_s: bySide(paced, (s) => s.perSecond),
        p50_ms: bySide(paced, (s) => s.p50Ms),
        p99_ms: bySide(paced, (s) => s.p99Ms),
        sidecar_cpu_us_per_admit: medianOf(paced.guarded, (s) => s.serverCpuUsPerRequest),
        ref_cpu_us_per_req: medianOf(paced.ref, (s) => s.serverCpuUsPerRequest),
        sidecar_cpu_vs_ref: round(cpuVsRefSameRate, 2),
        floor_cpu_us_per_req: medianOf(paced.floor, (s) => s.serverCpuUsPerRequest),
        // Per-request CPU rises at low rates (less batching, more wakeups): half the peak rate
        // can still fill the servers' core.
        server_cores_busy_pct: bySide(paced, (s) => s.serverCoresBusyPct),
      },
      // Was the load generator the bottleneck? wrk's own CPU (percent of one core) at most, and
      // per side at full speed how busy its core and the servers' cores were.
      loadgen_cpu_pct: round(Math.max(...allRuns.map((s) => s.cpuPercent))),
      loadgen: {
        tool: 'wrk -t1, bench/shoppers.lua',
        pinning:
          loadgenCore === undefined
            ? 'none: one CPU only'
            : `wrk on CPU ${loadgenCore}, servers on ${serverCores.join(',')}`,
        wrk_cpu_pct: bySide({ ...peaks, reject: pairs.reject }, (s) => s.cpuPercent),
        loadgen_core_busy_pct: bySide(
          { ...peaks, reject: pairs.reject },
          (s) => s.loadgenCoreBusyPct,
        ),
        server_cores_busy_pct: bySide(
          { ...peaks, reject: pairs.reject },
          (s) => s.serverCoresBusyPct,
        ),
        steal_pct_max: round(Math.max(...allRuns.map((s) => s.stealPct))),
      },
      targets: {
        reject_per_s_ge_0_9_ref_route: rejectVsRef >= 0.9,
        sidecar_cpu_le_2_5_ref: cpuVsRef <= 2.5,
        redis_cmds_per_answer_near_0: redisCmdsPerAnswer < 0.01,
        added_p99_le_5_ms: addedP99 <= 5,
        not_oversold: storm.oversold <= 0,
      },
    };
  } finally {
    for (const stop of stops.reverse()) {
      await stop().catch((error: unknown) => {
        console.error('storm bench: while stopping:', error);
      });
    }
    if (loadgenCore !== undefined) pin(process.pid, ownCpus);
    rmSync(dir, { recursive: true, force: true });
  }
}
