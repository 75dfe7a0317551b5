// The demo shop's checkout service: implements the shop integration contract (design.md §4) and
// counts what it commits, so the demo and the tests measure oversell from the shop's side.
// Small on purpose: it is also the reference upstream in the benchmarks.
//
//   node e2e/demo/checkout-app.ts --listen 127.0.0.1:PORT [--log FILE]
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import Fastify, { type FastifyReply } from 'fastify';
import { specDefaults } from '../../api/v1alpha1/index.ts';
import { FaultsError, mergeFaults, noFaults, pickFault, type Faults } from './faults.ts';
import { createOrderBook, type OrderStats } from './order-book.ts';

const RESERVATION_HEADER = specDefaults.checkout.reservationHeader;
const USER_HEADER = specDefaults.checkout.userHeader;

export interface CheckoutStats extends OrderStats {
  /** Every POST /checkout received, refused and faulted ones included: the upstream calls. */
  checkoutCalls: number;
}

export interface CheckoutAppOptions {
  /** 0 picks a free port. */
  port: number;
  host?: string;
  /** Structured request logs go here; none by default (they would cost more than the app). */
  logFile?: string;
}

export interface CheckoutApp {
  readonly url: string;
  stats(): CheckoutStats;
  /** Applies the given fault knobs and returns them all; throws FaultsError on a bad value. */
  setFaults(patch: Partial<Faults>): Faults;
  /** Drops the connections left hanging by faults, then closes gracefully. */
  close(): Promise<void>;
}

interface CheckoutRoute {
  Body: { sku: string; quantity: number };
  Headers: Record<typeof RESERVATION_HEADER | typeof USER_HEADER, string>;
}

const checkoutSchema = {
  headers: {
    type: 'object',
    required: [RESERVATION_HEADER, USER_HEADER],
    properties: {
      // Without a reservation the stock was not reserved: this shop only sells through Flashguard.
      [RESERVATION_HEADER]: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
      [USER_HEADER]: { type: 'string', minLength: 1, maxLength: 256 },
    },
  },
  body: {
    type: 'object',
    required: ['sku', 'quantity'],
    properties: {
      sku: { type: 'string', minLength: 1, maxLength: 64 },
      quantity: { type: 'integer', minimum: 1, maximum: 1000 },
    },
  },
  response: {
    201: {
      type: 'object',
      properties: {
        orderId: { type: 'string' },
        reservation: { type: 'string' },
        sku: { type: 'string' },
        quantity: { type: 'integer' },
      },
    },
  },
} as const;

export async function startCheckoutApp(options: CheckoutAppOptions): Promise<CheckoutApp> {
  const app = Fastify({
    logger: options.logFile === undefined ? false : { level: 'info', file: options.logFile },
    // The contract's types are strict: "2" is not a quantity.
    ajv: { customOptions: { coerceTypes: false } },
  });
  const book = createOrderBook();
  let faults = noFaults;
  let checkoutCalls = 0;
  const hanging = new Set<Socket>();

  // Takes the reply away from Fastify and never answers; close() ends these connections.
  const hang = (reply: FastifyReply): void => {
    reply.hijack();
    const socket = reply.raw.socket;
    if (socket === null) return;
    hanging.add(socket);
    socket.once('close', () => hanging.delete(socket));
  };

  app.post<CheckoutRoute>(
    '/checkout',
    {
      schema: checkoutSchema,
      onRequest: (_request, _reply, done) => {
        checkoutCalls += 1;
        done();
      },
    },
    async (request, reply) => {
      const line = {
        reservation: request.headers[RESERVATION_HEADER],
        user: request.headers[USER_HEADER],
        sku: request.body.sku,
        quantity: request.body.quantity,
      };
      if (faults.delayMs > 0) await sleep(faults.delayMs);
      let action = pickFault(faults, Math.random());
      // A 5xx means "not committed": never say it about an order that exists.
      if (action === 'fail' && book.find(line.reservation) !== undefined) action = 'none';
      switch (action) {
        case 'reset':
          reply.hijack();
          request.raw.socket.resetAndDestroy();
          return;
        case 'fail':
          return reply.code(500).send({ error: 'injected failure; no order was made' });
        case 'commit-then-hang':
          book.commit(line);
          hang(reply);
          return;
        case 'none':
          break;
      }
      const result = book.commit(line);
      if (result.kind === 'conflict') {
        return reply.code(409).send({
          error: `reservation ${line.reservation} already made order ${result.order.orderId} for another checkout`,
        });
      }
      const { orderId, reservation, sku, quantity } = result.order;
      return reply.code(201).send({ orderId, reservation, sku, quantity });
    },
  );

  // The order-status endpoint the reaper asks about in-doubt reservations.
  app.get<{ Params: { reservation: string } }>('/orders/:reservation', async (request, reply) => {
    const order = book.find(request.params.reservation);
    return order === undefined
      ? reply.code(404).send({ committed: false })
      : reply.code(200).send({ committed: true, ...order });
  });

  const stats = (): CheckoutStats => ({ checkoutCalls, ...book.stats() });
  app.get('/stats', () => stats());

  const setFaults = (patch: unknown): Faults => (faults = mergeFaults(faults, patch));
  app.post('/faults', async (request, reply) => {
    try {
      return await reply.code(200).send(setFaults(request.body ?? {}));
    } catch (error) {
      if (error instanceof FaultsError) return reply.code(400).send({ error: error.message });
      throw error;
    }
  });

  const host = options.host ?? '127.0.0.1';
  await app.listen({ host, port: options.port });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no listening address');

  return {
    url: `http://${host}:${address.port}`,
    stats,
    setFaults,
    async close() {
      for (const socket of hanging) socket.destroy();
      const closed = app.close();
      // Connections busy when closing began go idle once answered; end them then rather than
      // after the keep-alive timeout (Node closes idle connections only when closing begins).
      const sweep = setInterval(() => {
        app.server.closeIdleConnections();
      }, 50);
      try {
        await closed;
      } finally {
        clearInterval(sweep);
      }
    },
  };
}

function parseListen(listen: string): { host: string; port: number } {
  const match = /^(.+):(\d+)$/.exec(listen);
  const port = Number(match?.[2]);
  if (match?.[1] === undefined || !(port >= 0 && port <= 65535)) {
    throw new Error(`--listen must be HOST:PORT, got ${JSON.stringify(listen)}`);
  }
  return { host: match[1], port };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { listen: { type: 'string' }, log: { type: 'string' } },
  });
  if (values.listen === undefined) throw new Error('--listen HOST:PORT is required');
  const checkoutApp = await startCheckoutApp({
    ...parseListen(values.listen),
    logFile: values.log,
  });
  console.error(`demo checkout app listening on ${checkoutApp.url}`);
  const shutdown = (): void => {
    checkoutApp.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
