// flashguard-operator: flags and environment, JSON logs, /healthz /readyz /metrics, leader
// election, and a shutdown that stops taking work, finishes the reconciles in flight and
// releases the Lease.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { buildOps } from '../sidecar/server.ts';
import { SaleController } from './controller.ts';
import { PooledKubeConfig } from './kube.ts';
import { LeaderElector } from './leader.ts';
import type { DefaultRedis } from './redis-target.ts';
import { OperatorMetrics } from './metrics.ts';
import { autoscalingFlags, autoscalingSettings, autoscalingUsage } from './autoscaling-setup.ts';
import { startWebhook, webhookFlags, webhookSettings, webhookUsage } from './webhook-setup.ts';

const usage = `usage: flashguard-operator [--kubeconfig FILE] (--redis URL | --redis-secret NAME)
  [--namespaces a,b]
  [--listen HOST:PORT] [--lease-namespace NS] [--lease-name NAME] [--identity ID]
  [--lease-duration SECONDS] [--workers N]
environment: KUBECONFIG, FLASHGUARD_REDIS_URL, FLASHGUARD_REDIS_SECRET, FLASHGUARD_NAMESPACES,
  FLASHGUARD_LISTEN, POD_NAMESPACE (the operator's namespace: the Lease's and the default Redis
  Secret's), POD_NAME (the identity)
${webhookUsage}
${autoscalingUsage}`;

function log(msg: string, fields: Record<string, unknown> = {}, level = 'info'): void {
  process.stdout.write(
    `${JSON.stringify({ time: new Date().toISOString(), level, component: 'flashguard-operator', msg, ...fields })}\n`,
  );
}

function fail(message: string): never {
  console.error(`flashguard-operator: ${message}\n${usage}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    redis: { type: 'string' },
    'redis-secret': { type: 'string' },
    namespaces: { type: 'string' },
    listen: { type: 'string' },
    'lease-namespace': { type: 'string' },
    'lease-name': { type: 'string' },
    identity: { type: 'string' },
    'lease-duration': { type: 'string' },
    workers: { type: 'string' },
    ...webhookFlags,
    ...autoscalingFlags,
  },
  strict: true,
});
const env = process.env;
const ownNamespace = values['lease-namespace'] ?? env.POD_NAMESPACE ?? 'default';
const redisUrl = values.redis ?? env.FLASHGUARD_REDIS_URL;
const redisSecret = values['redis-secret'] ?? env.FLASHGUARD_REDIS_SECRET;
if ((redisUrl === undefined) === (redisSecret === undefined)) {
  fail('give exactly one of --redis URL and --redis-secret NAME');
}
const defaultRedis: DefaultRedis =
  redisSecret === undefined
    ? { kind: 'url', url: redisUrl ?? '' }
    : { kind: 'secret', namespace: ownNamespace, name: redisSecret };
const namespaceList = values.namespaces ?? env.FLASHGUARD_NAMESPACES ?? '';
const namespaces = namespaceList === '' ? undefined : namespaceList.split(',').map((n) => n.trim());
const [host = '', port = ''] = (values.listen ?? env.FLASHGUARD_LISTEN ?? '0.0.0.0:8081').split(
  /:(?=\d+$)/,
);
const leaseSeconds = Number(values['lease-duration'] ?? '15');
const workers = Number(values.workers ?? '16');
if (!Number.isInteger(Number(port)) || host === '') fail('--listen must be HOST:PORT');
if (!(leaseSeconds >= 2)) fail('--lease-duration must be at least 2 seconds');
if (!Number.isInteger(workers) || workers < 1) fail('--workers must be a positive integer');
const identity = values.identity ?? env.POD_NAME ?? `${hostname()}-${String(process.pid)}`;
const webhookConfig = webhookSettings(values, env);
if (webhookConfig !== undefined && 'error' in webhookConfig) fail(webhookConfig.error);

const kubeconfig = new PooledKubeConfig();
if (values.kubeconfig === undefined) kubeconfig.loadFromDefault();
else kubeconfig.loadFromFile(values.kubeconfig);

const metrics = new OperatorMetrics();
// One controller per leadership term: a term ends with its informer, queue and reaper stopped.
let controller: SaleController | undefined;
const elector = new LeaderElector({
  kubeconfig,
  namespace: ownNamespace,
  name: values['lease-name'] ?? 'flashguard-operator',
  identity,
  leaseDurationMs: leaseSeconds * 1000,
  renewDeadlineMs: leaseSeconds * 667,
  retryPeriodMs: Math.min(2000, leaseSeconds * 133),
  log,
  onStartedLeading: () => {
    metrics.leader.set(1);
    webhook?.leading();
    controller = new SaleController({
      kubeconfig,
      defaultRedis,
      namespaces,
      workers,
      identity,
      metrics,
      log,
      autoscaling: autoscalingSettings(values, env),
    });
    controller.start();
  },
  onStoppedLeading: () => {
    // Another replica may lead already: stop reconciling and reaping, then campaign again.
    metrics.leader.set(0);
    const ending = controller;
    controller = undefined;
    void ending?.stop();
  },
});

// Every replica serves the webhook; only the leader writes its certificate.
const webhook =
  webhookConfig === undefined
    ? undefined
    : startWebhook(webhookConfig, {
        kubeconfig,
        namespace: ownNamespace,
        isLeader: () => elector.leading,
        log,
        registry: metrics.registry,
      });

const ops = buildOps({
  // A standby is ready (it serves metrics and waits); the leader once it has listed the sales.
  // With the webhook on, only once it serves it.
  ready: () => (controller?.synced ?? !elector.leading) && (webhook?.ready() ?? true),
  metrics: async () => ({
    contentType: metrics.registry.contentType,
    body: await metrics.registry.metrics(),
  }),
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('stopping: finishing in-flight reconciles', { signal });
  await controller?.stop();
  await webhook?.stop();
  await elector.stop();
  metrics.leader.set(0);
  await ops.close();
  log('stopped');
  process.exit(0);
}
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));

await ops.listen({ host, port: Number(port) });
log('started', { identity, namespaces: namespaces ?? 'all', listen: `${host}:${port}` });
elector.start();
