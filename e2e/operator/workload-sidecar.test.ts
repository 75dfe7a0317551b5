// The injected-sidecar path without the webhook (contracts C2, C3): the operator indexes a
// FlashSale for its workload and keeps the namespace's flashguard-redis Secret; a sidecar in
// workload mode, in front of the demo shop, finds the sale through the index and guards its
// checkouts; once the sale is deleted its checkouts pass through to the shop untouched.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { indexedSales, SaleLedger } from '../../ledger/index.ts';
import { connectRedis } from '../../sidecar/redis.ts';
import { startControlPlane, type ControlPlane } from '../controlplane/controlplane.ts';
import { flashSales, installFlashSaleCrd, isReady, startOperator } from '../support/operator.ts';
import { waitFor, type ManagedProcess } from '../support/process.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import {
  flashSale,
  startShop,
  startSidecar,
  type RunningShop,
  type RunningSidecar,
} from '../support/sidecar.ts';

const workload = { namespace: 'shop', kind: 'Deployment', name: 'checkout' };

void describe('operator + a workload-mode sidecar in front of the demo shop', () => {
  let cp: ControlPlane;
  let redis: RedisServer;
  let client: Redis;
  let operator: ManagedProcess;
  let shop: RunningShop;
  let sidecar: RunningSidecar;
  const sales = () => flashSales(cp);

  const checkout = async (user: string) => {
    const res = await fetch(`${sidecar.url}/checkout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user-id': user },
      body: JSON.stringify({ sku: 'phone', quantity: 1 }),
    });
    return { status: res.status, body: await res.text() };
  };
  /** The sidecar says it changed the sales it guards (it polls the index every second). */
  const sidecarLogs = (what: string, line: RegExp) =>
    waitFor(
      what,
      () => Promise.resolve(line.test(readFileSync(sidecar.logFile, 'utf8')) || undefined),
      {
        timeoutMs: 15_000,
        intervalMs: 100,
      },
    );
  const namespaceSecret = async () => {
    const result = await cp.kubectl(
      ['get', 'secret', 'flashguard-redis', '-n', 'shop', '-o', 'json'],
      { check: false },
    );
    return result.code === 0
      ? (JSON.parse(result.stdout) as {
          data: Record<string, string>;
          metadata: { labels?: Record<string, string> };
        })
      : undefined;
  };

  before(async () => {
    [cp, redis, shop] = await Promise.all([startControlPlane(), startRedis(), startShop()]);
    client = connectRedis(redis.url);
    await installFlashSaleCrd(cp);
    await cp.kubectl(['create', 'namespace', 'shop']);
    ({ process: operator } = await startOperator({
      kubeconfig: cp.kubeconfig,
      redisUrl: redis.url,
      identity: 'workload',
      logDir: join(cp.dir, 'logs'),
    }));
    // Ready with no sale yet: it has read the (empty) index.
    sidecar = await startSidecar({
      workload: 'shop/Deployment/checkout',
      upstream: shop.url,
      redisUrl: redis.url,
    });
  });

  after(async () => {
    await sidecar.stop();
    await operator.stop();
    client.disconnect();
    await Promise.all([shop.stop(), redis.destroy(), cp.stop()]);
  });

  void it('apply: indexed, the namespace Secret written, a checkout reserved and committed', async () => {
    await sales().apply(flashSale('drop', { workload: { name: 'checkout' } }));
    await waitFor(
      'shop/drop Ready',
      async () => (isReady(await sales().get('drop', 'shop')) ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    assert.deepEqual(await indexedSales(client, workload), ['drop']);
    const secret = await namespaceSecret();
    assert.equal(Buffer.from(secret?.data.url ?? '', 'base64').toString(), redis.url);
    assert.equal(secret?.metadata.labels?.['app.kubernetes.io/managed-by'], 'flashguard-operator');

    await sidecarLogs('the sidecar to guard shop/drop', /"added":\["shop\/drop"\]/);
    const answer = await checkout('ada');
    assert.equal(answer.status, 201, answer.body);
    const phone = (await new SaleLedger(client, { namespace: 'shop', name: 'drop' }).snapshot())
      ?.items[0];
    assert.deepEqual([phone?.sold, phone?.reserved, phone?.available], [1, 0, 9]);
    assert.equal((await shop.stats()).units, 1);
  });

  void it('delete: out of the index, the Secret gone, checkouts pass through to the shop', async () => {
    await cp.kubectl(['delete', 'flashsale', 'drop', '-n', 'shop', '--wait=true']);
    assert.deepEqual(await indexedSales(client, workload), []);
    assert.equal(await namespaceSecret(), undefined);
    await sidecarLogs('the sidecar to drop shop/drop', /"removed":\["drop"\]/);
    const calls = (await shop.stats()).checkoutCalls;
    // Unguarded, the request reaches the shop as sent: without a reservation, which this shop
    // refuses itself (400 with its own validation error, not a Flashguard problem+json).
    const answer = await checkout('bob');
    assert.equal(answer.status, 400, answer.body);
    assert.match(answer.body, /"code":"FST_ERR_VALIDATION"/);
    assert.equal((await shop.stats()).checkoutCalls, calls + 1);
    assert.equal((await shop.stats()).units, 1);
  });
});
