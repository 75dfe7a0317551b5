// Real redis-server instances on free loopback ports for tests, benchmarks and the demo.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createCertificateAuthority, issueCertificate } from '../controlplane/certs.ts';
import { ensurePrerequisites, prerequisites } from './prereqs.ts';
import { freePort, removeOnExit, startProcess, waitFor, type ManagedProcess } from './process.ts';

const run = promisify(execFile);

export interface RedisOptions {
  /** Extra redis-server arguments, e.g. ['--appendonly', 'yes']. */
  args?: readonly string[];
  port?: number;
  /** Persist to an append-only file, fsynced every second (restarts replay it). */
  aof?: boolean;
  /** The default user's password (requirepass). */
  password?: string;
  /** An extra ACL user with every permission; the default user stays as `password` says. */
  aclUser?: { name: string; password: string };
  /** Serve TLS only, with this certificate (see createRedisTls). */
  tls?: RedisTls;
}

/** A throwaway CA and a server certificate for 127.0.0.1, made with openssl. */
export interface RedisTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** Certificates for a TLS redis-server in `dir`: a CA and a server certificate it signed. */
export async function createRedisTls(dir: string): Promise<RedisTls> {
  ensurePrerequisites([prerequisites.openssl]);
  const ca = await createCertificateAuthority(dir, 'flashguard-test-redis-ca');
  const server = await issueCertificate(ca, dir, {
    name: 'redis',
    commonName: 'redis',
    hosts: ['127.0.0.1', 'localhost'],
    usage: 'server',
  });
  return { caFile: ca.certPath, certFile: server.certPath, keyFile: server.keyPath };
}

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  /** Without credentials; `rediss://` when it serves TLS. */
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

function cliConnection(port: number, options: RedisOptions): string[] {
  return [
    ...['-h', '127.0.0.1', '-p', String(port)],
    ...(options.tls === undefined ? [] : ['--tls', '--cacert', options.tls.caFile]),
    ...(options.password === undefined ? [] : ['--no-auth-warning', '-a', options.password]),
  ];
}

async function redisCli(connection: readonly string[], args: readonly string[]): Promise<string> {
  const { stdout } = await run('redis-cli', [...connection, ...args]);
  return stdout.trim();
}

