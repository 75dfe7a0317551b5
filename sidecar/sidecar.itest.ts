// The sidecar as users run it: its own process, in front of the demo shop (its own process),
// on a real redis-server. Every answer, the breaker, every failure path's settlement, bad input,
// pass-through and a concurrent storm.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { invalidCorpus } from '../api/v1alpha1/corpus.ts';
import { freePort, startProcess, waitFor, type ManagedProcess } from '../e2e/support/process.ts';
import { startRedis, type RedisServer } from '../e2e/support/redis.ts';
import {
  flashSale,
  startShop,
  startSidecar,
  type RunningShop,
  type RunningSidecar,
} from '../e2e/support/sidecar.ts';
import { SaleLedger } from '../ledger/index.ts';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function checkout(
  sidecar: RunningSidecar,
  order: { sku?: string; quantity?: unknown; user?: string; key?: string },
  init: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...init.headers };
  if (order.user !== undefined) headers['x-user-id'] = order.user;
  if (order.key !== undefined) headers['idempotency-key'] = order.key;
  const res = await fetch(`${sidecar.url}/checkout`, {
    method: 'POST',
    headers,
    body: init.body ?? JSON.stringify({ sku: order.sku ?? 'phone', quantity: order.quantity ?? 1 }),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

function assertProblem(answer: Answer, status: number, type: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.match(answer.headers.get('content-type') ?? '', /^application\/problem\+json/);
  assert.equal(answer.body.type, `https://flashguard.dev/problems/${type}`);
  assert.equal(answer.body.status, status);
}

let redis: RedisServer;
let shop: RunningShop;
let client: Redis;
const started: { stop(): Promise<void> }[] = [];

async function sidecarFor(
  spec: Record<string, unknown> = {},
  upstream?: string,
  redisUrl?: string,
) {
  const name = `s-${randomUUID().slice(0, 8)}`;
  const sidecar = await startSidecar({
    sale: flashSale(name, spec),
    upstream: upstream ?? shop.url,
    redisUrl: redisUrl ?? redis.url,
  });
  started.push(sidecar);
  return { sidecar, ledger: new SaleLedger(client, { namespace: 'shop', name }) };
}

async function counts(ledger: SaleLedger) {
  const snapshot = await ledger.snapshot();
  assert.ok(snapshot);
  const { available, reserved, sold, inDoubt, total } = snapshot.items[0] ?? assert.fail('no item');
  assert.equal(total, available + reserved + sold, 'total = available + reserved + sold');
  return { available, reserved, sold, inDoubt };
}

before(async () => {
  redis = await startRedis();
  shop = await startShop();
  client = new Redis(redis.port, '127.0.0.1');
});
after(async () => {
  for (const s of started) await s.stop();
  client.disconnect();
  await shop.stop();
  await redis.destroy();
});

describe('answers', () => {
  test('every checkout outcome has its status and stable problem type', async () => {
    const { sidecar, ledger } = await sidecarFor({
      items: [{ sku: 'phone', stock: 3, perUserLimit: 2 }],
    });
    const callsBefore = (await shop.stats()).checkoutCalls;
    const first = await checkout(sidecar, { user: 'u1', key: 'k1' });
    assert.equal(first.status, 201);
    assert.equal(first.body.sku, 'phone');

    const replay = await checkout(sidecar, { user: 'u1', key: 'k1' });
    assert.equal(replay.status, 201);
    assert.equal(replay.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(replay.body, first.body);

    assertProblem(
      await checkout(sidecar, { user: 'u1', key: 'k1', quantity: 2 }),
      422,
      'key-reused',
    );
    const limit = await checkout(sidecar, { user: 'u1', quantity: 2 });
    assertProblem(limit, 403, 'per-user-limit');
    assert.equal(limit.body.limit, 2);
    assert.equal((await checkout(sidecar, { user: 'u2', quantity: 2 })).status, 201);
    const soldOut = await checkout(sidecar, { user: 'u3' });
    assertProblem(soldOut, 409, 'sold-out');
    assert.equal(soldOut.body.available, 0);

    assert.equal(
      (await shop.stats()).checkoutCalls - callsBefore,
      2,
      'only admitted checkouts reach the shop',
    );
    assert.deepEqual(await counts(ledger), { available: 0, reserved: 0, sold: 3, inDoubt: 0 });

    const metrics = await (await fetch(`${sidecar.opsUrl}/metrics`)).text();
    for (const [outcome, n] of [
      ['committed', 2],
      ['replayed', 1],
      ['sold-out', 1],
      ['per-user-limit', 1],
      ['ledger-unavailable', 0],
    ] as const) {
      assert.ok(
        metrics.includes(
          `flashguard_checkout_requests_total{sale="shop/${ledger.sale.name}",sku="phone",outcome="${outcome}"} ${n}`,
        ),
        `${outcome} counted ${n}`,
      );
    }
  });

  test('outside the window: not started (with its start time) and ended', async () => {
    const now = Date.now();
    const early = await sidecarFor({
      window: {
        start: new Date(now + 3_600_000).toISOString(),
        end: new Date(now + 7_200_000).toISOString(),
      },
    });
    const notStarted = await checkout(early.sidecar, { user: 'u1' });
    assertProblem(notStarted, 409, 'not-started');
    assert.equal(notStarted.body.startsAt, new Date(now + 3_600_000).toISOString());
    assert.ok(Number(notStarted.headers.get('retry-after')) > 3500);

    const late = await sidecarFor({
      window: {
        start: new Date(now - 7_200_000).toISOString(),
        end: new Date(now - 3_600_000).toISOString(),
      },
    });
    assertProblem(await checkout(late.sidecar, { user: 'u1' }), 410, 'ended');
  });

  test('rate limited beyond the admission rate, with Retry-After', async () => {
    const { sidecar } = await sidecarFor({ limits: { admissionRate: 1, burst: 1 } });
    assert.equal((await checkout(sidecar, { user: 'u1' })).status, 201);
    const limited = await checkout(sidecar, { user: 'u2' });
    assertProblem(limited, 429, 'rate-limited');
    assert.equal(limited.headers.get('retry-after'), '1');
  });

  test('the same Idempotency-Key while the first is in flight is in-progress', async () => {
    const { sidecar } = await sidecarFor();
    await shop.setFaults({ delayMs: 800 });
    try {
      const first = checkout(sidecar, { user: 'u1', key: 'slow' });
      await sleep(200);
      assertProblem(await checkout(sidecar, { user: 'u1', key: 'slow' }), 409, 'in-progress');
      assert.equal((await first).status, 201);
    } finally {
      await shop.setFaults({ delayMs: 0 });
    }
  });

  test("the shop's answer reaches the client as the shop framed it, a body-less 204 included", async () => {
    // A shop of its own: the demo shop answers 201 with a JSON body only.
    const statuses = [200, 204];
    const own = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        const status = statuses.shift() ?? 500;
        res.writeHead(status, { 'content-type': 'text/plain', 'x-order': 'o-1' });
        res.end(status === 204 ? undefined : 'ordered ✓');
      });
    });
    const port = await freePort();
    await new Promise<void>((resolve) => own.listen(port, '127.0.0.1', resolve));
    try {
      const { sidecar, ledger } = await sidecarFor({}, `http://127.0.0.1:${port}`);
      const send = () =>
        fetch(`${sidecar.url}/checkout`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-user-id': randomUUID() },
          body: JSON.stringify({ sku: 'phone', quantity: 1 }),
        });
      const ok = await send();
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get('x-order'), 'o-1');
      assert.equal(ok.headers.get('content-length'), String(Buffer.byteLength('ordered ✓')));
      assert.equal(await ok.text(), 'ordered ✓');
      const noContent = await send();
      assert.equal(noContent.status, 204);
      assert.equal(noContent.headers.get('content-length'), null, 'a 204 has no Content-Length');
      assert.equal(await noContent.text(), '');
      assert.equal((await counts(ledger)).sold, 2, 'both 2xx answers committed');
    } finally {
      own.close();
    }
  });

  test('bad input gets a 4xx problem and changes nothing: no Redis write, no shop call', async () => {
    const { sidecar, ledger } = await sidecarFor();
    const seqBefore = (await ledger.snapshot())?.seq;
    const callsBefore = (await shop.stats()).checkoutCalls;
    const bad: [
      string,
      Parameters<typeof checkout>[1],
      Parameters<typeof checkout>[2],
      number,
      string,
    ][] = [
      ['malformed JSON', { user: 'u' }, { body: '{"sku":' }, 400, 'invalid-request'],
      [
        'wrong types',
        { user: 'u' },
        { body: '{"sku":"phone","quantity":"lots"}' },
        400,
        'invalid-request',
      ],
      ['negative quantity', { user: 'u', quantity: -2 }, {}, 400, 'invalid-request'],
      ['zero quantity', { user: 'u', quantity: 0 }, {}, 400, 'invalid-request'],
      ['fractional quantity', { user: 'u', quantity: 0.5 }, {}, 400, 'invalid-request'],
      ['huge quantity', { user: 'u', quantity: 1e15 }, {}, 400, 'invalid-request'],
      ['missing user', {}, {}, 400, 'invalid-request'],
      [
        'forged reservation header',
        { user: 'u' },
        { headers: { 'x-flashguard-reservation': 'free' } },
        400,
        'invalid-request',
      ],
      [
        'invalid UTF-8',
        { user: 'u' },
        {
          body: Buffer.concat([
            Buffer.from('{"sku":"ph'),
            Buffer.from([0xc3, 0x28]),
            Buffer.from('one","quantity":1}'),
          ]),
        },
        400,
        'invalid-request',
      ],
      [
        'huge body',
        { user: 'u' },
        { body: JSON.stringify({ sku: 'phone', quantity: 1, pad: 'x'.repeat(100_000) }) },
        413,
        'body-too-large',
      ],
    ];
    for (const [name, order, init, status, type] of bad) {
      const answer = await checkout(sidecar, order, init);
      assert.equal(answer.status, status, name);
      assertProblem(answer, status, type);
    }
    assert.equal((await ledger.snapshot())?.seq, seqBefore, 'no ledger mutation');
    assert.equal((await shop.stats()).checkoutCalls, callsBefore, 'no shop call');
  });
});

