// Two sales selling the same SKU through the same workload at the same time: the later one waits
// (Ready=False SaleOverlap and a Warning) and loads nothing, until the earlier one goes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { SaleLedger } from '../../ledger/index.ts';
import { connectRedis } from '../../sidecar/redis.ts';
import { startControlPlane, type ControlPlane } from '../controlplane/controlplane.ts';
import {
  flashSales,
  installFlashSaleCrd,
  iso,
  isReady,
  startOperator,
} from '../support/operator.ts';
import { waitFor, type ManagedProcess } from '../support/process.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

function sale(name: string, skus: string[]) {
  const now = Date.now();
  return {
    apiVersion: 'flashguard.dev/v1alpha1',
    kind: 'FlashSale',
    metadata: { name, namespace: 'default' },
    spec: {
      window: { start: iso(now - 60_000), end: iso(now + 600_000) },
      items: skus.map((sku) => ({ sku, stock: 5 })),
      limits: { admissionRate: 100, burst: 10 },
      workload: { kind: 'Deployment', name: 'checkout' },
    },
  };
}

void describe('operator: overlapping sales on one workload', () => {
  let cp: ControlPlane;
  let redis: RedisServer;
  let client: Redis;
  let operator: ManagedProcess;
  const sales = () => flashSales(cp);
  const loaded = async (name: string) =>
    (await new SaleLedger(client, { namespace: 'default', name }).snapshot()) !== undefined;
  const waitReady = (name: string) =>
    waitFor(`${name} Ready`, async () => (isReady(await sales().get(name)) ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 50,
    });

  before(async () => {
    [cp, redis] = await Promise.all([startControlPlane(), startRedis()]);
    client = connectRedis(redis.url);
    await installFlashSaleCrd(cp);
    ({ process: operator } = await startOperator({
      kubeconfig: cp.kubeconfig,
      redisUrl: redis.url,
      identity: 'overlap',
      logDir: join(cp.dir, 'logs'),
    }));
  });

  after(async () => {
    await operator.stop();
    client.disconnect();
    await Promise.all([redis.destroy(), cp.stop()]);
  });

  void it('the later sale waits with SaleOverlap and a Warning, and runs once the earlier one is deleted', async () => {
    await sales().apply(sale('first', ['A']));
    await waitReady('first');
    await sales().apply(sale('second', ['A', 'B']));
    await sales().apply(sale('other-skus', ['C']));

    const ready = await waitFor(
      'second Ready=False SaleOverlap',
      async () => {
        const condition = await sales().condition('second', 'Ready');
        return condition?.reason === 'SaleOverlap' ? condition : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    assert.equal(ready.status, 'False');
    assert.match(ready.message, /FlashSale first \(created first\) also sells A/);
    assert.match(await sales().warnings('second'), /SaleOverlap/);
    assert.equal(await loaded('second'), false, 'nothing loaded for the waiting sale');
    // Another SKU through the same workload is no collision.
    await waitReady('other-skus');
    assert.ok(isReady(await sales().get('first')));

    await cp.kubectl(['delete', 'flashsale', 'first', '--wait=true']);
    await waitReady('second');
    assert.equal(await loaded('second'), true);
  });
});
