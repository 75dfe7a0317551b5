// Real redis-server instances on free loopback ports for tests, benchmarks and the demo.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensurePrerequisites, prerequisites } from './prereqs.ts';
import { freePort, removeOnExit, startProcess, waitFor, type ManagedProcess } from './process.ts';

const run = promisify(execFile);

export interface RedisOptions {
  /** Extra redis-server arguments, e.g. ['--appendonly', 'yes']. */
  args?: readonly string[];
  port?: number;
}

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Runs redis-cli against this server and returns its trimmed output. */
  cli(...args: string[]): Promise<string>;
  /** Stops the server (SHUTDOWN semantics by SIGTERM; SIGKILL to simulate a crash). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and data directory. */
  start(): Promise<void>;
  /** Stops it and removes its data directory. */
  destroy(): Promise<void>;
}

async function redisCli(port: number, args: readonly string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout.trim();
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  ensurePrerequisites([prerequisites.redisServer, prerequisites.redisCli]);
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'flashguard-redis-'));
  const forgetDir = removeOnExit(dir);
  let proc: ManagedProcess | undefined;

  const start = async (): Promise<void> => {
    proc = startProcess({
      name: `redis-${port}`,
      command: 'redis-server',
      args: [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--logfile',
        join(dir, 'redis.log'),
        ...(options.args ?? []),
      ],
    });
    const started = proc;
    await waitFor(`redis-server on port ${port}`, async () => {
      if (started.child.exitCode !== null) {
        throw new Error(`redis-server exited with ${started.child.exitCode}; see ${dir}/redis.log`);
      }
      return (await redisCli(port, ['PING'])) === 'PONG' ? true : undefined;
    });
  };

  await start();
  const server: RedisServer = {
    host: '127.0.0.1',
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    cli: (...args) => redisCli(port, args),
    async stop(signal = 'SIGTERM') {
      await proc?.stop(signal, 10_000);
    },
    start,
    async destroy() {
      await proc?.stop('SIGKILL');
      forgetDir();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  /** Startup nodes for ioredis' Cluster client. */
  readonly startupNodes: readonly { host: string; port: number }[];
  destroy(): Promise<void>;
}

/** A real Redis Cluster of `masters` masters and no replicas, created with redis-cli. */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      nodes.push(
        await startRedis({
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'],
        }),
      );
    }
    await run('redis-cli', [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    for (const node of nodes) {
      await waitFor(`cluster state ok on ${node.port}`, async () =>
        (await node.cli('CLUSTER', 'INFO')).includes('cluster_state:ok') ? true : undefined,
      );
    }
  } catch (error) {
    await Promise.all(nodes.map((n) => n.destroy()));
    throw error;
  }
  return {
    nodes,
    startupNodes: nodes.map((n) => ({ host: n.host, port: n.port })),
    async destroy() {
      await Promise.all(nodes.map((n) => n.destroy()));
    },
  };
}