describe('failures upstream', () => {
  const breaker = {
    minimumCalls: 4,
    failureRatePercent: 50,
    slowCallRatePercent: 50,
    slowCallMilliseconds: 300,
    windowSeconds: 10,
    openSeconds: 1,
    halfOpenCalls: 1,
  };

  test('the breaker opens on a failing shop, half-opens and closes; failed checkouts are released', async () => {
    const { sidecar, ledger } = await sidecarFor({
      breaker,
      items: [{ sku: 'phone', stock: 10, perUserLimit: 10 }],
    });
    await shop.setFaults({ failRatio: 1 });
    try {
      for (let i = 0; i < 4; i++)
        assert.equal((await checkout(sidecar, { user: `u${i}` })).status, 500);
      assertProblem(await checkout(sidecar, { user: 'u9' }), 503, 'upstream-unavailable');
      assert.deepEqual(await counts(ledger), { available: 10, reserved: 0, sold: 0, inDoubt: 0 });
    } finally {
      await shop.setFaults({ failRatio: 0 });
    }
    await sleep(1100);
    assert.equal(
      (await checkout(sidecar, { user: 'trial' })).status,
      201,
      'the half-open trial call',
    );
    assert.equal((await checkout(sidecar, { user: 'after' })).status, 201, 'closed again');
    assert.deepEqual(await counts(ledger), { available: 8, reserved: 0, sold: 2, inDoubt: 0 });
  });

  test('the breaker opens on a slow shop even though it succeeds', async () => {
    const { sidecar } = await sidecarFor({
      breaker,
      items: [{ sku: 'phone', stock: 10, perUserLimit: 10 }],
    });
    await shop.setFaults({ delayMs: 350 });
    try {
      for (let i = 0; i < 4; i++)
        assert.equal((await checkout(sidecar, { user: `u${i}` })).status, 201);
      assertProblem(await checkout(sidecar, { user: 'u9' }), 503, 'upstream-unavailable');
    } finally {
      await shop.setFaults({ delayMs: 0 });
    }
  });

  test('a lost answer is in-doubt, then settled through the shop order status: committed → sold', async () => {
    const { sidecar, ledger } = await sidecarFor({
      checkout: { upstreamTimeoutMilliseconds: 500 },
      reservation: { ttlSeconds: 2 },
      orderStatus: { url: `${shop.url}/orders/{reservation}` },
    });
    await shop.setFaults({ commitThenHangRatio: 1 });
    let lost: Answer;
    try {
      lost = await checkout(sidecar, { user: 'u1', key: 'hang' });
    } finally {
      await shop.setFaults({ commitThenHangRatio: 0 });
    }
    assertProblem(lost, 504, 'outcome-unknown');
    await waitFor('the reaper to confirm it', async () => {
      const c = await counts(ledger);
      return c.sold === 1 && c.inDoubt === 0 && c.reserved === 0 ? c : undefined;
    });
    const replay = await checkout(sidecar, { user: 'u1', key: 'hang' });
    assert.equal(replay.status, 200);
    assert.equal(replay.body.state, 'confirmed');
  });

  test('a reset connection is in-doubt, then released when the shop says it has no order', async () => {
    const { sidecar, ledger } = await sidecarFor({
      orderStatus: { url: `${shop.url}/orders/{reservation}` },
      items: [{ sku: 'phone', stock: 1, perUserLimit: 1 }],
    });
    await shop.setFaults({ resetRatio: 1 });
    try {
      assertProblem(await checkout(sidecar, { user: 'u1' }), 504, 'outcome-unknown');
    } finally {
      await shop.setFaults({ resetRatio: 0 });
    }
    await waitFor('the reaper to release it', async () => {
      const c = await counts(ledger);
      return c.available === 1 && c.inDoubt === 0 ? c : undefined;
    });
    assert.equal(
      (await checkout(sidecar, { user: 'u2' })).status,
      201,
      'the released unit sells again',
    );
  });

  test('an unreachable shop releases at once: the request never left', async () => {
    const closedPort = await freePort();
    const { sidecar, ledger } = await sidecarFor({}, `http://127.0.0.1:${closedPort}`);
    assertProblem(await checkout(sidecar, { user: 'u1' }), 503, 'upstream-unavailable');
    assert.deepEqual(await counts(ledger), { available: 10, reserved: 0, sold: 0, inDoubt: 0 });
  });

  test('Redis down fails closed and fast, and service resumes without a restart', async () => {
    const durable = await startRedis({ args: ['--appendonly', 'yes'] });
    started.push({ stop: () => durable.destroy() });
    const { sidecar } = await sidecarFor({}, undefined, durable.url);
    assert.equal((await checkout(sidecar, { user: 'u1' })).status, 201);
    await durable.stop();
    const t0 = performance.now();
    assertProblem(await checkout(sidecar, { user: 'u2' }), 503, 'ledger-unavailable');
    assert.ok(performance.now() - t0 < 1000, 'answered within the command timeout');
    await durable.start();
    await waitFor(
      'the sidecar to reconnect',
      async () => ((await checkout(sidecar, { user: 'u3' })).status === 201 ? true : undefined),
      {
        timeoutMs: 10_000,
        intervalMs: 200,
      },
    );
  });

  test('SIGTERM drains: an in-flight checkout is answered and settled', async () => {
    const { sidecar, ledger } = await sidecarFor();
    await shop.setFaults({ delayMs: 700 });
    try {
      const inFlight = checkout(sidecar, { user: 'u1' });
      await sleep(200);
      const stopped = sidecar.stop('SIGTERM');
      assert.equal((await inFlight).status, 201);
      await stopped;
      assert.equal(await sidecar.process.exited, 0);
    } finally {
      await shop.setFaults({ delayMs: 0 });
    }
    assert.deepEqual(await counts(ledger), { available: 9, reserved: 0, sold: 1, inDoubt: 0 });
  });
});

