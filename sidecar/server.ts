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
import type { Readable } from 'node:stream';
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

function send(reply: FastifyReply, answer: Answer): FastifyReply {
  return reply.code(answer.status).headers(answer.headers).send(answer.body);
}

export async function buildProxy(options: ProxyOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger,
    // A log line per checkout would cost more than the checkout; metrics count them instead.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });
  // While shutting down, every answer closes its connection, so a keep-alive client that was
  // in flight when close began does not hold the server open.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
  // Leave every body unread: pass-through traffic is streamed to the app untouched, and sale
  // checkouts read theirs with their own limit.
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

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const url = request.url;
    const mark = url.indexOf('?');
    const path = mark === -1 ? url : url.slice(0, mark);
    const candidates = routedSales(options.sales(), request.method, path);
    if (candidates.length === 0) return reply.from(request.url, stripReservation);

    const limit = Math.max(...candidates.map((s) => s.settings.checkout.maxBodyBytes));
    const stream = (request.body as Readable | undefined) ?? request.raw;
    const body = await readBody(stream, request.headers['content-length'], limit);
    if (body === 'too-large') {
      void reply.header('connection', 'close');
      return send(
        reply,
        problemAnswer(problem('body-too-large', `the limit is ${limit} bytes`, { limit })),
      );
    }
    const decision = classify(candidates, {
      headers: request.headers,
      query: mark === -1 ? '' : url.slice(mark + 1),
      body,
    });
    if (decision.kind === 'invalid') return send(reply, problemAnswer(decision.problem));
    if (decision.kind === 'pass') {
      return reply.from(request.url, {
        ...stripReservation,
        body,
        contentType: request.headers['content-type'] ?? 'application/octet-stream',
      });
    }
    const answer = await options.pipeline.handle(decision.checkout, {
      method: request.method,
      url: request.url,
      headers: request.headers,
      body,
    });
    return send(reply, answer);
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
