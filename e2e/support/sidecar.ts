// Real Flashguard sidecars and demo shops as child processes, started with the same entrypoints
// the images and the demo run.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { CheckoutStats } from '../demo/checkout-app.ts';
import type { Faults } from '../demo/faults.ts';
import {
  freePort,
  removeOnExit,
  startProcess,
  waitForHttp,
  type ManagedProcess,
} from './process.ts';

const root = join(import.meta.dirname, '..', '..');
const node = process.execPath;

export interface FlashSaleManifest {
  apiVersion: 'flashguard.dev/v1alpha1';
  kind: 'FlashSale';
  metadata: { name: string; namespace?: string };
  spec: Record<string, unknown>;
}

/** A FlashSale open from a minute ago for an hour, with `spec` merged over it. */
export function flashSale(name: string, spec: Record<string, unknown> = {}): FlashSaleManifest {
  const now = Date.now();
  return {
    apiVersion: 'flashguard.dev/v1alpha1',
    kind: 'FlashSale',
    metadata: { name, namespace: 'shop' },
    spec: {
      window: {
        start: new Date(now - 60_000).toISOString(),
        end: new Date(now + 3_600_000).toISOString(),
      },
      items: [{ sku: 'phone', stock: 10, perUserLimit: 2 }],
      limits: { admissionRate: 10_000, burst: 1000 },
      ...spec,
    },
  };
}

export interface RunningSidecar {
  readonly url: string;
  readonly opsUrl: string;
  readonly process: ManagedProcess;
  readonly logFile: string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface SidecarOptions {
  /** The sale, written to a file for the sidecar; or `saleFile`, an existing one. */
  sale?: FlashSaleManifest;
  saleFile?: string;
  /** Workload mode instead (`ns/Kind/name`): the sales the operator indexes for it. */
  workload?: string;
  upstream: string;
  redisUrl: string;
  id?: string;
  /** Extra command-line flags, e.g. ['--redis-ca', file]. */
  args?: readonly string[];
  /** false: return once started, without waiting for /readyz (a sidecar that cannot get ready). */
  waitForReady?: boolean;
  /** Where the sale file and the log go; a new temporary folder (removed on stop) by default. */
  dir?: string;
}

/** A sidecar as the image runs it (standalone, or workload mode); resolves once it is ready. */
export async function startSidecar(options: SidecarOptions): Promise<RunningSidecar> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'flashguard-sidecar-'));
  const forgetDir = options.dir === undefined ? removeOnExit(dir) : undefined;
  let saleFile = options.saleFile;
  if (saleFile === undefined && options.workload === undefined) {
    if (options.sale === undefined)
      throw new Error('startSidecar needs sale, saleFile or workload');
    saleFile = join(dir, 'sale.yaml');
    writeFileSync(saleFile, stringify(options.sale));
  }
  const [port, opsPort] = [await freePort(), await freePort()];
  const logFile = join(dir, 'sidecar.log');
  const proc = startProcess({
    name: 'sidecar',
    command: node,
    args: [
      join(root, 'sidecar', 'main.ts'),
      ...(saleFile === undefined ? ['--workload', options.workload ?? ''] : ['--sale', saleFile]),
      ...['--upstream', options.upstream, '--redis', options.redisUrl],
      ...['--listen', `127.0.0.1:${port}`, '--metrics', `127.0.0.1:${opsPort}`],
      ...(options.id === undefined ? [] : ['--id', options.id]),
      ...(options.args ?? []),
    ],
    logFile,
  });
  const opsUrl = `http://127.0.0.1:${opsPort}`;
  if (options.waitForReady !== false) {
    try {
      await waitForHttp(`${opsUrl}/readyz`, proc, logFile);
    } catch (error) {
      // A sidecar that never got ready must not outlive the failed test and hold its process open.
      await proc.stop('SIGKILL', 5000);
      throw error;
    }
  }
  return {
    url: `http://127.0.0.1:${port}`,
    opsUrl,
    process: proc,
    logFile,
    async stop(signal = 'SIGTERM') {
      // SIGTERM lets it drain and settle its reservations.
      await proc.stop(signal, 10_000);
      if (forgetDir !== undefined) {
        forgetDir();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export interface RunningShop {
  readonly url: string;
  stats(): Promise<CheckoutStats>;
  setFaults(faults: Partial<Faults>): Promise<void>;
  stop(): Promise<void>;
}

/** The demo checkout app (e2e/demo/checkout-app.ts) as its own process. */
export async function startShop(options: { logFile?: string } = {}): Promise<RunningShop> {
  const port = await freePort();
  const proc = startProcess({
    name: 'demo checkout app',
    command: node,
    args: [join(root, 'e2e', 'demo', 'checkout-app.ts'), '--listen', `127.0.0.1:${port}`],
    logFile: options.logFile,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/stats`, proc, options.logFile);
  return {
    url,
    stats: async () => (await (await fetch(`${url}/stats`)).json()) as CheckoutStats,
    async setFaults(faults) {
      const res = await fetch(`${url}/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(faults),
      });
      if (!res.ok) throw new Error(`setting faults failed: ${res.status} ${await res.text()}`);
    },
    stop: () => proc.stop('SIGTERM', 5000),
  };
}
