// Which Redis a sale's ledger lives in, pure: the operator-wide default or a Secret (C1: key `url`
// or the secretRef's key, optional `ca.crt`), decoded and checked. controller.ts reads the Secret;
// redis-pool.ts connects.

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

/** The schemes connectRedis (sidecar/redis.ts) accepts. */
const REDIS_URL = /^(rediss?|redis\+sentinel):\/\/[^\s]+$/;

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
  if (!REDIS_URL.test(url)) {
    // Never echo the value: it holds the password.
    return invalid(
      `${where} key "${source.key}" is not a redis://, rediss:// or redis+sentinel:// URL`,
    );
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

/** host:port of a target, for logs and messages (never the credentials). */
export function targetHost(target: RedisTarget): string {
  try {
    return new URL(target.url).host;
  } catch {
    return '(unparsable URL)';
  }
}
