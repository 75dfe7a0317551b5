// Ledger throughput on the success path, beside redis-benchmark running the same reserve script
// by EVALSHA, at the same connections and pipeline depth, against the same redis-server. Our side
// issues its 16 reserves per connection in one turn, so the ledger sends them as one script call
// (ledger/batch.ts); redis-benchmark sends 16 calls of one reservation each.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../e2e/support/redis.ts';
import { SaleLedger, saleKeys, scriptSha, scriptSources, type SaleRef } from '../ledger/index.ts';
import { connectRedis, whenReady } from '../sidecar/redis.ts';

const run = promisify(execFile);

const CONNECTIONS = 4;
const PIPELINE = 16;
const TTL_MS = 30_000;
const SKU = 'bench-sku';

async function redisCpuSeconds(server: RedisServer): Promise<number> {
  const info = await server.cli('INFO', 'cpu');
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return field('used_cpu_user') + field('used_cpu_sys');
}

async function loadSale(client: Redis, name: string, stock: number): Promise<SaleLedger> {
  const ledger = new SaleLedger(client, { namespace: 'bench', name });
  const now = Date.now();
  await ledger.preload({
    generation: 1,
    window: { startMs: now - 60_000, endMs: now + 3_600_000 },
    retentionMs: 60_000,
    // Users are random on the reference side and may repeat: a generous limit keeps both sides
    // on the success path while still running the per-user check.
    items: [{ sku: SKU, stock, perUserLimit: 1000 }],
  });
  return ledger;
}

async function reservedCount(ledger: SaleLedger): Promise<number> {
  const snapshot = await ledger.snapshot();
  return snapshot?.items[0]?.reserved ?? 0;
}

