// The demo shop against real HTTP: the shop side of the integration contract, and each fault.
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort, startProcess, waitFor } from '../support/process.ts';
import { startCheckoutApp, type CheckoutApp } from './checkout-app.ts';
import { noFaults } from './faults.ts';

interface Checkout {
  reservation?: string;
  user?: string;
  sku?: unknown;
  quantity?: unknown;
}

async function checkout(
  url: string,
  { reservation, user = 'alice', sku = 'MUG', quantity = 1 }: Checkout,
  timeoutMs = 5000,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-user-id': user };
  if (reservation !== undefined) headers['x-flashguard-reservation'] = reservation;
  const response = await request(`${url}/checkout`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ sku, quantity }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return {
    status: response.statusCode,
    body: (await response.body.json()) as Record<string, unknown>,
  };
}

async function orderStatus(url: string, reservation: string) {
  const response = await request(`${url}/orders/${reservation}`);
  return {
    status: response.statusCode,
    body: (await response.body.json()) as Record<string, unknown>,
  };
}

describe('demo checkout app', () => {
  let app: CheckoutApp;
  before(async () => {
    app = await startCheckoutApp({ port: 0 });
  });
  after(() => app.close());
  beforeEach(() => app.setFaults(noFaults));

  test('a reservation makes one order, however often it is retried', async () => {
    const first = await checkout(app.url, { reservation: 'r-once', sku: 'MUG', quantity: 2 });
    const retry = await checkout(app.url, { reservation: 'r-once', sku: 'MUG', quantity: 2 });
    assert.equal(first.status, 201);
    assert.deepEqual(first.body, {
      orderId: first.body.orderId,
      reservation: 'r-once',
      sku: 'MUG',
      quantity: 2,
    });
    assert.equal(typeof first.body.orderId, 'string');
    assert.deepEqual(retry, first);
    assert.deepEqual(app.stats().skus.MUG, { orders: 1, units: 2, maxUnitsPerUser: 2 });
  });

  test('a reservation reused for another checkout is refused and makes no second order', async () => {
    await checkout(app.url, { reservation: 'r-reused', sku: 'CAP', quantity: 1 });
    const reused = await checkout(app.url, { reservation: 'r-reused', sku: 'CAP', quantity: 3 });
    assert.equal(reused.status, 409);
    assert.equal(app.stats().skus.CAP?.units, 1);
  });

  test('order status: 200 committed for an order, 404 not committed otherwise', async () => {
    const placed = await checkout(app.url, { reservation: 'r-status', user: 'bob', quantity: 1 });
    const found = await orderStatus(app.url, 'r-status');
    assert.equal(found.status, 200);
    assert.equal(found.body.committed, true);
    assert.equal(found.body.orderId, placed.body.orderId);
    assert.deepEqual(await orderStatus(app.url, 'r-never'), {
      status: 404,
      body: { committed: false },
    });
  });

  test('a checkout without a reservation is refused: the shop only sells through Flashguard', async () => {
    const before = app.stats();
    const refused = await checkout(app.url, { sku: 'MUG', quantity: 1 });
    assert.equal(refused.status, 400);
    assert.match(String(refused.body.message), /x-flashguard-reservation/);
    const stats = app.stats();
    assert.equal(stats.orders, before.orders);
    assert.equal(stats.checkoutCalls, before.checkoutCalls + 1);
  });

  test('invalid checkouts are refused without an order', async () => {
    const before = app.stats().orders;
    for (const bad of [
      { reservation: 'r-bad-1', quantity: '2' },
      { reservation: 'r-bad-2', quantity: 0 },
      { reservation: 'r-bad-3', quantity: 1.5 },
      { reservation: 'r-bad-4', sku: 42 },
      { reservation: 'r-bad-5', user: '' },
    ]) {
      assert.equal((await checkout(app.url, bad)).status, 400, JSON.stringify(bad));
    }
    assert.equal(app.stats().orders, before);
  });

  test('failRatio: answers 500 and commits nothing', async () => {
    app.setFaults({ failRatio: 1 });
    const failed = await checkout(app.url, { reservation: 'r-fail' });
    assert.equal(failed.status, 500);
    assert.equal((await orderStatus(app.url, 'r-fail')).status, 404);
  });

  test('failRatio never denies an order that exists: a retry of it still gets its 201', async () => {
    const placed = await checkout(app.url, { reservation: 'r-fail-retry' });
    app.setFaults({ failRatio: 1 });
    assert.deepEqual(await checkout(app.url, { reservation: 'r-fail-retry' }), placed);
  });

  test('delayMs: answers no sooner than the delay', async () => {
    app.setFaults({ delayMs: 300 });
    const started = performance.now();
    const slow = await checkout(app.url, { reservation: 'r-slow' });
    assert.equal(slow.status, 201);
    assert.ok(performance.now() - started >= 290, 'answered before the delay');
  });

  test('commitThenHangRatio: the client times out, yet the order is committed', async () => {
    app.setFaults({ commitThenHangRatio: 1 });
    await assert.rejects(checkout(app.url, { reservation: 'r-hang' }, 300), {
      name: 'TimeoutError',
    });
    app.setFaults(noFaults);
    const status = await orderStatus(app.url, 'r-hang');
    assert.equal(status.status, 200);
    assert.equal(status.body.committed, true);
  });

  test('resetRatio: the client sees a reset connection and no order is made', async () => {
    app.setFaults({ resetRatio: 1 });
    await assert.rejects(checkout(app.url, { reservation: 'r-reset' }), (error: unknown) => {
      const code = (error as { code?: string }).code;
      assert.ok(code === 'ECONNRESET' || code === 'UND_ERR_SOCKET', `got ${String(code)}`);
      return true;
    });
    app.setFaults(noFaults);
    assert.equal((await orderStatus(app.url, 'r-reset')).status, 404);
  });

  test('POST /faults sets the knobs and refuses values that make no sense', async () => {
    const set = async (body: unknown) => {
      const response = await request(`${app.url}/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.statusCode, body: await response.body.json() };
    };
    assert.deepEqual(await set({ failRatio: 0.5, delayMs: 10 }), {
      status: 200,
      body: { failRatio: 0.5, delayMs: 10, commitThenHangRatio: 0, resetRatio: 0 },
    });
    for (const bad of [
      { failRatio: 2 },
      { delayMs: -1 },
      { resetRatio: 0.6 }, // 0.5 + 0.6 > 1: one draw cannot honour both
      { typo: 1 },
    ]) {
      assert.equal((await set(bad)).status, 400, JSON.stringify(bad));
    }
    assert.throws(() => app.setFaults({ commitThenHangRatio: -0.1 }), /commitThenHangRatio/);
  });

  test('close() returns even with connections left hanging by a fault', async () => {
    const hanging = await startCheckoutApp({ port: 0 });
    hanging.setFaults({ commitThenHangRatio: 1 });
    const pending = checkout(hanging.url, { reservation: 'r-left' }, 10_000).catch(
      (error: unknown) => error,
    );
    await waitFor('the order to be committed', () =>
      hanging.stats().orders === 1 ? true : undefined,
    );
    await hanging.close();
    assert.ok((await pending) instanceof Error);
  });
});

test('as a program: SIGTERM lets the checkout in flight finish, then exits 0', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = startProcess({
    name: 'checkout-app',
    command: process.execPath,
    args: [join(import.meta.dirname, 'checkout-app.ts'), '--listen', `127.0.0.1:${port}`],
  });
  try {
    await waitFor('the app to listen', async () => {
      const response = await request(`${url}/stats`);
      await response.body.dump();
      return response.statusCode === 200 ? true : undefined;
    });
    const faults = await request(`${url}/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ delayMs: 500 }),
    });
    assert.equal(faults.statusCode, 200);
    await faults.body.dump();
    const inFlight = checkout(url, { reservation: 'r-drain' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    proc.child.kill('SIGTERM');
    assert.equal((await inFlight).status, 201);
    assert.equal(await proc.exited, 0);
  } finally {
    await proc.stop('SIGKILL');
  }
});
