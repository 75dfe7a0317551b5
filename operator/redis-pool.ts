// One Redis connection per distinct URL + CA, shared by every sale that uses it and closed when
// the last of them lets go. connectRedis (sidecar/redis.ts) stays the one way to connect.
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { connectRedis } from '../sidecar/redis.ts';
import { targetHost, targetId, type RedisTarget } from './redis-target.ts';

type Log = (msg: string, fields?: Record<string, unknown>) => void;

interface Pooled {
  client: Redis;
  users: Set<string>;
}

/** How long a new connection may take before the reconcile reports the Redis unreachable. */
const CONNECT_WAIT_MS = 2000;

export class RedisPool {
  readonly #log: Log;
  readonly #pooled = new Map<string, Pooled>();
  /** Sale key → the pool id it uses. */
  readonly #bound = new Map<string, string>();

  constructor(log: Log) {
    this.#log = log;
  }

  /** Distinct connections open. */
  get size(): number {
    return this.#pooled.size;
  }

  /**
   * The connection to `target` for `sale`, ready for commands (the client has no offline queue);
   * rejects when Redis cannot be reached in time. The sale's previous connection is let go.
   */
  async acquire(sale: string, target: RedisTarget): Promise<Redis> {
    const id = targetId(target);
    let pooled = this.#pooled.get(id);
    if (pooled === undefined) {
      pooled = { client: this.#connect(target), users: new Set() };
      this.#pooled.set(id, pooled);
    }
    if (this.#bound.get(sale) !== id) {
      this.release(sale);
      pooled.users.add(sale);
      this.#bound.set(sale, id);
    }
    await ready(pooled.client, targetHost(target));
    return pooled.client;
  }

  /** The connection `sale` used last, if any (for cleanup when its Secret is gone). */
  current(sale: string): Redis | undefined {
    const id = this.#bound.get(sale);
    return id === undefined ? undefined : this.#pooled.get(id)?.client;
  }

  /** `sale` no longer uses its connection; the connection closes when nobody does. */
  release(sale: string): void {
    const id = this.#bound.get(sale);
    if (id === undefined) return;
    this.#bound.delete(sale);
    const pooled = this.#pooled.get(id);
    pooled?.users.delete(sale);
    if (pooled?.users.size === 0) {
      this.#pooled.delete(id);
      pooled.client.disconnect();
    }
  }

  close(): void {
    for (const { client } of this.#pooled.values()) client.disconnect();
    this.#pooled.clear();
    this.#bound.clear();
  }

  #connect(target: RedisTarget): Redis {
    const host = targetHost(target);
    const client = connectRedis(
      target.url,
      target.ca === undefined ? {} : { tls: { ca: target.ca } },
    );
    let down = false;
    client.on('error', (error: Error) => {
      // Once per outage, not once per reconnect attempt.
      if (!down) this.#log('redis connection error', { redis: host, error: error.message });
      down = true;
    });
    client.on('ready', () => {
      down = false;
    });
    return client;
  }
}

async function ready(client: Redis, host: string): Promise<void> {
  if (client.status === 'ready') return;
  const timeout = new AbortController();
  try {
    await Promise.race([
      once(client, 'ready', { signal: timeout.signal }),
      sleep(CONNECT_WAIT_MS, undefined, { signal: timeout.signal }).then(() => {
        throw new Error(`Redis at ${host} not reachable within ${String(CONNECT_WAIT_MS)} ms`);
      }),
    ]);
  } finally {
    timeout.abort();
  }
}