function serverArgs(port: number, options: RedisOptions): string[] {
  const { tls, aclUser, password } = options;
  return [
    ...(tls === undefined
      ? ['--port', String(port)]
      : ['--port', '0', '--tls-port', String(port), '--tls-auth-clients', 'no']),
    ...(tls === undefined ? [] : ['--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile]),
    ...(tls === undefined ? [] : ['--tls-ca-cert-file', tls.caFile]),
    ...(options.aof === true
      ? ['--appendonly', 'yes', '--appendfsync', 'everysec']
      : ['--appendonly', 'no']),
    ...(password === undefined ? [] : ['--requirepass', password]),
    ...(aclUser === undefined
      ? []
      : ['--user', aclUser.name, 'on', `>${aclUser.password}`, '~*', '&*', '+@all']),
  ];
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  ensurePrerequisites([prerequisites.redisServer, prerequisites.redisCli]);
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'flashguard-redis-'));
  const forgetDir = removeOnExit(dir);
  const connection = cliConnection(port, options);
  let proc: ManagedProcess | undefined;

  const start = async (): Promise<void> => {
    proc = startProcess({
      name: `redis-${port}`,
      command: 'redis-server',
      args: [
        ...serverArgs(port, options),
        ...['--bind', '127.0.0.1', '--dir', dir, '--save', ''],
        ...['--logfile', join(dir, 'redis.log')],
        ...(options.args ?? []),
      ],
    });
    const started = proc;
    await waitFor(`redis-server on port ${port}`, async () => {
      if (started.child.exitCode !== null) {
        throw new Error(`redis-server exited with ${started.child.exitCode}; see ${dir}/redis.log`);
      }
      return (await redisCli(connection, ['PING'])) === 'PONG' ? true : undefined;
    });
  };

  await start();
  const server: RedisServer = {
    host: '127.0.0.1',
    port,
    url: `${options.tls === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}`,
    dir,
    cli: (...args) => redisCli(connection, args),
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

export interface RedisSentinelSetup {
  readonly masterName: string;
  /** The first primary, then its replicas. */
  readonly servers: readonly RedisServer[];
  /** `redis+sentinel://127.0.0.1:p1,…/<masterName>` (`rediss+sentinel` with TLS), without credentials. */
  readonly url: string;
  /** The port of the primary the sentinels currently name. */
  primaryPort(): Promise<number>;
  /** Waits until the sentinels name a primary other than `before`; returns its port. */
  newPrimary(before: number): Promise<number>;
  /** Asks a sentinel for a failover and waits until another server is primary. */
  failover(): Promise<number>;
  /** Waits until the primary on `port` has `count` replicas with their link up. */
  replicasConnected(port: number, count: number): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * A real Sentinel deployment on loopback: one primary, `replicas` replicas, and `sentinels`
 * redis-sentinel processes agreeing with `quorum` votes; failure detection within a second.
 * With `sentinelPassword` every sentinel requires it (`requirepass`), of clients and of its peers.
 * With `tls` every server and sentinel serves TLS only, and they talk to each other over TLS.
 */
export async function startRedisSentinel(
  options: {
    replicas?: number;
    sentinels?: number;
    quorum?: number;
    masterName?: string;
    sentinelPassword?: string;
    tls?: RedisTls;
  } = {},
): Promise<RedisSentinelSetup> {
  ensurePrerequisites([prerequisites.redisSentinel]);
  const { replicas = 2, sentinels = 3, quorum = 2, masterName = 'flashguard' } = options;
  const { sentinelPassword, tls } = options;
  const sentinelCli = (port: number) => [
    ...cliConnection(port, { tls }),
    ...(sentinelPassword === undefined ? [] : ['-a', sentinelPassword, '--no-auth-warning']),
  ];
  const servers: RedisServer[] = [];
  const watchers: ManagedProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'flashguard-sentinel-'));
  const forgetDir = removeOnExit(dir);
  const sentinelPorts: number[] = [];
  const destroy = async (): Promise<void> => {
    await Promise.all(watchers.map((w) => w.stop('SIGKILL')));
    await Promise.all(servers.map((s) => s.destroy()));
    forgetDir();
    rmSync(dir, { recursive: true, force: true });
  };
  const askSentinel = (...args: string[]) =>
    redisCli(sentinelCli(sentinelPorts[0] ?? 0), ['SENTINEL', ...args]);
  const primaryPort = async () =>
    Number((await askSentinel('get-master-addr-by-name', masterName)).split('\n')[1]);
  const newPrimary = (before: number) =>
    waitFor(
      'a new primary',
      async () => {
        const now = await primaryPort();
        return now !== before ? now : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  try {
    // Any server may become the primary: none waits 5 s before serving a replica a full sync.
    const noSyncDelay = ['--repl-diskless-sync-delay', '0'];
    // Any server may become a replica: each replicates over TLS when they serve it.
    const serverArgs = [...noSyncDelay, ...(tls === undefined ? [] : ['--tls-replication', 'yes'])];
    const primary = await startRedis({ args: serverArgs, tls });
    servers.push(primary);
    for (let i = 0; i < replicas; i++) {
      const replicaOf = ['--replicaof', '127.0.0.1', String(primary.port)];
      servers.push(await startRedis({ args: [...serverArgs, ...replicaOf], tls }));
    }
    for (let i = 0; i < sentinels; i++) {
      const port = await freePort();
      const file = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        file,
        [
          ...(tls === undefined
            ? [`port ${port}`]
            : [
                ...['port 0', `tls-port ${port}`, 'tls-replication yes', 'tls-auth-clients no'],
                `tls-cert-file ${tls.certFile}`,
                `tls-key-file ${tls.keyFile}`,
                `tls-ca-cert-file ${tls.caFile}`,
              ]),
          'bind 127.0.0.1',
          `dir ${dir}`,
          `logfile ${join(dir, `sentinel-${port}.log`)}`,
          `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} ${quorum}`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 10000`,
          ...(sentinelPassword === undefined ? [] : [`requirepass ${sentinelPassword}`]),
          '',
        ].join('\n'),
      );
      sentinelPorts.push(port);
      watchers.push(
        startProcess({ name: `sentinel-${port}`, command: 'redis-sentinel', args: [file] }),
      );
    }
    // A failover needs every sentinel to see the replicas and a majority of its peers.
    await waitFor(
      'sentinels to find the replicas and each other',
      async () => {
        for (const port of sentinelPorts) {
          const info = await redisCli(sentinelCli(port), ['INFO', 'sentinel']);
          const m = /status=ok,address=[^,]+,slaves=(\d+),sentinels=(\d+)/.exec(info);
          if (Number(m?.[1]) < replicas || Number(m?.[2]) < sentinels) return undefined;
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    masterName,
    servers,
    url: `${tls === undefined ? 'redis' : 'rediss'}+sentinel://${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(',')}/${masterName}`,
    primaryPort,
    newPrimary,
    async failover() {
      const before = await primaryPort();
      await askSentinel('failover', masterName);
      return newPrimary(before);
    },
    async replicasConnected(port, count) {
      await waitFor(
        `${String(count)} replicas of ${String(port)}`,
        async () => {
          const info = await redisCli(cliConnection(port, { tls }), ['INFO', 'replication']);
          const online = info.match(/^slave\d+:.*state=online/gm) ?? [];
          return online.length >= count ? true : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
    },
    destroy,
  };
}
