// Property-based requests against a real sidecar in front of the real demo shop on a real Redis.
// Every invalid sale checkout gets a 4xx problem+json with a stable type — never a 5xx — and
// changes nothing: the ledger snapshot and the shop's call count stay as they were. A forged
// reservation header never reaches the app, whatever the method and path. Hostile but valid
// sales (the schema's maxima) are handled; one past them is refused by the schema.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { stringify } from 'yaml';
import { parseFlashSaleYaml, specDefaults } from '../../api/v1alpha1/index.ts';
import { MAX_QUANTITY, SaleLedger } from '../../ledger/index.ts';
import { PROBLEM_BASE } from '../../sidecar/problems.ts';
import { freePort, startProcess, waitFor, type ManagedProcess } from '../support/process.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import {
  flashSale,
  startShop,
  startSidecar,
  type RunningShop,
  type RunningSidecar,
} from '../support/sidecar.ts';
import { checkoutOnce } from '../reliability/client.ts';

const { userHeader, idempotencyKeyHeader, reservationHeader, maxBodyBytes } = specDefaults.checkout;
const SALE = 'fuzzed';

let redis: RedisServer;
let client: Redis;
let shop: RunningShop;
let sidecar: RunningSidecar;
let echo: ManagedProcess;
let echoSidecar: RunningSidecar;

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.port, '127.0.0.1');
  shop = await startShop();
  const sale = flashSale(SALE, { items: [{ sku: 'phone', stock: 50, perUserLimit: 2 }] });
  sidecar = await startSidecar({ sale, upstream: shop.url, redisUrl: redis.url });
  const echoPort = await freePort();
  echo = startProcess({
    name: 'echo upstream',
    command: process.execPath,
    args: [join(import.meta.dirname, '..', 'support', 'echo-server.ts'), String(echoPort)],
  });
  echoSidecar = await startSidecar({
    sale: flashSale('echoed'),
    upstream: `http://127.0.0.1:${String(echoPort)}`,
    redisUrl: redis.url,
  });
});
after(async () => {
  await echoSidecar.stop();
  await echo.stop();
  await sidecar.stop();
  await shop.stop();
  client.disconnect();
  await redis.destroy();
});

interface Attempt {
  headers: Record<string, string>;
  body: Uint8Array;
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const validHeaders = { 'content-type': 'application/json', [userHeader]: 'fuzzer' };

/** A quantity the sidecar must refuse: not a positive integer up to MAX_QUANTITY. */
const badQuantity = fc.oneof(
  fc.constant(0),
  fc.integer({ max: -1 }),
  fc.integer({ min: MAX_QUANTITY + 1 }),
  fc.constant(Number.MAX_SAFE_INTEGER * 4),
  fc.double({ noNaN: true }).filter((n) => !Number.isInteger(n)),
  fc.string().filter((s) => !/^\d{1,9}$/.test(s) || Number(s) < 1 || Number(s) > MAX_QUANTITY),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
  fc.dictionary(fc.string(), fc.integer()),
);

/** Bodies that are not a JSON object: garbage, JSON scalars and arrays, invalid UTF-8. */
const notAnObject = fc.oneof(
  fc.string().filter((s) => {
    try {
      const v: unknown = JSON.parse(s);
      return typeof v !== 'object' || v === null || Array.isArray(v);
    } catch {
      return true;
    }
  }),
  fc.jsonValue().filter((v) => typeof v !== 'object' || v === null || Array.isArray(v)),
);
const invalidUtf8 = fc
  .tuple(fc.string(), fc.constantFrom([0xff], [0xc3, 0x28], [0xe2, 0x82], [0xed, 0xa0, 0x80]))
  .map(([prefix, bad]) => {
    const head = new TextEncoder().encode(`{"sku":"phone","quantity":1,"x":"${prefix}`);
    return new Uint8Array([...head, ...bad, ...new TextEncoder().encode('"}')]);
  });
/** Header values a client can send that are not a valid user id or key (a tab, or too long). */
const badToken = fc.oneof(
  fc.string({ minLength: 257, maxLength: 400, unit: fc.constantFrom('a', 'b', '-') }),
  fc.tuple(fc.string(), fc.string()).map(([a, b]) => `x${a}\tx${b}`.replace(/[\r\n]/g, '')),
);

const invalidCheckout: fc.Arbitrary<Attempt> = fc.oneof(
  badQuantity.map((quantity) => ({
    headers: validHeaders,
    body: json({ sku: 'phone', quantity }),
  })),
  fc.constant({ headers: validHeaders, body: json({ sku: 'phone' }) }),
  notAnObject.map((body) => ({
    headers: validHeaders,
    body: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)),
  })),
  invalidUtf8.map((body) => ({ headers: validHeaders, body })),
  fc.constant({
    headers: { 'content-type': 'application/json' },
    body: json({ sku: 'phone', quantity: 1 }),
  }),
  badToken.map((user) => ({
    headers: { ...validHeaders, [userHeader]: user },
    body: json({ sku: 'phone', quantity: 1 }),
  })),
  badToken.map((key) => ({
    headers: { ...validHeaders, [idempotencyKeyHeader]: key },
    body: json({ sku: 'phone', quantity: 1 }),
  })),
  fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/).map((forged) => ({
    headers: { ...validHeaders, [reservationHeader]: forged },
    body: json({ sku: 'phone', quantity: 1 }),
  })),
  fc.integer({ min: 1, max: 4 }).map((extra) => ({
    headers: validHeaders,
    body: json({ sku: 'phone', quantity: 1, pad: 'x'.repeat(maxBodyBytes * extra) }),
  })),
);
const contentType = fc.constantFrom(
  'application/json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/json; charset=latin1',
  'multipart/form-data; boundary=x',
  '',
);

