// The checkout hot path's client to the app on localhost: an undici Pool (keep-alive) driven by
// Pool.dispatch, measured cheaper per request than Pool.request and than reply-from. Low-level errors become one of two typed
// outcomes at this boundary: the request surely never reached the shop, or it may have.
import type { IncomingHttpHeaders } from 'node:http';
import { Pool, type Dispatcher } from 'undici';

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
  extra?: { name: string; value: string },
): Record<string, string | string[]> {
  // Rarely present: only then is the list of extra hop-by-hop names worth building.
  const connection = incoming.connection;
  const connectionListed =
    connection === undefined
      ? undefined
      : String(connection)
          .split(',')
          .map((h) => h.trim().toLowerCase());
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || HOP_BY_HOP.has(name) || connectionListed?.includes(name)) continue;
    out[name] = value;
  }
  if (extra !== undefined) out[extra.name] = extra.value;
  return out;
}

export interface UpstreamRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body: Buffer;
  timeoutMs: number;
}

/**
 * Collects one answer for Pool.dispatch: the status, headers and body, nothing else. Measured
 * cheaper than Pool.request, which wraps every answer in a Readable stream and a promise chain.
 */
class AnswerCollector implements Dispatcher.DispatchHandler {
  readonly #started: number;
  readonly #clock: () => number;
  readonly #done: (result: UpstreamResult) => void;
  #status = 0;
  #headers: Record<string, string | string[] | undefined> = {};
  readonly #chunks: Buffer[] = [];

  constructor(started: number, clock: () => number, done: (result: UpstreamResult) => void) {
    this.#started = started;
    this.#clock = clock;
    this.#done = done;
  }

  onRequestStart(): void {
    // Nothing to set up: undici requires the method of every handler.
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: IncomingHttpHeaders,
  ): void {
    if (statusCode < 200) return; // 1xx: informational, the answer follows
    this.#status = statusCode;
    this.#headers = headers;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    const chunks = this.#chunks;
    this.#done({
      kind: 'answered',
      status: this.#status,
      headers: this.#headers,
      body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks),
      durationMs: this.#clock() - this.#started,
    });
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#done({
      kind: classifyUpstreamError(error),
      error: `${(error as { code?: string }).code ?? error.name}: ${error.message}`,
      durationMs: this.#clock() - this.#started,
    });
  }
}

const monotonic = performance.now.bind(performance);

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

  send(req: UpstreamRequest, clock: () => number = monotonic): Promise<UpstreamResult> {
    const started = clock();
    return new Promise((resolve) => {
      this.#pool.dispatch(
        {
          method: req.method,
          path: req.path,
          headers: req.headers,
          body: req.body,
          // Both count from when the request was sent: after that, a timeout means "answer lost".
          headersTimeout: req.timeoutMs,
          bodyTimeout: req.timeoutMs,
        },
        new AnswerCollector(started, clock, resolve),
      );
    });
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
