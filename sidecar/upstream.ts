// The checkout hot path's client to the app on localhost: an undici Pool (keep-alive), measured
// cheaper per request than going through reply-from. Low-level errors become one of two typed
// outcomes at this boundary: the request surely never reached the shop, or it may have.
import type { IncomingHttpHeaders } from 'node:http';
import { Pool } from 'undici';

export type UpstreamResult =
  | {
      kind: 'answered';
      status: number;
      headers: Record<string, string | string[] | undefined>;
      body: Buffer;
      durationMs: number;
    }
  /** Refused before anything was sent (connect errors): the shop never saw it. */
  | { kind: 'not-sent'; error: string; durationMs: number }
  /** Sent, answer lost (timeout, reset): the shop may have committed it. */
  | { kind: 'lost'; error: string; durationMs: number };

const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);

export function classifyUpstreamError(error: unknown): 'not-sent' | 'lost' {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NOT_SENT_CODES.has(code) ? 'not-sent' : 'lost';
}

// Hop-by-hop headers (RFC 9110 §7.6.1) are for one connection only and never forwarded.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
]);

/** The headers to forward: the client's, minus hop-by-hop ones, plus `extra`. */
export function forwardHeaders(
  incoming: IncomingHttpHeaders | Record<string, string | string[] | undefined>,
  extra: Record<string, string> = {},
): Record<string, string | string[]> {
  const connectionListed = String(incoming.connection ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase());
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || connectionListed.includes(name)) continue;
    out[name] = value;
  }
  return Object.assign(out, extra);
}

export interface UpstreamRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body: Buffer;
  timeoutMs: number;
}

export class Upstream {
  readonly origin: string;
  readonly #pool: Pool;

  constructor(origin: string, connectTimeoutMs = 1000) {
    this.origin = origin;
    this.#pool = new Pool(origin, {
      connect: { timeout: connectTimeoutMs },
      keepAliveTimeout: 30_000,
    });
  }

  async send(
    req: UpstreamRequest,
    clock: () => number = performance.now.bind(performance),
  ): Promise<UpstreamResult> {
    const started = clock();
    try {
      const response = await this.#pool.request({
        method: req.method,
        path: req.path,
        headers: req.headers,
        body: req.body,
        // Both count from when the request was sent: after that, a timeout means "answer lost".
        headersTimeout: req.timeoutMs,
        bodyTimeout: req.timeoutMs,
      });
      const body = Buffer.from(await response.body.arrayBuffer());
      return {
        kind: 'answered',
        status: response.statusCode,
        headers: response.headers,
        body,
        durationMs: clock() - started,
      };
    } catch (error) {
      return {
        kind: classifyUpstreamError(error),
        error:
          error instanceof Error
            ? `${(error as { code?: string }).code ?? error.name}: ${error.message}`
            : String(error),
        durationMs: clock() - started,
      };
    }
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
