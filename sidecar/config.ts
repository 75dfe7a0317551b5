// The sidecar's command line and environment, parsed into one settled configuration. Pure.
import { parseArgs } from 'node:util';

export interface SidecarConfig {
  saleFile: string;
  upstream: string;
  listen: { host: string; port: number };
  metrics: { host: string; port: number };
  redisUrl: string;
  sidecarId: string;
  logLevel: string;
}

export const usage = `usage: flashguard-sidecar --sale FILE --upstream URL [--listen HOST:PORT]
       [--metrics HOST:PORT] [--redis URL] [--id NAME] [--log-level LEVEL]
Environment: FLASHGUARD_SALE_FILE, FLASHGUARD_UPSTREAM, FLASHGUARD_LISTEN, FLASHGUARD_METRICS,
FLASHGUARD_REDIS_URL (redis:// or rediss://, credentials in the URL), FLASHGUARD_SIDECAR_ID,
FLASHGUARD_LOG_LEVEL. Flags win over the environment.`;

function hostPort(value: string, name: string, errors: string[]): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(value);
  const port = Number(m?.[2]);
  if (m === null || port > 65535) {
    errors.push(`${name}: expected HOST:PORT, got "${value}"`);
    return { host: '', port: 0 };
  }
  return { host: (m[1] ?? '').replace(/^\[(.*)\]$/, '$1') || '0.0.0.0', port };
}

/** A sidecar id usable as a heartbeat member: the pod name, cleaned. */
export function sidecarIdFrom(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64) || 'sidecar';
}

export function parseConfig(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  hostname: string,
): { ok: true; config: SidecarConfig } | { ok: false; errors: string[] } {
  let values: Record<string, string | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        sale: { type: 'string' },
        upstream: { type: 'string' },
        listen: { type: 'string' },
        metrics: { type: 'string' },
        redis: { type: 'string' },
        id: { type: 'string' },
        'log-level': { type: 'string' },
      },
    }));
  } catch (error) {
    return { ok: false, errors: [(error as Error).message] };
  }
  const errors: string[] = [];
  const saleFile = values.sale ?? env.FLASHGUARD_SALE_FILE;
  if (saleFile === undefined) errors.push('--sale (or FLASHGUARD_SALE_FILE) is required');
  const upstream = values.upstream ?? env.FLASHGUARD_UPSTREAM;
  if (upstream === undefined) errors.push('--upstream (or FLASHGUARD_UPSTREAM) is required');
  else if (!/^https?:\/\/[^/]+\/?$/.test(upstream)) {
    errors.push(`--upstream: expected an origin like http://127.0.0.1:3000, got "${upstream}"`);
  }
  const redisUrl = values.redis ?? env.FLASHGUARD_REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (!/^rediss?:\/\//.test(redisUrl)) errors.push('--redis: expected a redis:// or rediss:// URL');
  const listen = hostPort(
    values.listen ?? env.FLASHGUARD_LISTEN ?? '0.0.0.0:8080',
    '--listen',
    errors,
  );
  const metrics = hostPort(
    values.metrics ?? env.FLASHGUARD_METRICS ?? '0.0.0.0:9090',
    '--metrics',
    errors,
  );
  if (errors.length > 0 || saleFile === undefined || upstream === undefined) {
    return { ok: false, errors };
  }
  return {
    ok: true,
    config: {
      saleFile,
      upstream: upstream.replace(/\/$/, ''),
      listen,
      metrics,
      redisUrl,
      sidecarId: sidecarIdFrom(
        values.id ?? env.FLASHGUARD_SIDECAR_ID ?? `${hostname}-${process.pid}`,
      ),
      logLevel: values['log-level'] ?? env.FLASHGUARD_LOG_LEVEL ?? 'info',
    },
  };
}
