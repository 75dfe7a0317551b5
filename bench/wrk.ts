// One wrk run of bench/shoppers.lua: unique shoppers checking out, at full speed or paced, with
// wrk's own CPU time (so a report can show the load generator was not the bottleneck).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess } from '../e2e/support/process.ts';

const SCRIPT = join(import.meta.dirname, 'shoppers.lua');

export interface WrkRun {
  url: string;
  /** Makes this run's user ids and Idempotency-Keys unique across runs. */
  runId: string;
  sku: string;
  /** `direct` adds the reservation header the shop wants when no sidecar is in front. */
  mode: 'guarded' | 'direct';
  seconds: number;
  connections: number;
  /** Mean think time per connection between requests; 0 sends as fast as answers come. */
  thinkMs?: number;
  /** The CPU wrk is pinned to, if any. */
  core?: number;
  /** Where wrk's output goes. */
  outFile: string;
}

export interface WrkResult {
  requests: number;
  seconds: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  /** wrk's user + system CPU time, and that as a percentage of the run's wall time. */
  cpuSeconds: number;
  cpuPercent: number;
}

interface ScriptResult {
  requests: number;
  duration_us: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
  errors: WrkResult['errors'];
}

export async function runWrk(run: WrkRun): Promise<WrkResult> {
  const wrk = [
    ...(run.core === undefined ? [] : ['taskset', '-c', String(run.core)]),
    ...['wrk', '-t1', `-c${run.connections}`, `-d${run.seconds}s`, '--timeout', '10s'],
    ...['-s', SCRIPT, run.url, '--', run.runId, run.sku, run.mode, String(run.thinkMs ?? 0)],
  ];
  // bash's `times` prints its children's CPU time: wrk's. Written to a file bash owns, so the
  // output is complete once bash has exited.
  const proc = startProcess({
    name: 'wrk',
    command: 'bash',
    args: [
      '-c',
      '"${@:2}" >"$1" 2>&1; status=$?; times >>"$1"; exit $status',
      'bash',
      run.outFile,
      ...wrk,
    ],
  });
  const code = await proc.exited;
  const output = readFileSync(run.outFile, 'utf8');
  const line = output.split('\n').find((l) => l.startsWith('wrk-result '));
  if (code !== 0 || line === undefined) throw new Error(`wrk failed (exit ${code}):\n${output}`);
  const result = JSON.parse(line.slice('wrk-result '.length)) as ScriptResult;
  const children = output.trim().split('\n').at(-1) ?? '';
  const cpuSeconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].reduce(
    (sum, m) => sum + Number(m[1]) * 60 + Number(m[2]),
    0,
  );
  const seconds = result.duration_us / 1e6;
  return {
    requests: result.requests,
    seconds,
    perSecond: result.requests / seconds,
    p50Ms: result.p50_us / 1000,
    p99Ms: result.p99_us / 1000,
    maxMs: result.max_us / 1000,
    errors: result.errors,
    cpuSeconds,
    cpuPercent: (100 * cpuSeconds) / seconds,
  };
}
