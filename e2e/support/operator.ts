// The Flashguard operator as its own process, started with the entrypoint the image runs.
import { join } from 'node:path';
import { freePort, startProcess, waitForHttp, type ManagedProcess } from './process.ts';

const root = join(import.meta.dirname, '..', '..');

export interface RunningOperator {
  readonly process: ManagedProcess;
  /** http://127.0.0.1:PORT, serving /healthz, /readyz and /metrics. */
  readonly opsUrl: string;
}

export interface OperatorOptions {
  kubeconfig: string;
  redisUrl: string;
  /** The Lease holder identity; also names the process and its log. */
  identity: string;
  logDir: string;
  leaseSeconds?: number;
  /** Extra flags for node itself, e.g. ['--cpu-prof']. */
  nodeArgs?: readonly string[];
  /** Extra operator flags, e.g. the webhook's. */
  args?: readonly string[];
}

/** Resolves once /readyz answers: at once for a standby, after its first list for a leader. */
export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const port = await freePort();
  const logFile = join(options.logDir, `operator-${options.identity}.log`);
  const proc = startProcess({
    name: `operator-${options.identity}`,
    command: join(root, 'node_modules', '.bin', 'node'),
    args: [
      ...(options.nodeArgs ?? []),
      join(root, 'operator', 'main.ts'),
      ...['--kubeconfig', options.kubeconfig, '--redis', options.redisUrl],
      ...['--listen', `127.0.0.1:${String(port)}`, '--identity', options.identity],
      ...(options.leaseSeconds === undefined
        ? []
        : ['--lease-duration', String(options.leaseSeconds)]),
      ...(options.args ?? []),
    ],
    logFile,
  });
  const opsUrl = `http://127.0.0.1:${String(port)}`;
  await waitForHttp(`${opsUrl}/readyz`, proc, logFile);
  return { process: proc, opsUrl };
}
