// The sidecar's HTTP front: every request goes to the app on localhost; sale checkouts go through
// the guard pipeline first. Routes are matched at request time because a sale's checkout route
// comes from its settings, which can change while the sidecar runs.
import replyFrom, { type FastifyReplyFromHooks } from '@fastify/reply-from';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { readBody } from './body.ts';
import { classify } from './classify.ts';
import { problemAnswer, type Answer, type CheckoutPipeline } from './checkout.ts';
import { problem } from './problems.ts';
import type { GuardedSale } from './sales.ts';

export interface ProxyOptions {
  upstream: string;
  sales: () => readonly GuardedSale[];
  pipeline: CheckoutPipeline;
  logger: boolean | object;
}

/** The sales whose checkout route this request is on. */
export function routedSales(
  sales: readonly GuardedSale[],
  method: string,
  path: string,
): GuardedSale[] {
  return sales.filter(
    (s) => s.settings.checkout.method === method && s.settings.checkout.path === path,
  );
}

/** Writes one of the sidecar's answers straight to Node's response. */
function writeAnswer(
  res: ServerResponse,
  answer: Pick<Answer, 'status' | 'headers' | 'body'>,
  closeConnection: boolean,
): void {
  // One writeHead() with the whole head: no per-header setHeader() bookkeeping. The head then
  // needs the length (or Node sends the body chunked); a 204 or 304 must not have one.
  const headers: OutgoingHttpHeaders = { ...answer.headers };
  if (answer.status !== 204 && answer.status !== 304) {
    headers['content-length'] = Buffer.byteLength(answer.body);
  }
  if (closeConnection) headers.connection = 'close';
  res.writeHead(answer.status, headers);
  res.end(answer.body);
}

const internalError = {
  status: 500,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: JSON.stringify({
    statusCode: 500,
    error: 'Internal Server Error',
    message: 'the checkout could not be handled',
  }),
};

/** Bodies the checkout front read before handing the request on to Fastify (not a checkout). */
const readAhead = new WeakMap<IncomingMessage, Buffer>();

/**
 * The sidecar's HTTP front. Requests on a sale's checkout route are answered here, on Node's
 * server directly: Fastify's routing, content-type lookup, hooks and reply pipeline cost more
 * than the sold-out answer itself (measured with `npm run bench -- storm`). Everything else,
 * and every request once the server is closing (Fastify answers those 503), goes to Fastify.
 */
export async function buildProxy(options: ProxyOptions): Promise<FastifyInstance> {
  let closing = false;
  // While shutting down, every answer closes its connection, so a keep-alive client that was in
  // flight when close began does not hold the server open.
  const answer = (res: ServerResponse, a: Answer) => {
    writeAnswer(res, a, closing);
  };
  const failed = (res: ServerResponse, error: unknown) => {
    app.log.error({ err: error }, 'checkout failed');
    // What Fastify answers to an unexpected error.
    if (!res.headersSent) writeAnswer(res, internalError, true);
  };
  const checkout = (
    req: IncomingMessage,
    res: ServerResponse,
    candidates: readonly GuardedSale[],
    onward: (req: IncomingMessage, res: ServerResponse) => void,
  ): void => {
    let limit = 0;
    for (const s of candidates) limit = Math.max(limit, s.settings.checkout.maxBodyBytes);
    readBody(req, req.headers['content-length'], limit, (body) => {
      if (body instanceof Error) {
        failed(res, body);
        return;
      }
      try {
        if (body === 'too-large') {
          const tooLarge = problem('body-too-large', `the limit is ${limit} bytes`, { limit });
          writeAnswer(res, problemAnswer(tooLarge), true);
          return;
        }
        const url = req.url ?? '/';
        const mark = url.indexOf('?');
        const decision = classify(candidates, {
          headers: req.headers,
          query: mark === -1 ? '' : url.slice(mark + 1),
          body,
        });
        if (decision.kind === 'pass') {
          readAhead.set(req, body);
          onward(req, res);
          return;
        }
        if (decision.kind === 'invalid') {
          answer(res, problemAnswer(decision.problem));
          return;
        }
        const request = { method: req.method ?? 'POST', url, headers: req.headers, body };
        const handled = options.pipeline.handle(decision.checkout, request);
        if (handled instanceof Promise) {
          handled.then(
            (a) => {
              answer(res, a);
            },
            (error: unknown) => {
              failed(res, error);
            },
          );
        } else answer(res, handled);
      } catch (error) {
        failed(res, error);
      }
    });
  };
  const app = Fastify({
    logger: options.logger,
    // A log line per checkout would cost more than the checkout; metrics count them instead.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    serverFactory: (fastify) => {
      const server = createServer((req, res) => {
        if (!closing) {
          const url = req.url ?? '/';
          const mark = url.indexOf('?');
          const path = mark === -1 ? url : url.slice(0, mark);
          const candidates = routedSales(options.sales(), req.method ?? '', path);
          if (candidates.length > 0) {
            checkout(req, res, candidates, fastify);
            return;
          }
        }
        fastify(req, res);
      });
      // Fastify's defaults for the servers it makes itself.
      server.keepAliveTimeout = 72_000;
      server.requestTimeout = 0;
      server.setTimeout(0);
      return server;
    },
  });
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
  // Leave every body unread: pass-through traffic is streamed to the app untouched.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, payload, done) => {
    done(null, payload);
  });
  const reservationHeaders = () =>
    new Set(options.sales().map((s) => s.settings.checkout.reservationHeader));
  await app.register(replyFrom, { base: options.upstream, disableRequestLogging: true });
  // A client can never hand the app a reservation id of its own making.
  const stripReservation: FastifyReplyFromHooks = {
    rewriteRequestHeaders: (_request, headers) => {
      const strip = reservationHeaders();
      return Object.fromEntries(Object.entries(headers).filter(([name]) => !strip.has(name)));
    },
  };

  // Pass-through: requests off every checkout route, and checkouts of a SKU in no sale.
  const handler = (request: FastifyRequest, reply: FastifyReply) => {
    const body = readAhead.get(request.raw);
    if (body === undefined) return reply.from(request.url, stripReservation);
    return reply.from(request.url, {
      ...stripReservation,
      body,
      contentType: request.headers['content-type'] ?? 'application/octet-stream',
    });
  };
  app.all('/', handler);
  app.all('/*', handler);
  return app;
}

export interface OpsOptions {
  metrics: () => Promise<{ contentType: string; body: string }>;
  ready: () => boolean;
}

/** /metrics, /healthz and /readyz on their own port, away from shop traffic. */
export function buildOps(options: OpsOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', (_request, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', (_request, reply) =>
    options.ready()
      ? reply.send({ status: 'ready' })
      : reply.code(503).send({ status: 'not ready' }),
  );
  app.get('/metrics', async (_request, reply) => {
    const { contentType, body } = await options.metrics();
    return reply.type(contentType).send(body);
  });
  return app;
}