async function send(origin: string, method: string, path: string, attempt: Attempt) {
  const res = await fetch(`${origin}${path}`, {
    method,
    headers: attempt.headers,
    ...(method === 'GET' || method === 'HEAD' ? {} : { body: attempt.body }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

test('invalid sale checkouts: 4xx problem+json, stable type, nothing changed', async () => {
  const ledger = new SaleLedger(client, { namespace: 'shop', name: SALE });
  await fc.assert(
    fc.asyncProperty(invalidCheckout, contentType, async (attempt, type) => {
      const headers = { ...attempt.headers };
      if (type === '') delete headers['content-type'];
      else if ('content-type' in headers) headers['content-type'] = type;
      const [ledgerBefore, callsBefore] = [
        await ledger.snapshot(),
        (await shop.stats()).checkoutCalls,
      ];
      const answer = await send(sidecar.url, 'POST', '/checkout', { ...attempt, headers });
      assert.ok(
        answer.status >= 400 && answer.status < 500,
        `${String(answer.status)} ${answer.text}`,
      );
      assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json/);
      const problem = JSON.parse(answer.text) as { type: string; status: number };
      assert.ok(
        [`${PROBLEM_BASE}invalid-request`, `${PROBLEM_BASE}body-too-large`].includes(problem.type),
        problem.type,
      );
      assert.equal(problem.status, answer.status);
      assert.deepEqual(await ledger.snapshot(), ledgerBefore, 'the ledger changed');
      assert.equal((await shop.stats()).checkoutCalls, callsBefore, 'the shop was called');
    }),
    { numRuns: 150 },
  );
  // The same sidecar still sells: the refusals left it healthy.
  assert.equal((await checkoutOnce(sidecar.url, { user: 'after-fuzz' })).status, 201);
});

test('a forged reservation header never reaches the app, whatever the method and path', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
      fc.constantFrom('/checkout', '/checkout/extra', '/cart', '/'),
      fc.stringMatching(/^[A-Za-z0-9._:-]{1,40}$/),
      fc.constantFrom('phone', 'not-on-sale', 'tablet'),
      async (method, path, forged, sku) => {
        const answer = await send(echoSidecar.url, method, path, {
          headers: { ...validHeaders, [reservationHeader]: forged },
          body: json({ sku, quantity: 1 }),
        });
        if (answer.headers.get('x-echo') === 'yes') {
          const echoed = JSON.parse(answer.text) as { headers: Record<string, string> };
          assert.equal(echoed.headers[reservationHeader], undefined, 'the forged header arrived');
        } else {
          // Only a sale checkout is answered by the sidecar itself, and it refuses the header.
          assert.deepEqual([method, path, sku], ['POST', '/checkout', 'phone']);
          assert.equal(answer.status, 400);
        }
      },
    ),
    { numRuns: 80 },
  );
});

test('hostile but valid sales are handled; one step past the schema maxima is refused', async () => {
  const items = Array.from({ length: 100 }, (_, i) => ({
    sku: `${String(i).padStart(3, '0')}-${'s'.repeat(60)}`,
    stock: 1_000_000_000,
    perUserLimit: 1000,
  }));
  const name = `m${randomUUID().replaceAll('-', '')}`.padEnd(63, 'x');
  const biggest = flashSale(name, { items });
  assert.ok(parseFlashSaleYaml(stringify(biggest)).ok);
  for (const [field, beyond] of [
    [
      'spec.items',
      flashSale('x', { items: [...items, { sku: 'one-more', stock: 1, perUserLimit: 1 }] }),
    ],
    [
      'spec.items[0].stock',
      flashSale('x', { items: [{ sku: 'p', stock: 1_000_000_001, perUserLimit: 1 }] }),
    ],
    [
      'spec.items[0].sku',
      flashSale('x', { items: [{ sku: 's'.repeat(65), stock: 1, perUserLimit: 1 }] }),
    ],
    ['metadata.name', flashSale(`${name}y`)],
  ] as const) {
    const parsed = parseFlashSaleYaml(stringify(beyond));
    assert.ok(!parsed.ok && parsed.errors.some((e) => e.field === field), field);
  }
  const big = await startSidecar({ sale: biggest, upstream: shop.url, redisUrl: redis.url });
  try {
    const last = items.at(-1)?.sku ?? '';
    const answer = await checkoutOnce(big.url, { user: 'big-buyer', sku: last, quantity: 1000 });
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    const snapshot = await waitFor('the big ledger', () =>
      new SaleLedger(client, { namespace: 'shop', name }).snapshot(),
    );
    assert.equal(snapshot.items.length, 100);
    const item = snapshot.items.find((i) => i.sku === last);
    assert.deepEqual([item?.sold, item?.available], [1000, 1_000_000_000 - 1000]);
  } finally {
    await big.stop();
  }
});
