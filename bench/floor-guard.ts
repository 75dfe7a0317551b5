// The storm benchmark's floor reference: the least that any guard built on the design card's stack
// does per admitted checkout, with none of the sidecar's logic. It reads the POST on Node's HTTP
// server, makes one ioredis script call, forwards the body to the shop with an undici Pool (the
// client's headers plus a fresh reservation id), makes a second script call, and answers with the
// shop's status and body. No parsing, validation, idempotency, limits, breaker, metrics or error
// handling: no guard on these clients does less per admitted checkout.
// Every choice here favours the floor: the script calls of one event-loop turn go as one call,
// with the ledger's own batcher (as the sidecar's do); each call is one INCRBY (cheaper for
// Redis, which shares the core, than a real reserve); ids come from randomUUID.
//
//   node bench/floor-guard.ts --listen HOST:PORT --upstream URL --redis redis://HOST:PORT
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Pool, type Dispatcher } from 'undici';
import { specDefaults } from '../api/v1alpha1/index.ts';
import { TurnBatcher } from '../ledger/batch.ts';

const { values } = parseArgs({
  options: {
    listen: { type: 'string' },
    upstream: { type: 'string' },
    redis: { type: 'string' },
  },
});
const listen = /^(.+):(\d+)$/.exec(values.listen ?? '');
if (listen?.[1] === undefined || values.upstream === undefined || values.redis === undefined) {
  console.error('usage: node bench/floor-guard.ts --listen HOST:PORT --upstream URL --redis URL');
  process.exit(2);
}

const redis = new Redis(values.redis, { enableAutoPipelining: false });
// EVALSHA through ioredis' script support, as the ledger's scripts go.
redis.defineCommand('countBy', {
  numberOfKeys: 1,
  lua: "return redis.call('INCRBY', KEYS[1], ARGV[1])",
});
const countBy = (key: string, n: number) =>
  (redis as Redis & { countBy(key: string, n: number): Promise<number> }).countBy(key, n);
/** One script call per turn for all of the turn's checkouts at this step. */
const counter = (key: string) =>
  new TurnBatcher<null, null>(async (requests) => {
    await countBy(key, requests.length);
    return requests.map(() => null);
  }, 1000);
const reserve = counter('{floor}:reserved');
const settle = counter('{floor}:settled');
const pool = new Pool(values.upstream, { keepAliveTimeout: 30_000 });

function forward(
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    pool.dispatch({ method: 'POST', path: '/checkout', headers, body }, {
      onRequestStart() {
        // Nothing to set up: undici requires the method of every handler.
      },
      onResponseStart(_controller, statusCode) {
        status = statusCode;
      },
      onResponseData(_controller, chunk) {
        chunks.push(chunk);
      },
      onResponseEnd() {
        resolve({ status, body: Buffer.concat(chunks) });
      },
      onResponseError(_controller, error) {
        reject(error);
      },
    } satisfies Dispatcher.DispatchHandler);
  });
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/ready') {
    res.writeHead(redis.status === 'ready' ? 200 : 503).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    void (async () => {
      await reserve.add(null);
      const headers = { ...req.headers, [specDefaults.checkout.reservationHeader]: randomUUID() };
      const answer = await forward(headers, Buffer.concat(chunks));
      await settle.add(null);
      res.writeHead(answer.status, {
        'content-type': 'application/json',
        'content-length': answer.body.length,
      });
      res.end(answer.body);
    })().catch((error: unknown) => {
      console.error('floor guard:', error);
      res.destroy();
    });
  });
});
server.listen(Number(listen[2]), listen[1], () => {
  console.error(`floor guard listening on ${values.listen ?? ''}`);
});
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void Promise.all([pool.close(), redis.quit()]).then(() => process.exit(0));
});
