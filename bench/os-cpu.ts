// CPU figures from the OS (Linux /proc), for benchmarks that compare processes by CPU time per
// request, and CPU pinning with taskset so a load generator and the servers it loads do not
// share a core.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** User + system CPU seconds a process has used so far, all its threads included. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces: field 3 on.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error(`cannot read CPU time of ${pid}`);
  }
  return (utime + stime) / ticksPerSecond;
}

/**
 * Busy, stolen (by the hypervisor, for other guests) and total time of each CPU so far, in
 * ticks, from /proc/stat.
 */
export type CoreTimes = Map<number, { busy: number; steal: number; total: number }>;

export function coreTimes(): CoreTimes {
  const times: CoreTimes = new Map();
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const match = /^cpu(\d+) (.*)$/.exec(line);
    if (match === null) continue;
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] =
      (match[2] ?? '').trim().split(/\s+/).map(Number);
    const busy = user + nice + system + irq + softirq;
    const total = busy + idle + iowait + steal;
    times.set(Number(match[1]), { busy, steal, total });
  }
  return times;
}

/** How busy `cores` were (or how much was stolen) between two readings, in percent of them. */
export function corePercent(
  before: CoreTimes,
  after: CoreTimes,
  cores: readonly number[],
  what: 'busy' | 'steal',
): number {
  let part = 0;
  let total = 0;
  for (const core of cores) {
    const a = before.get(core);
    const b = after.get(core);
    if (a === undefined || b === undefined) continue;
    part += b[what] - a[what];
    total += b.total - a.total;
  }
  return total > 0 ? (100 * part) / total : Number.NaN;
}

/** The CPUs a process may run on. */
export function affinity(pid: number): number[] {
  const out = execFileSync('taskset', ['-pc', String(pid)], { encoding: 'utf8' });
  const list = out.slice(out.lastIndexOf(':') + 1).trim();
  return list.split(',').flatMap((part) => {
    const [from, to = from] = part.split('-').map(Number) as [number, number?];
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}

/** Pins every thread of `pid` to `cpus`; processes it starts afterwards inherit the pinning. */
export function pin(pid: number, cpus: readonly number[]): void {
  execFileSync('taskset', ['-a', '-pc', cpus.join(','), String(pid)], { stdio: 'ignore' });
}