/** Our side: CONNECTIONS clients, each sending PIPELINE reserves at a time, unique keys. */
async function runLedgerSide(server: RedisServer, requests: number, round: number) {
  // The sidecar's own client settings, so the figure is what the sidecar gets.
  const clients = Array.from({ length: CONNECTIONS }, () => connectRedis(server.url));
  await Promise.all(clients.map(whenReady));
  const sale = await loadSale(clients[0] as Redis, `ours-${round}`, requests * 2);
  const ledgers = clients.map((c) => new SaleLedger(c, sale.sale));
  const outcomes: Record<string, number> = {};
  // Warm the connections and the script cache outside the timed part.
  await Promise.all(ledgers.map((l) => l.snapshot()));
  const perConnection = Math.ceil(requests / CONNECTIONS);
  const cpuBefore = process.cpuUsage();
  const redisBefore = await redisCpuSeconds(server);
  const started = process.hrtime.bigint();
  await Promise.all(
    ledgers.map(async (ledger, c) => {
      for (let sent = 0; sent < perConnection; sent += PIPELINE) {
        const batch = Array.from({ length: Math.min(PIPELINE, perConnection - sent) }, (_, i) =>
          ledger.reserve({
            sku: SKU,
            user: `user-${c}-${sent + i}`,
            quantity: 1,
            ttlMs: TTL_MS,
            idempotencyKey: `key-${round}-${c}-${sent + i}`,
          }),
        );
        for (const outcome of await Promise.all(batch)) {
          outcomes[outcome.kind] = (outcomes[outcome.kind] ?? 0) + 1;
        }
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const redisCpu = (await redisCpuSeconds(server)) - redisBefore;
  const total = perConnection * CONNECTIONS;
  for (const c of clients) c.disconnect();
  return {
    perSecond: total / seconds,
    outcomes,
    clientCpuUsPerOp: (cpu.user + cpu.system) / total,
    redisCpuUsPerOp: (redisCpu * 1e6) / total,
  };
}

/** The reference: redis-benchmark, same script by EVALSHA, same connections and pipeline. */
async function runReferenceSide(server: RedisServer, requests: number, round: number) {
  const client = new Redis(server.port, '127.0.0.1');
  const sale: SaleRef = { namespace: 'bench', name: `ref-${round}` };
  const ledger = await loadSale(client, sale.name, requests * 2);
  const sha = (await client.script('LOAD', scriptSources.reserve)) as string;
  if (sha !== scriptSha('reserve')) throw new Error('script digest mismatch');
  const k = saleKeys(sale);
  const redisBefore = await redisCpuSeconds(server);
  // `times` prints the CPU time of bash's children: redis-benchmark's own cost.
  const { stdout } = await run(
    'bash',
    [
      '-c',
      'out=$(redis-benchmark "$@") || exit 1; times; printf "%s\\n" "$out"',
      'bash',
      '-h',
      '127.0.0.1',
      '-p',
      String(server.port),
      '-c',
      String(CONNECTIONS),
      '-P',
      String(PIPELINE),
      '-n',
      String(requests),
      // Ids and users are random 12-digit numbers; -r above 2^31 overflows in redis-benchmark.
      '-r',
      '2000000000',
      '--csv',
      'EVALSHA',
      sha,
      // A batch of one, as the sidecar sends a lone checkout (ledger/scripts/reserve.lua).
      '5',
      k.meta,
      k.orders,
      k.pending,
      k.stock(SKU),
      k.users(SKU),
      k.events,
      // No ledger seen yet, as a sidecar's first reserve.
      '',
      '0',
      '__rand_int__',
      SKU,
      '__rand_int__',
      '1',
      String(TTL_MS),
    ],
    { maxBuffer: 1 << 20 },
  ).catch((error: unknown) => {
    throw new Error(`redis-benchmark failed: ${String(error)}`);
  });
  const redisCpu = (await redisCpuSeconds(server)) - redisBefore;
  const reserved = await reservedCount(ledger);
  client.disconnect();
  const [, children = '', , csv = ''] = stdout.trim().split('\n');
  const [user = 0, system = 0] = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map(
    (m) => Number(m[1]) * 60 + Number(m[2]),
  );
  const perSecond = Number(csv.split('","')[1]);
  if (!Number.isFinite(perSecond)) throw new Error(`unexpected redis-benchmark output: ${stdout}`);
  return {
    perSecond,
    outcomes: { reserved, other: requests - reserved },
    clientCpuUsPerOp: ((user + system) * 1e6) / requests,
    redisCpuUsPerOp: (redisCpu * 1e6) / requests,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

const round1 = (n: number) => Math.round(n * 10) / 10;

export async function ledgerBenchmark({
  quick,
}: {
  quick: boolean;
}): Promise<Record<string, unknown>> {
  const requests = quick ? 20_000 : 100_000;
  const rounds = quick ? 3 : 5;
  const server = await startRedis();
  try {
    const ours: Awaited<ReturnType<typeof runLedgerSide>>[] = [];
    const ref: Awaited<ReturnType<typeof runReferenceSide>>[] = [];
    // Alternate the sides so drift on a shared machine hits both alike.
    for (let round = 0; round < rounds; round++) {
      console.error(`ledger bench: round ${round + 1}/${rounds}`);
      ref.push(await runReferenceSide(server, requests, round));
      ours.push(await runLedgerSide(server, requests, round));
    }
    const sum = (list: { outcomes: Record<string, number> }[]) => {
      const total: Record<string, number> = {};
      for (const r of list)
        for (const [k, v] of Object.entries(r.outcomes)) total[k] = (total[k] ?? 0) + v;
      return total;
    };
    const reservationsPerS = median(ours.map((r) => r.perSecond));
    const refPerS = median(ref.map((r) => r.perSecond));
    // Each round's two sides ran back to back: their ratio cancels most of the machine's drift.
    const roundRatios = ours.map((r, i) => r.perSecond / (ref[i]?.perSecond ?? Number.NaN));
    return {
      requests_per_round: requests,
      rounds,
      connections: CONNECTIONS,
      pipeline: PIPELINE,
      reservations_per_s: Math.round(reservationsPerS),
      ref_redis_benchmark_per_s: Math.round(refPerS),
      ratio: Math.round(median(roundRatios) * 1000) / 1000,
      round_ratios: roundRatios.map((r) => Math.round(r * 1000) / 1000),
      outcomes: sum(ours),
      ref_outcomes: sum(ref),
      redis_cpu_us_per_reservation: round1(median(ours.map((r) => r.redisCpuUsPerOp))),
      ref_redis_cpu_us_per_reservation: round1(median(ref.map((r) => r.redisCpuUsPerOp))),
      client_cpu_us_per_reservation: round1(median(ours.map((r) => r.clientCpuUsPerOp))),
      ref_client_cpu_us_per_reservation: round1(median(ref.map((r) => r.clientCpuUsPerOp))),
    };
  } finally {
    await server.destroy();
  }
}
