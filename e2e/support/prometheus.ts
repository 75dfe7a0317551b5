// A real Prometheus (the Debian `prometheus` binary) on a free loopback port, scraping the
// targets a test names with the labels it gives them — e.g. `namespace` and `pod`, as Kubernetes
// service discovery would set them — fast, into a temporary data folder removed on stop.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePrerequisites, prerequisites } from './prereqs.ts';
import {
  freePort,
  removeOnExit,
  startProcess,
  waitForHttp,
  type ManagedProcess,
} from './process.ts';

export interface ScrapeTarget {
  /** host:port serving /metrics. */
  address: string;
  /** Target labels, e.g. { namespace: 'shop', pod: 'checkout-0' }. */
  labels?: Record<string, string>;
}

export interface ScrapeJob {
  job: string;
  targets: readonly ScrapeTarget[];
  /** Default /metrics. */
  metricsPath?: string;
}

export interface PrometheusOptions {
  jobs: readonly ScrapeJob[];
  /** Default '1s': tests should not wait for data. */
  scrapeInterval?: string;
  /** Rule files (YAML) to load, e.g. a chart's alert rules. */
  ruleFiles?: readonly string[];
}

/** A sample of an instant vector: its labels and its value. */
export interface VectorSample {
  metric: Record<string, string>;
  value: number;
}

export interface QueryResult {
  resultType: 'vector' | 'matrix' | 'scalar' | 'string';
  /** The vector's samples; for a scalar, one sample without labels. */
  samples: VectorSample[];
}

export interface RunningPrometheus {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly process: ManagedProcess;
  readonly logFile: string;
  /** An instant query at the current time; throws with Prometheus's error on a bad query. */
  query(promql: string): Promise<QueryResult>;
  /** Resolves once every target of every job has been scraped successfully. */
  waitForTargets(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** The prometheus.yml for `options`: pure, so a test can read what it runs. */
export function prometheusConfig(options: PrometheusOptions, ruleFiles: readonly string[]) {
  const interval = options.scrapeInterval ?? '1s';
  return {
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: [...ruleFiles],
    scrape_configs: options.jobs.map((job) => ({
      job_name: job.job,
      scrape_interval: interval,
      scrape_timeout: interval,
      metrics_path: job.metricsPath ?? '/metrics',
      // One static_config per target: each carries its own labels.
      static_configs: job.targets.map((t) => ({ targets: [t.address], labels: t.labels ?? {} })),
    })),
  };
}

interface ApiAnswer<T> {
  status: 'success' | 'error';
  data?: T;
  errorType?: string;
  error?: string;
}

async function api<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const answer = (await response.json()) as ApiAnswer<T>;
  if (answer.status !== 'success' || answer.data === undefined) {
    throw new Error(`prometheus ${url}: ${answer.errorType ?? ''} ${answer.error ?? ''}`.trim());
  }
  return answer.data;
}

type RawResult =
  | { resultType: 'vector'; result: { metric: Record<string, string>; value: [number, string] }[] }
  | { resultType: 'scalar' | 'string'; result: [number, string] }
  | { resultType: 'matrix'; result: unknown[] };

function samplesOf(raw: RawResult): VectorSample[] {
  switch (raw.resultType) {
    case 'vector':
      return raw.result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
    case 'scalar':
    case 'string':
      return [{ metric: {}, value: Number(raw.result[1]) }];
    case 'matrix':
      return [];
  }
}

export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  ensurePrerequisites([prerequisites.prometheus]);
  const dir = mkdtempSync(join(tmpdir(), 'flashguard-prometheus-'));
  const forgetDir = removeOnExit(dir);
  const configFile = join(dir, 'prometheus.yml');
  // JSON is YAML: no writer needed.
  writeFileSync(configFile, JSON.stringify(prometheusConfig(options, options.ruleFiles ?? [])));
  const port = await freePort();
  const url = `http://127.0.0.1:${String(port)}`;
  const logFile = join(dir, 'prometheus.log');
  const proc = startProcess({
    name: 'prometheus',
    command: 'prometheus',
    args: [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${String(port)}`,
      '--log.level=warn',
    ],
    logFile,
  });
  try {
    await waitForHttp(`${url}/-/ready`, proc, logFile, 30_000);
  } catch (error) {
    await proc.stop();
    forgetDir();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const expectedTargets = options.jobs.reduce((n, job) => n + job.targets.length, 0);
  return {
    url,
    process: proc,
    logFile,
    async query(promql) {
      const raw = await api<RawResult>(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      return { resultType: raw.resultType, samples: samplesOf(raw) };
    },
    async waitForTargets(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let healthy = 0;
      while (Date.now() < deadline) {
        const data = await api<{ activeTargets: { health: string }[] }>(
          `${url}/api/v1/targets?state=active`,
        );
        healthy = data.activeTargets.filter((t) => t.health === 'up').length;
        if (healthy === expectedTargets) return;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      throw new Error(
        `prometheus scraped ${String(healthy)} of ${String(expectedTargets)} targets after ${String(timeoutMs)} ms; see ${logFile}`,
      );
    },
    async stop() {
      await proc.stop('SIGTERM', 10_000);
      forgetDir();
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}
