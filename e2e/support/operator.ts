// The Flashguard operator as its own process, started with the entrypoint the image runs.
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { connectRedis } from '../../sidecar/redis.ts';
import { startControlPlane, type ControlPlane } from '../controlplane/controlplane.ts';
import { freePort, startProcess, waitForHttp, type ManagedProcess } from './process.ts';
import { startRedis, type RedisOptions, type RedisServer } from './redis.ts';

const root = join(import.meta.dirname, '..', '..');

/**
 * The V8 heap settings the operator runs with (as in `npm run operator` and operator/README.md).
 * client-node alone costs ~100 MB resident; V8's default 32 MB semi-spaces and its generous old
 * space growth then took the operator with 1,000 sales past 350 MB. A 2 MB young generation and
 * 30 % old-space growth keep it under 200 MB at a few percent more GC time (npm run bench).
 */
export const operatorNodeFlags = ['--max-semi-space-size=2', '--heap-growing-percent=30'];

export interface RunningOperator {
  readonly process: ManagedProcess;
  /** http://127.0.0.1:PORT, serving /healthz, /readyz and /metrics. */
  readonly opsUrl: string;
}

export interface OperatorOptions {
  kubeconfig: string;
  /** The default Redis (`--redis`); or give `--redis-secret NAME` in `args`. */
  redisUrl?: string;
  /** Extra operator flags. */
  args?: readonly string[];
  /** The Lease holder identity; also names the process and its log. */
  identity: string;
  logDir: string;
  leaseSeconds?: number;
  /** Extra flags for node itself, e.g. ['--cpu-prof']. */
  nodeArgs?: readonly string[];
}

/** Resolves once /readyz answers: at once for a standby, after its first list for a leader. */
export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const port = await freePort();
  const logFile = join(options.logDir, `operator-${options.identity}.log`);
  const proc = startProcess({
    name: `operator-${options.identity}`,
    command: join(root, 'node_modules', '.bin', 'node'),
    args: [
      ...operatorNodeFlags,
      ...(options.nodeArgs ?? []),
      join(root, 'operator', 'main.ts'),
      ...['--kubeconfig', options.kubeconfig],
      ...(options.redisUrl === undefined ? [] : ['--redis', options.redisUrl]),
      ...(options.args ?? []),
      ...['--listen', `127.0.0.1:${String(port)}`, '--identity', options.identity],
      ...(options.leaseSeconds === undefined
        ? []
        : ['--lease-duration', String(options.leaseSeconds)]),
    ],
    logFile,
  });
  const opsUrl = `http://127.0.0.1:${String(port)}`;
  await waitForHttp(`${opsUrl}/readyz`, proc, logFile);
  return { process: proc, opsUrl };
}

/** A control plane with the FlashSale CRD, a redis-server, a client of it, and one operator. */
export interface OperatorBed {
  cp: ControlPlane;
  redis: RedisServer;
  client: Redis;
  operator: ManagedProcess;
  stop(): Promise<void>;
}

export async function startOperatorBed(options: {
  identity: string;
  redis?: RedisOptions;
}): Promise<OperatorBed> {
  const [cp, redis] = await Promise.all([startControlPlane(), startRedis(options.redis)]);
  const client = connectRedis(redis.url);
  await installFlashSaleCrd(cp);
  const { process: operator } = await startOperator({
    kubeconfig: cp.kubeconfig,
    redisUrl: redis.url,
    identity: options.identity,
    logDir: join(cp.dir, 'logs'),
  });
  return {
    cp,
    redis,
    client,
    operator,
    async stop() {
      await operator.stop();
      client.disconnect();
      await Promise.all([redis.destroy(), cp.stop()]);
    },
  };
}

export interface StoredCondition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

/** A FlashSale as the apiserver stores it, the fields the tests read. */
export interface StoredSale {
  metadata: { generation: number; finalizers?: string[] };
  status?: {
    phase?: string;
    observedGeneration?: number;
    conditions?: StoredCondition[];
    items?: { sku: string; available: number; reserved: number; sold: number }[];
    /** The ledger marker: which ledger the operator loaded, and how far it has seen it go. */
    ledger?: { id: string; seq: number };
  };
}

/** A time as the FlashSale schema wants it (RFC 3339, whole seconds). */
export function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Ready=True for the current generation. */
export function isReady(sale: StoredSale | undefined): boolean {
  return (
    sale?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true &&
    sale.status.observedGeneration === sale.metadata.generation
  );
}

/** FlashSales and their Events through kubectl, as a user would see them. */
export function flashSales(cp: ControlPlane) {
  const get = async (name: string, namespace = 'default'): Promise<StoredSale | undefined> => {
    const result = await cp.kubectl(['get', 'flashsale', name, '-n', namespace, '-o', 'json'], {
      check: false,
    });
    return result.code === 0 ? (JSON.parse(result.stdout) as StoredSale) : undefined;
  };
  return {
    get,
    apply: (doc: unknown) => cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(doc) }),
    condition: async (name: string, type: string, namespace = 'default') =>
      (await get(name, namespace))?.status?.conditions?.find((c) => c.type === type),
    /** The reasons of the Warning Events about the sale, space-separated. */
    warnings: async (name: string, namespace = 'default'): Promise<string> =>
      (
        await cp.kubectl([
          'get',
          'events',
          '-n',
          namespace,
          '--field-selector',
          `involvedObject.name=${name},type=Warning`,
          '-o',
          'jsonpath={.items[*].reason}',
        ])
      ).stdout,
  };
}

/** Installs the FlashSale CRD (crds/) and waits until the apiserver serves it. */
export async function installFlashSaleCrd(cp: ControlPlane): Promise<void> {
  await cp.kubectl(['apply', '-f', join(root, 'crds')]);
  await cp.kubectl(['wait', '--for=condition=Established', 'crd/flashsales.flashguard.dev']);
}

/** Who holds the operator's leader Lease in `namespace`; '' when nobody does yet. */
export async function leaseHolder(cp: ControlPlane, namespace = 'default'): Promise<string> {
  const got = await cp.kubectl([
    ...['get', 'lease', 'flashguard-operator', '-n', namespace],
    ...['-o', 'jsonpath={.spec.holderIdentity}'],
  ]);
  return got.stdout;
}
