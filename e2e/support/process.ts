// Child processes for tests, benchmarks and the demo. Every child runs in its own process group
// and is killed when this process exits, so a failing test never leaves a redis-server or a
// kube-apiserver behind. Exits that run no hook (SIGKILL, an OOM kill) are covered by a watchdog
// (watchdog.sh) that outlives us and kills the groups it was told about.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or null when killed by a signal) once the process is gone. */
  readonly exited: Promise<number | null>;
  /** Sends `signal`, waits up to `graceMs`, then SIGKILLs the whole process group. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface StartOptions {
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Append stdout and stderr here; by default they are discarded. */
  logFile?: string;
}

const live = new Set<ManagedProcess>();
const dirsToRemove = new Set<string>();
let watchdog: { dir: string; pid: number } | undefined;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function writeWhole(path: string, lines: Iterable<string | number>): void {
  writeFileSync(`${path}.tmp`, [...lines].map((line) => `${line}\n`).join(''));
  renameSync(`${path}.tmp`, path);
}

/**
 * Tells the watchdog what to clean up. Rewritten whole on every change, so it never names a
 * dead group whose id the kernel may since have given to someone else.
 */
function briefWatchdog(): void {
  if (watchdog === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'flashguard-watchdog-'));
    const child = spawn(
      'bash',
      [join(import.meta.dirname, 'watchdog.sh'), String(process.pid), dir],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    child.unref();
    if (child.pid === undefined) throw new Error('could not start the watchdog');
    watchdog = { dir, pid: child.pid };
  }
  writeWhole(
    join(watchdog.dir, 'pgids'),
    [...live].map((p) => p.pid),
  );
  writeWhole(join(watchdog.dir, 'dirs'), dirsToRemove);
}

/** Removes `dir` when this process exits, however it exits; call the result to stop that. */
export function removeOnExit(dir: string): () => void {
  installExitHooks();
  dirsToRemove.add(dir);
  briefWatchdog();
  return () => {
    dirsToRemove.delete(dir);
    briefWatchdog();
  };
}

let exitHooksInstalled = false;
function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.on('exit', () => {
    // Groups first: a process still writing into a folder would make its removal fail.
    for (const p of live) killGroup(p.pid, 'SIGKILL');
    for (const dir of dirsToRemove) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    if (watchdog !== undefined) {
      killGroup(watchdog.pid, 'SIGKILL');
      rmSync(watchdog.dir, { recursive: true, force: true });
    }
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const p of live) killGroup(p.pid, 'SIGKILL');
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}

export function startProcess(options: StartOptions): ManagedProcess {
  installExitHooks();
  const logging = options.logFile !== undefined;
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', logging ? 'pipe' : 'ignore', logging ? 'pipe' : 'ignore'],
  });
  if (child.pid === undefined) {
    throw new Error(`could not start ${options.name} (${options.command})`);
  }
  if (options.logFile !== undefined) {
    const log = createWriteStream(options.logFile, { flags: 'a' });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
  }
  const pid = child.pid;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
    child.once('error', () => {
      resolve(null);
    });
  });
  const managed: ManagedProcess = {
    name: options.name,
    child,
    pid,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) {
        live.delete(managed);
        briefWatchdog();
        return;
      }
      killGroup(pid, signal);
      const timer = setTimeout(() => {
        killGroup(pid, 'SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
      // Grandchildren share the group; make sure none outlive the leader.
      killGroup(pid, 'SIGKILL');
      live.delete(managed);
      briefWatchdog();
    },
  };
  void exited.then(() => {
    live.delete(managed);
    briefWatchdog();
  });
  live.add(managed);
  briefWatchdog();
  return managed;
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Polls `probe` until it returns a value other than undefined, or throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 10_000, intervalMs = 50 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Waits for `url` to answer 200; fails at once, naming the log, if `proc` dies first. */
export async function waitForHttp(
  url: string,
  proc: ManagedProcess,
  logFile: string | undefined,
  timeoutMs = 20_000,
): Promise<void> {
  const outcome = await waitFor(
    `${proc.name} at ${url}`,
    async () => {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return 'exited';
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      return response.status === 200 ? 'ready' : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
  if (outcome === 'exited') {
    const log = logFile === undefined ? '' : `; see ${logFile}`;
    throw new Error(`${proc.name} exited (code ${proc.child.exitCode})${log}`);
  }
}
