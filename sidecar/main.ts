// flashguard-sidecar: the entrypoint the image runs (compiled) and the demo and tests run.
import { hostname } from 'node:os';
import { loadFlashSaleFile, withDefaults } from '../api/v1alpha1/index.ts';
import { formatWorkloadRef, type WorkloadRef } from '../ledger/index.ts';
import { CheckoutPipeline } from './checkout.ts';
import { parseConfig, usage } from './config.ts';
import { SidecarMetrics } from './metrics.ts';
import { caOverrides, connectRedis, redisFailureReason, whenReady } from './redis.ts';
import { GuardedSale, SaleSync, type SyncOptions } from './sales.ts';
import { buildOps, buildProxy } from './server.ts';
import { ensureLedger, startReaper, type ReaperLoop } from './standalone.ts';
import { Upstream } from './upstream.ts';
import { WorkloadSales } from './workload.ts';

const POLL_MS = 1000;
const REAPER_INTERVAL_MS = 1000;

const parsed = parseConfig(process.argv.slice(2), process.env, hostname());
if (!parsed.ok) {
  for (const error of parsed.errors) console.error(`flashguard-sidecar: ${error}`);
  console.error(usage);
  process.exit(2);
}
const config = parsed.config;

const metrics = new SidecarMetrics();
const upstream = new Upstream(config.upstream);
let redisCa = {};
try {
  redisCa = caOverrides(config.redisCaFile);
} catch (error) {
  console.error(`flashguard-sidecar: --redis-ca: ${(error as Error).message}`);
  process.exit(2);
}
const clock = () => Date.now();
const pipeline = new CheckoutPipeline({
  upstream,
  metrics,
  clock,
  replicaAck: config.replicaAck,
  onSettleFailure: (reservation, action, error) => {
    log.error(
      { reservation: reservation.id, action, err: error },
      'settle failed; the reaper will take it',
    );
  },
});
// Built before the Redis clients, so their first connection errors already have a JSON logger to
// go to (ioredis prints an error without a listener as plain text). It serves no checkout before
// listen(), by when `guarding` is set.
const proxy = await buildProxy({
  upstream: config.upstream,
  sales: () => guarding.sales(),
  pipeline,
  logger: {
    level: config.logLevel,
    base: { component: 'flashguard-sidecar', sidecar: config.sidecarId },
  },
});
const log = proxy.log;
// No auto-pipelining: the ledger already makes one script call of a turn's reserves and one of its
// settlements (ledger/batch.ts). In alternating runs of the storm bench's admit load,
// auto-pipelining on top saved nothing and it delays each call by one more event-loop turn.
const redis = connectRedis(config.redisUrl, redisCa);
const subscriber = connectRedis(config.redisUrl, redisCa);
redis.on('error', (err: Error) => {
  log.warn({ err: err.message, reason: redisFailureReason(err) }, 'redis connection error');
});
subscriber.on('error', () => undefined); // reported through the main connection
const syncOptions: SyncOptions = {
  sidecarId: config.sidecarId,
  pollMs: POLL_MS,
  clock,
  metrics,
  onError: (s, error) => {
    log.warn({ sale: s.label, err: (error as Error).message }, 'sale sync failed');
  },
  onHalted: (s, reason) => {
    log.error({ sale: s.label, reason }, 'the sale ledger is halted; checkouts get 503');
  },
};
const guarding =
  config.source.kind === 'file'
    ? await standalone(config.source.path)
    : workloadMode(config.source.workload);

const ops = buildOps({
  ready: () => guarding.ready(),
  metrics: async () => ({
    contentType: metrics.registry.contentType,
    body: await metrics.registry.metrics(),
  }),
});
let stopping = false;
// Read through a function: a signal can set it during any await below.
const isStopping = () => stopping;
// Registered before startup so a stop while Redis is still unreachable is a clean one too.
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'stopping: draining in-flight checkouts');
  await proxy.close(); // stops accepting, waits for in-flight requests
  await pipeline.drain(); // every forwarded reservation settled
  await guarding.stop();
  await ops.close();
  await upstream.close();
  redis.disconnect();
  subscriber.disconnect();
  log.info('stopped');
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