describe('pass-through', () => {
  let echo: ManagedProcess;
  let echoUrl: string;
  before(async () => {
    const port = await freePort();
    echo = startProcess({
      name: 'echo',
      command: process.execPath,
      args: [join(import.meta.dirname, '..', 'e2e', 'support', 'echo-server.ts'), String(port)],
    });
    echoUrl = `http://127.0.0.1:${port}`;
    await waitFor('echo server', async () => ((await fetch(echoUrl)).ok ? true : undefined));
  });
  after(async () => {
    await echo.stop();
  });

  test('non-sale traffic reaches the app unchanged: methods, headers, large streamed bodies', async () => {
    const { sidecar } = await sidecarFor({}, echoUrl);
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'POST']) {
      const withBody = method !== 'GET' && method !== 'DELETE';
      const res = await fetch(`${sidecar.url}/cart/items?x=1&y=%20`, {
        method,
        headers: {
          'x-custom': 'kept',
          'x-flashguard-reservation': 'forged',
          'content-type': 'application/octet-stream',
        },
        body: withBody ? big : undefined,
      });
      assert.equal(res.status, 200, method);
      assert.equal(res.headers.get('x-echo'), 'yes');
      const seen = (await res.json()) as {
        method: string;
        url: string;
        headers: Record<string, string>;
        bodyBytes: number;
        bodySha256: string;
      };
      assert.equal(seen.method, method);
      assert.equal(seen.url, '/cart/items?x=1&y=%20');
      assert.equal(seen.headers['x-custom'], 'kept');
      assert.equal(
        seen.headers['x-flashguard-reservation'],
        undefined,
        'a forged reservation never reaches the app',
      );
      if (withBody) {
        assert.equal(seen.bodyBytes, big.length);
        assert.equal(seen.bodySha256, createHash('sha256').update(big).digest('hex'));
      }
    }
    // A checkout of a SKU in no sale passes through too.
    const other = await fetch(`${sidecar.url}/checkout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"sku":"tablet","quantity":1}',
    });
    assert.equal(((await other.json()) as { url: string }).url, '/checkout');
  });
});

test('concurrent shoppers: the shop commits min(stock, legal demand), never more, within limits', async () => {
  const stock = 40;
  // Its own SKU: the shop's per-user figures span every test.
  const sku = 'storm-phone';
  const { sidecar, ledger } = await sidecarFor({ items: [{ sku, stock, perUserLimit: 2 }] });
  const before = await shop.stats();
  const users = Array.from({ length: 60 }, (_, i) => `shopper-${i}`);
  // Each shopper tries three units (one over the limit) and retries one request with its key.
  const attempts = users.flatMap((user) => [
    { sku, user, key: `${user}-a` },
    { sku, user, key: `${user}-a` },
    { sku, user, key: `${user}-b` },
    { sku, user, key: `${user}-c` },
  ]);
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 40 }, async () => {
      while (next < attempts.length) {
        const attempt = attempts[next++];
        if (attempt !== undefined) statuses.push((await checkout(sidecar, attempt)).status);
      }
    }),
  );
  const after = await shop.stats();
  const committed = after.units - before.units;
  assert.equal(committed, Math.min(stock, users.length * 2));
  assert.equal(after.skus[sku]?.maxUnitsPerUser, 2);
  assert.equal(statuses.filter((s) => s >= 500).length, 0, 'no 5xx');
  assert.equal(after.checkoutCalls - before.checkoutCalls, committed, 'upstream calls = admitted');
  assert.deepEqual(await counts(ledger), { available: 0, reserved: 0, sold: stock, inDoubt: 0 });
});

test('the standalone loader rejects every invalid FlashSale, naming its field', async () => {
  const cases = invalidCorpus();
  const run = (file: string) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [
        join(import.meta.dirname, 'main.ts'),
        '--sale',
        file,
        '--upstream',
        'http://127.0.0.1:1',
        '--redis',
        redis.url,
        '--listen',
        '127.0.0.1:0',
        '--metrics',
        '127.0.0.1:0',
      ]);
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.on('exit', (code) => {
        resolve({ code, stderr });
      });
    });
  for (let i = 0; i < cases.length; i += 6) {
    await Promise.all(
      cases.slice(i, i + 6).map(async (c) => {
        const { code, stderr } = await run(c.path);
        assert.equal(code, 2, `${c.name} exits 2`);
        assert.ok(stderr.includes(`: ${c.field}: `), `${c.name}: names ${c.field} in ${stderr}`);
      }),
    );
  }
});
