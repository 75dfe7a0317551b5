// The injection webhook's HTTPS edge: POST /inject takes an AdmissionReview v1 and answers one,
// with the JSONPatch inject.ts decides. TLS only; the certificate is swapped in place
// (setSecureContext) when webhook-certs.ts finds a new one, so rotation needs no restart.
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { injectionPatch, type InjectionOptions, type PodLike } from './inject.ts';

/** The apiserver's own limit on a request body is 3 MiB; a Pod is far smaller. */
const MAX_BODY_BYTES = 3 * 1024 * 1024;

type Log = (msg: string, fields?: Record<string, unknown>, level?: string) => void;

interface AdmissionReview {
  apiVersion?: string;
  kind?: string;
  request?: {
    uid?: string;
    namespace?: string;
    operation?: string;
    kind?: { kind?: string };
    object?: PodLike;
    dryRun?: boolean;
  };
}

export const admissionDecisions = ['inject', 'skip', 'reject', 'bad-request'] as const;
export type AdmissionDecision = (typeof admissionDecisions)[number];

export interface AdmissionOutcome {
  /** The AdmissionReview to send back; undefined when the body is not an AdmissionReview. */
  review: Record<string, unknown> | undefined;
  /** What was decided, for the log and the metrics. */
  decision: AdmissionDecision;
  detail: string;
}

/** The answer to one AdmissionReview, pure. Only Pod CREATEs can be injected. */
export function admissionResponse(
  body: unknown,
  options: Omit<InjectionOptions, 'namespace'>,
): AdmissionOutcome {
  const review = body as AdmissionReview | null;
  const request = review?.request;
  if (
    review?.apiVersion !== 'admission.k8s.io/v1' ||
    review.kind !== 'AdmissionReview' ||
    typeof request?.uid !== 'string'
  ) {
    return { review: undefined, decision: 'bad-request', detail: 'not an AdmissionReview v1' };
  }
  const answer = (response: Record<string, unknown>) => ({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: request.uid, allowed: true, ...response },
  });
  if (
    request.kind?.kind !== 'Pod' ||
    request.operation !== 'CREATE' ||
    request.object === undefined
  ) {
    return { review: answer({}), decision: 'skip', detail: 'only Pod creations are injected' };
  }
  const injection = injectionPatch(request.object, {
    ...options,
    namespace: request.namespace ?? 'default',
  });
  switch (injection.kind) {
    case 'skip':
      return { review: answer({}), decision: 'skip', detail: injection.reason };
    case 'reject':
      return {
        review: answer({
          allowed: false,
          status: { code: 422, reason: 'Invalid', message: injection.message },
        }),
        decision: 'reject',
        detail: injection.message,
      };
    case 'inject':
      return {
        review: answer({
          patchType: 'JSONPatch',
          patch: Buffer.from(JSON.stringify(injection.patch)).toString('base64'),
        }),
        decision: 'inject',
        detail: injection.workload,
      };
  }
}

export interface TlsMaterial {
  cert: string;
  key: string;
}

export interface WebhookServerOptions {
  host: string;
  port: number;
  injection: Omit<InjectionOptions, 'namespace'>;
  log: Log;
  /** Told every AdmissionReview's decision, e.g. to count it. */
  onDecision?: (decision: AdmissionDecision) => void;
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class WebhookServer {
  readonly #o: WebhookServerOptions;
  #server: Server | undefined;
  #served: TlsMaterial | undefined;

  constructor(options: WebhookServerOptions) {
    this.#o = options;
  }

  get listening(): boolean {
    return this.#server?.listening ?? false;
  }

  /** The port it listens on (the one asked for, or the one given for 0). */
  get port(): number | undefined {
    const address = this.#server?.address();
    return typeof address === 'object' && address !== null ? address.port : undefined;
  }

  /** Serves `tls`: starts listening the first time, swaps the certificate in place after. */
  async serve(tls: TlsMaterial): Promise<void> {
    if (this.#served?.cert === tls.cert && this.#served.key === tls.key) return;
    this.#served = tls;
    if (this.#server !== undefined) {
      this.#server.setSecureContext(tls);
      this.#o.log('webhook certificate reloaded');
      return;
    }
    const server = createServer(tls, (req, res) => void this.#handle(req, res));
    this.#server = server;
    server.listen(this.#o.port, this.#o.host);
    await once(server, 'listening');
    this.#o.log('webhook listening', {
      listen: `${this.#o.host}:${this.#o.port}`,
      path: '/inject',
    });
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    server.close();
    server.closeIdleConnections();
    await once(server, 'close');
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const [status, body] = await this.#answer(req);
    reply(res, status, body);
  }

  async #answer(req: IncomingMessage): Promise<[number, unknown]> {
    if (req.url?.split('?')[0] !== '/inject') return [404, { error: 'not found' }];
    if (req.method !== 'POST') return [405, { error: 'POST an AdmissionReview' }];
    const text = await readBody(req);
    if (text === undefined) return [413, { error: 'body too large' }];
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      this.#o.onDecision?.('bad-request');
      return [400, { error: 'the body is not JSON' }];
    }
    const outcome = admissionResponse(body, this.#o.injection);
    this.#o.onDecision?.(outcome.decision);
    if (outcome.review === undefined) return [400, { error: outcome.detail }];
    const request = (body as AdmissionReview).request;
    this.#o.log(
      'admission',
      {
        decision: outcome.decision,
        detail: outcome.detail,
        namespace: request?.namespace,
        uid: request?.uid,
        dryRun: request?.dryRun,
      },
      outcome.decision === 'reject' ? 'warn' : 'info',
    );
    return [200, outcome.review];
  }
}
