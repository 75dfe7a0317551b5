// `npm run demo` end to end: real Redis, the demo shop and the sidecar as child processes. It
// passes when Flashguard keeps its promises, fails when they are broken (the storm straight at
// the shop), and leaves nothing running, Ctrl-C included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, waitFor, type ManagedProcess } from '../support/process.ts';

const demoScript = join(import.meta.dirname, '..', '..', 'scripts', 'demo.ts');

interface DemoRun {
  proc: ManagedProcess;
  output: () => string;
  cleanup: () => Promise<void>;
}

function startDemo(args: readonly string[]): DemoRun {
  const dir = mkdtempSync(join(tmpdir(), 'flashguard-demo-test-'));
  const logFile = join(dir, 'demo.log');
  const proc = startProcess({
    name: 'demo',
    command: process.execPath,
    args: [demoScript, ...args],
    // The demo keeps its logs when it fails; here they go with the test's directory.
    env: { ...process.env, TMPDIR: dir },
    logFile,
  });
  return {
    proc,
    output: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
    async cleanup() {
      // SIGTERM: the demo's own handler stops what it started.
      await proc.stop('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The ports of what the demo says it started: Redis, the shop, the sidecar and its metrics. */
function startedPorts(output: string): number[] {
  return [...output.matchAll(/127\.0\.0\.1:(\d+)|metrics on :(\d+)/g)].map((m) =>
    Number(m[1] ?? m[2]),
  );
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

async function assertAllStopped(output: string, started: number): Promise<void> {
  const ports = startedPorts(output);
  assert.equal(ports.length, started, `expected ${started} started ports in:\n${output}`);
  for (const port of ports) assert.equal(await listening(port), false, `port ${port} still open`);
}

test('guarded: every promise kept, exit 0, nothing left running', async () => {
  const run = startDemo(['--requests', '2000', '--users', '100', '--seed', '11']);
  try {
    const code = await run.proc.exited;
    const output = run.output();
    assert.equal(code, 0, output);
    assert.match(output, /through the Flashguard sidecar/);
    assert.match(output, /Every promise kept/);
    const total = /^\s+total\s+(\d+)\s+(\d+)\s+(-?\d+)\s*$/m.exec(output);
    assert.ok(total, output);
    assert.ok(Number(total[2]) <= Number(total[1]), 'committed <= stock');
    assert.match(output, /sold-out\s+409/);
    await assertAllStopped(output, 4);
  } finally {
    await run.cleanup();
  }
});

test('unguarded: the shop oversells and the demo exits non-zero', async () => {
  const run = startDemo(['--unguarded', '--requests', '600', '--seed', '11']);
  try {
    const code = await run.proc.exited;
    const output = run.output();
    assert.equal(code, 1, output);
    assert.match(output, /BROKEN PROMISES/);
    assert.match(output, /oversold DEMO-/);
    await assertAllStopped(output, 2);
  } finally {
    await run.cleanup();
  }
});

test('Ctrl-C during the storm stops everything the demo started', async () => {
  const run = startDemo(['--requests', '1000000']);
  try {
    await waitFor('the storm to start', () => (/storm: /.test(run.output()) ? true : undefined), {
      timeoutMs: 30_000,
    });
    run.proc.child.kill('SIGINT');
    assert.equal(await run.proc.exited, 130);
    await assertAllStopped(run.output(), 4);
  } finally {
    await run.cleanup();
  }
});
