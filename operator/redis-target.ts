// Which Redis a sale's ledger lives in, pure: the operator-wide default or a Secret (C1: key `url`
// or the secretRef's key, optional `ca.crt`), decoded and checked. controller.ts reads the Secret;
// redis-pool.ts connects.
import { isRedisUrl, REDIS_URL_SCHEMES } from '../sidecar/redis.ts';

/** A Redis to connect to. Connections are pooled by `targetId`. */
export interface RedisTarget {
  url: string;
  /** PEM CA for rediss://. */
  ca: string | undefined;
}

/** Where the operator-wide default Redis comes from (`--redis URL` or `--redis-secret NAME`). */
export type DefaultRedis =
  { kind: 'url'; url: string } | { kind: 'secret'; namespace: string; name: string };

/** A Secret reference resolved against the sale: which Secret, which key holds the URL. */
export interface SecretSource {
  namespace: string;
  name: string;
  key: string;
}

export const CA_KEY = 'ca.crt';

/** Why a sale's Redis could not be resolved: a condition reason and a message for the user. */
export interface RedisProblem {
  reason: 'RedisSecretNotFound' | 'RedisSecretInvalid';
  message: string;
}

/** Where a sale's Redis comes from: a URL as given, or a Secret to read. */
export type RedisSource = { kind: 'url'; url: string } | ({ kind: 'secret' } & SecretSource);

/** The sale's own secretRef (in its namespace), else the operator-wide default. */
export function redisSource(
  saleNamespace: string,
  secretRef: { secretName: string; secretKey: string } | null,
  fallback: DefaultRedis,
): RedisSource {
  if (secretRef !== null) {
    return {
      kind: 'secret',
      namespace: saleNamespace,
      name: secretRef.secretName,
      key: secretRef.secretKey,
    };
  }
  return fallback.kind === 'secret' ? { ...fallback, key: 'url' } : fallback;
}

/** The target a Secret's data (base64, as the apiserver returns it) describes, or the problem. */
export function targetFromSecret(
  source: SecretSource,
  data: Readonly<Record<string, string>> | undefined,
): { ok: true; target: RedisTarget } | { ok: false; problem: RedisProblem } {
  const where = `Secret ${source.namespace}/${source.name}`;
  const encoded = data?.[source.key];
  if (encoded === undefined) {
    return invalid(`${where} has no key "${source.key}"`);
  }
  const url = Buffer.from(encoded, 'base64').toString('utf8').trim();
  if (!isRedisUrl(url)) {
    // Never echo the value: it holds the password.
    return invalid(`${where} key "${source.key}" is not a ${REDIS_URL_SCHEMES} URL`);
  }
  const ca = data?.[CA_KEY];
  return {
    ok: true,
    target: { url, ca: ca === undefined ? undefined : Buffer.from(ca, 'base64').toString('utf8') },
  };
}

export function secretNotFound(source: SecretSource): RedisProblem {
  return {
    reason: 'RedisSecretNotFound',
    message: `Secret ${source.namespace}/${source.name} not found`,
  };
}

function invalid(message: string): { ok: false; problem: RedisProblem } {
  return { ok: false, problem: { reason: 'RedisSecretInvalid', message } };
}

/** Pool identity: one connection per distinct URL and CA. */
export function targetId(target: RedisTarget): string {
  return `${target.url}\n${target.ca ?? ''}`;
}

/** host[:port], a name or a bracketed IPv6 address. */
const HOST_PORT = String.raw`(?:[\w.-]+|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?`;
const HOST_LIST = new RegExp(`^${HOST_PORT}(?:,${HOST_PORT})*$`);

/**
 * host:port of a target (a sentinel URL's host:port list), for logs and messages, never the
 * credentials. WHATWG URL cannot parse a sentinel URL's list of hosts, hence the patterns; what
 * is not a plain host list (a password with an unencoded `/`, say) is not shown.
 */
export function targetHost(target: RedisTarget): string {
  const hosts = /^[a-z+]+:\/\/(?:[^@/]*@)?([^/?#]+)/.exec(target.url)?.[1];
  return hosts !== undefined && HOST_LIST.test(hosts) ? hosts : '(unparsable URL)';
}
