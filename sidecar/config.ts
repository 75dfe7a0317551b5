// The sidecar's command line and environment, parsed into one settled configuration. Pure.
import { parseArgs } from 'node:util';
import { parseWorkloadRef, type ReplicaAck, type WorkloadRef } from '../ledger/index.ts';
import { isRedisUrl, REDIS_URL_SCHEMES } from './redis.ts';

/** What the sidecar guards: the sale of a FlashSale file, or every sale indexed for a workload. */
export type SaleSource =
  { kind: 'file'; path: string } | { kind: 'workload'; workload: WorkloadRef };

export interface SidecarConfig {
  source: SaleSource;
  upstream: string;
  listen: { host: string; port: number };
  metrics: { host: string; port: number };
  redisUrl: string;
  /** PEM file of the CA that signed the Redis server's certificate (rediss://). */
  redisCaFile: string | undefined;
  /** Replica-acknowledged mode: WAIT for this many replicas after each reservation. */
  replicaAck: ReplicaAck | undefined;
  sidecarId: string;
  logLevel: string;
}

export const usage = `usage: flashguard-sidecar (--sale FILE | --workload NS/KIND/NAME) --upstream URL
       [--listen HOST:PORT] [--metrics HOST:PORT] [--redis URL] [--redis-ca FILE]
       [--redis-wait-replicas N] [--redis-wait-timeout MS] [--id NAME] [--log-level LEVEL]
--sale: standalone, one sale from a FlashSale file (the sidecar preloads and reaps it).
--workload: the sales the operator indexes for that workload (it preloads and reaps them).
Environment: FLASHGUARD_SALE_FILE, FLASHGUARD_WORKLOAD, FLASHGUARD_UPSTREAM, FLASHGUARD_LISTEN,
FLASHGUARD_METRICS, FLASHGUARD_REDIS_URL (redis://, rediss:// or redis+sentinel://host:port[,…]/master, credentials
in the URL), FLASHGUARD_REDIS_CA_FILE, FLASHGUARD_REDIS_WAIT_REPLICAS,
FLASHGUARD_REDIS_WAIT_TIMEOUT, FLASHGUARD_SIDECAR_ID, FLASHGUARD_LOG_LEVEL. Flags win over the
environment.`;

/** Bounded below the command timeout, so a WAIT never outlives the reserve it follows. */
export const MAX_WAIT_TIMEOUT_MS = 400;

function replicaAckFrom(
  replicas: string | undefined,
  timeout: string | undefined,
  errors: string[],
): ReplicaAck | undefined {
  if (replicas === undefined || replicas === '0') return undefined;
  const n = Number(replicas);
  const timeoutMs = Number(timeout ?? '100');
  if (!Number.isInteger(n) || n < 1 || n > 16) {
    errors.push(`--redis-wait-replicas: expected 0 to 16, got "${replicas}"`);
  }
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_WAIT_TIMEOUT_MS) {
    errors.push(`--redis-wait-timeout: expected 1 to ${MAX_WAIT_TIMEOUT_MS} ms`);
  }
  return { replicas: n, timeoutMs };
}

function saleSource(
  saleFile: string | undefined,
  workload: string | undefined,
  errors: string[],
): SaleSource | undefined {
  if ((saleFile === undefined) === (workload === undefined)) {
    errors.push('exactly one of --sale FILE and --workload NS/KIND/NAME is required');
    return undefined;
  }
  if (saleFile !== undefined) return { kind: 'file', path: saleFile };
  const ref = parseWorkloadRef(workload ?? '');
  if (ref === undefined) errors.push(`--workload: expected NS/KIND/NAME, got "${workload ?? ''}"`);
  return ref === undefined ? undefined : { kind: 'workload', workload: ref };
}

function hostPort(value: string, name: string, errors: string[]): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(value);
  const port = Number(m?.[2]);
  if (m === null || port > 65535) {
    errors.push(`${name}: expected HOST:PORT, got "${value}"`);
    return { host: '', port: 0 };
  }
  return { host: (m[1] ?? '').replace(/^\[(.*)\]$/, '$1') || '0.0.0.0', port };
}

/** A sidecar id usable as a heartbeat member: the pod name, cleaned. */
export function sidecarIdFrom(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64) || 'sidecar';
}

export function parseConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  hostname: string,
): { ok: true; config: SidecarConfig } | { ok: false; errors: string[] } {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        sale: { type: 'string' },
        workload: { type: 'string' },
        upstream: { type: 'string' },
        listen: { type: 'string' },
        metrics: { type: 'string' },
        redis: { type: 'string' },
        'redis-ca': { type: 'string' },
        'redis-wait-replicas': { type: 'string' },
        'redis-wait-timeout': { type: 'string' },
        id: { type: 'string' },
        'log-level': { type: 'string' },
      },
    }));
  } catch (error) {
    return { ok: false, errors: [(error as Error).message] };
  }
  const errors: string[] = [];
  const source = saleSource(
    values.sale ?? env.FLASHGUARD_SALE_FILE,
    values.workload ?? env.FLASHGUARD_WORKLOAD,
    errors,
  );
  const upstream = values.upstream ?? env.FLASHGUARD_UPSTREAM;
  if (upstream === undefined) errors.push('--upstream (or FLASHGUARD_UPSTREAM) is required');
  else if (!/^https?:\/\/[^/]+\/?$/.test(upstream)) {
    errors.push(`--upstream: expected an origin like http://127.0.0.1:3000, got "${upstream}"`);
  }
  const redisUrl = values.redis ?? env.FLASHGUARD_REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (!isRedisUrl(redisUrl)) {
    errors.push(`--redis: expected a ${REDIS_URL_SCHEMES} URL`);
  }
  const replicaAck = replicaAckFrom(
    values['redis-wait-replicas'] ?? env.FLASHGUARD_REDIS_WAIT_REPLICAS,
    values['redis-wait-timeout'] ?? env.FLASHGUARD_REDIS_WAIT_TIMEOUT,
    errors,
  );
  const listen = hostPort(
    values.listen ?? env.FLASHGUARD_LISTEN ?? '0.0.0.0:8080',
    '--listen',
    errors,
  );
  const metrics = hostPort(
    values.metrics ?? env.FLASHGUARD_METRICS ?? '0.0.0.0:9090',
    '--metrics',
    errors,
  );
  if (errors.length > 0 || source === undefined || upstream === undefined) {
    return { ok: false, errors };
  }
  return {
    ok: true,
    config: {
      source,
      upstream: upstream.replace(/\/$/, ''),
      listen,
      metrics,
      redisUrl,
      redisCaFile: values['redis-ca'] ?? env.FLASHGUARD_REDIS_CA_FILE,
      replicaAck,
      sidecarId: sidecarIdFrom(
        values.id ?? env.FLASHGUARD_SIDECAR_ID ?? `${hostname}-${process.pid}`,
      ),
      logLevel: values['log-level'] ?? env.FLASHGUARD_LOG_LEVEL ?? 'info',
    },
  };
}
