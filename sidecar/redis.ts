// The sidecar's Redis connection, configured to fail closed and fast: when Redis is away a
// checkout gets 503 ledger-unavailable within the command timeout, never waits in a queue, and
// the client keeps reconnecting in the background so service resumes without a restart.
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';

export const COMMAND_TIMEOUT_MS = 500;

export const failFastOptions: RedisOptions = {
  // No offline queue: while disconnected, commands fail at once instead of piling up.
  enableOfflineQueue: false,
  // A command in flight when the connection drops fails instead of being replayed later.
  maxRetriesPerRequest: 0,
  commandTimeout: COMMAND_TIMEOUT_MS,
  connectTimeout: 2000,
  // Reconnect forever, quickly at first, at most every 2 s.
  retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 2000),
  // The ledger batches a turn's reserves and settlements into one script call each; ioredis'
  // auto-pipelining on top cost client CPU (`npm run bench -- ledger`) and a turn of delay.
  enableAutoPipelining: false,
};

/** The URL schemes connectRedis understands, in words for messages. */
export const REDIS_URL_SCHEMES = 'redis://, rediss://, redis+sentinel:// or rediss+sentinel://';
const SENTINEL_URL = /^rediss?\+sentinel:\/\//;

/** Whether connectRedis understands this URL's scheme (and it has no whitespace). */
export function isRedisUrl(url: string): boolean {
  return /^(rediss?|rediss?\+sentinel):\/\/\S+$/.test(url);
}

/** Query parameters of a sentinel URL: credentials for the sentinels themselves. */
const SENTINEL_PARAMETERS = ['sentinelUsername', 'sentinelPassword'] as const;
const isSentinelParameter = (key: string): key is (typeof SENTINEL_PARAMETERS)[number] =>
  (SENTINEL_PARAMETERS as readonly string[]).includes(key);

/**
 * `redis+sentinel://[user:pass@]host:port[,host:port…]/<mastername>[?sentinelPassword=…]` as
 * ioredis options (`rediss+sentinel://`: TLS to the sentinels, the primary and the replicas, each
 * certificate verified); the credentials before `@` authenticate to the primary and replicas;
 * `sentinelUsername` and `sentinelPassword` to the sentinels (a Sentinel deployment with a
 * `requirepass` of its own). Without them the sentinels are asked unauthenticated.
 */
export function sentinelOptions(url: string): RedisOptions {
  const m =
    /^redis(s?)\+sentinel:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/@]+)\/([^/?#]+)(?:\?([^#]*))?$/.exec(
      url,
    );
  // The URL may hold a password: never echo it back.
  if (m === null) {
    throw new Error(
      'expected redis+sentinel:// or rediss+sentinel://[user:pass@]host:port[,…]/master[?sentinelPassword=…]',
    );
  }
  const [, secure, username, password, hosts = '', name = '', query = ''] = m;
  const sentinels = hosts.split(',').map((hostPort) => {
    const hp = /^(.+):(\d{1,5})$/.exec(hostPort);
    if (hp === null) throw new Error(`sentinel "${hostPort}": expected host:port`);
    return { host: (hp[1] ?? '').replace(/^\[(.*)\]$/, '$1'), port: Number(hp[2]) };
  });
  const sentinelAuth: RedisOptions = {};
  // Decoded as the credentials before `@` are (decodeURIComponent): a `+` stays a `+`.
  for (const pair of query === '' ? [] : query.split('&')) {
    const [key = '', value = ''] = pair.split(/=(.*)/s);
    // The parameter's name is not echoed either: a password may have landed there.
    if (!isSentinelParameter(key)) {
      throw new Error(`a sentinel URL takes only the parameters ${SENTINEL_PARAMETERS.join(', ')}`);
    }
    sentinelAuth[key] = decodeURIComponent(value);
  }
  return {
    sentinels,
    name: decodeURIComponent(name),
    ...(username ? { username: decodeURIComponent(username) } : {}),
    ...(password === undefined ? {} : { password: decodeURIComponent(password) }),
    ...sentinelAuth,
    // TLS to the data nodes; connectRedis gives the sentinels the same `tls` (and its CA).
    ...(secure === 's' ? { enableTLSForSentinelMode: true, tls: {} } : {}),
    // Learn of a switch of primary from the sentinels at once, not at the next error.
    failoverDetector: true,
    // No offline queue applies to the sentinels too: ask them again, quickly at first.
    sentinelRetryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 2000),
  };
}

/**
 * A client for `redis://`, `rediss://` (TLS), `redis+sentinel://` and `rediss+sentinel://` (TLS)
 * URLs, credentials included in the URL. A private CA for TLS comes as `{ tls: { ca } }`.
 */
export function connectRedis(url: string, overrides: RedisOptions = {}): Redis {
  if (SENTINEL_URL.test(url)) {
    const options = { ...failFastOptions, ...sentinelOptions(url), ...overrides };
    // One CA for the whole deployment: the sentinels are trusted as the data nodes are.
    if (options.enableTLSForSentinelMode === true) options.sentinelTLS = { ...options.tls };
    return new Redis(options);
  }
  return new Redis(url, { ...failFastOptions, ...overrides });
}

/**
 * The options that make `rediss://` trust the CA in `caFile` (PEM); none without a file. An absent
 * file means no CA of our own: the injected sidecar's file comes from the optional `ca.crt` key of
 * its namespace's Redis Secret (docs/contracts.md, C4), so it exists only when that key does.
 */
export function caOverrides(caFile: string | undefined): RedisOptions {
  if (caFile === undefined || !existsSync(caFile)) return {};
  const ca = readFileSync(caFile, 'utf8');
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Error(`${caFile} holds no PEM certificate`);
  }
  return { tls: { ca } };
}

/** Resolves once `client` can take commands (it has no offline queue to hold them). */
export async function whenReady(client: Redis): Promise<void> {
  if (client.status !== 'ready') await once(client, 'ready');
}

/**
 * Why a connection failed, in words an operator acts on. The messages come from Redis and
 * Node's TLS layer, which never include the password.
 */
export function redisFailureReason(error: Error & { code?: string }): string {
  const text = `${error.code ?? ''} ${error.message}`;
  if (/WRONGPASS|NOAUTH|NOPERM|invalid password|invalid username/i.test(text)) {
    // ioredis reports a sentinel's refusal as "All sentinels are unreachable. … Last error: …".
    return /sentinels are unreachable/i.test(text)
      ? 'authentication refused by the sentinels: check sentinelUsername and sentinelPassword in the Redis URL'
      : 'authentication refused: check the user and password in the Redis URL';
  }
  if (/CERT|certificate|SSL|TLS|self.signed|altname/i.test(text)) {
    return 'TLS verification failed: check the CA (--redis-ca) and the server certificate';
  }
  if (/sentinels are unreachable/i.test(text)) {
    // ioredis drops a sentinel connection's own error: an untrusted certificate shows as closed.
    return 'no sentinel answered: check their addresses and, with rediss+sentinel://, the CA (--redis-ca)';
  }
  return 'connection failed';
}
