// No orphans, ever: `npm run cluster` (cli.ts) leaves no process and no directory behind when it
// is stopped with SIGTERM, nor when it is SIGKILLed and cannot clean up itself (the watchdog
// process.ts's watchdog does it then).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { waitFor } from '../support/process.ts';

const cli = fileURLToPath(new URL('cli.ts', import.meta.url));

interface Running {
  child: ChildProcess;
  stdout: string;
  dir: string;
  pids: number[];
}

/** Alive and not a zombie (a zombie is dead, only not yet reaped). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function startCli(): Promise<Running> {
  const child = spawn(process.execPath, [cli, '--no-controller-manager'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const running = await waitFor(
    'npm run cluster to report it is running',
    () => {
      if (child.exitCode !== null)
        throw new Error(`cli exited ${String(child.exitCode)}: ${stderr}`);
      for (const line of stderr.split('\n')) {
        if (!line.startsWith('{')) continue;
        const event = JSON.parse(line) as {
          msg: string;
          dir?: string;
          processes?: { pid: number }[];
        };
        // The export line follows the event on the other stream: wait for both.
        if (
          event.msg === 'running' &&
          event.dir !== undefined &&
          event.processes !== undefined &&
          stdout.includes('export KUBECONFIG=')
        ) {
          return { dir: event.dir, pids: event.processes.map((p) => p.pid) };
        }
      }
      return undefined;
    },
    { timeoutMs: 90_000, intervalMs: 100 },
  );
  return { child, stdout, ...running };
}

async function assertNothingLeft(running: Running, timeoutMs: number): Promise<void> {
  await waitFor(
    'every process and the directory to be gone',
    () => (running.pids.some(isAlive) || existsSync(running.dir) ? undefined : true),
    { timeoutMs, intervalMs: 100 },
  );
}

void describe('npm run cluster lifecycle', () => {
  void it('prints the export line and cleans up on SIGTERM, and the watchdog cleans up after SIGKILL', async (t) => {
    const [terminated, killed] = await Promise.all([startCli(), startCli()]);
    // A failed assertion must not leave them running (and the test runner waiting on them).
    t.after(() => {
      for (const running of [terminated, killed]) running.child.kill('SIGKILL');
    });
    for (const running of [terminated, killed]) {
      assert.match(running.stdout, /^export KUBECONFIG=\/.*\/kubeconfig$/m);
      assert.ok(existsSync(running.dir));
      // etcd and kube-apiserver (the watchdog belongs to e2e/support/process.ts)
      assert.equal(running.pids.filter(isAlive).length, 2);
    }

    terminated.child.kill('SIGTERM');
    const [code] = (await once(terminated.child, 'exit')) as [number | null];
    assert.equal(code, 0);
    await assertNothingLeft(terminated, 5_000);

    killed.child.kill('SIGKILL');
    await once(killed.child, 'exit');
    await assertNothingLeft(killed, 10_000);
  });
});