await ops.listen(config.metrics);
log.info({ metrics: config.metrics }, 'ops endpoints listening');
// A sidecar that knows its sales listens before Redis is reached: checkouts get 503
// ledger-unavailable, not a refused connection. One that learns them from Redis must not: until
// then a sale checkout would look like any other request and pass through unguarded.
if (guarding.knowsSalesBeforeRedis) await proxy.listen(config.listen);

// Redis may not be up yet: keep trying, as Kubernetes would restart us anyway.
while (!isStopping()) {
  try {
    await whenReady(redis);
    await whenReady(subscriber);
    await guarding.prepare();
    break;
  } catch (error) {
    log.error({ err: (error as Error).message }, 'cannot reach the ledger yet');
    if ((error as Error).name === 'LedgerSetupError') process.exit(1);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
if (!isStopping()) {
  await guarding.start();
  if (!guarding.knowsSalesBeforeRedis) await proxy.listen(config.listen);
  log.info(
    { guarding: guarding.describe, listen: config.listen, upstream: config.upstream },
    'guarding checkouts',
  );
}

/** What the sidecar guards and how it keeps it current; the two modes differ only here. */
interface Guarding {
  readonly describe: string;
  /** The sales are known without Redis (from a file), so serving can start before it. */
  readonly knowsSalesBeforeRedis: boolean;
  sales(): readonly GuardedSale[];
  ready(): boolean;
  /** Startup work before serving; retried while Redis is unreachable. */
  prepare(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Standalone: one sale from a FlashSale file; this sidecar preloads it and takes reaper turns. */
async function standalone(path: string): Promise<Guarding> {
  const loaded = await loadFlashSaleFile(path);
  if (!loaded.ok) {
    for (const { field, message } of loaded.errors) {
      console.error(`flashguard-sidecar: ${path}: ${field}: ${message}`);
    }
    process.exit(2);
  }
  const flashSale = loaded.value;
  const settings = withDefaults(flashSale.spec);
  const ref = {
    namespace: flashSale.metadata.namespace ?? 'default',
    name: flashSale.metadata.name,
  };
  const sale = new GuardedSale(ref, settings, redis, clock());
  metrics.addSale(
    sale.label,
    settings.items.map((i) => i.sku),
  );
  const sync = new SaleSync([sale], subscriber, syncOptions);
  let reaper: ReaperLoop | undefined;
  return {
    describe: sale.label,
    knowsSalesBeforeRedis: true,
    sales: () => [sale],
    ready: () => sync.ready(),
    prepare: () => ensureLedger(sale.ledger, settings),
    start: async () => {
      await sync.start();
      reaper = startReaper(
        sale.ledger,
        config.sidecarId,
        () => sale.settings,
        REAPER_INTERVAL_MS,
        (report) => {
          if (report instanceof Error) log.warn({ err: report.message }, 'reaper round failed');
          else if (report.expired + report.confirmed + report.released > 0)
            log.info({ reaper: report }, 'reaper round');
        },
      );
    },
    stop: async () => {
      await reaper?.stop();
      await sync.stop();
    },
  };
}

/** Workload mode: the sales the operator indexes for this workload; the operator loads and reaps. */
function workloadMode(workload: WorkloadRef): Guarding {
  const sales = new WorkloadSales(workload, redis, subscriber, {
    ...syncOptions,
    onChange: (added, removed) => {
      for (const sale of added) {
        metrics.addSale(
          sale.label,
          sale.settings.items.map((i) => i.sku),
        );
      }
      log.info(
        { added: added.map((s) => s.label), removed },
        'the sales guarding this workload changed',
      );
    },
    onIndexError: (error) => {
      metrics.ledgerUp.set(0);
      log.warn({ err: (error as Error).message }, 'cannot read the workload sale index');
    },
  });
  return {
    describe: formatWorkloadRef(workload),
    knowsSalesBeforeRedis: false,
    sales: () => sales.sales,
    ready: () => sales.ready(),
    prepare: () => Promise.resolve(),
    start: () => sales.start(),
    stop: () => sales.stop(),
  };
}
