// Which Redis a sale lives in (contract C1), on a real control plane with two real redis-servers:
// the operator-wide default from a Secret (--redis-secret), a sale's own Secret (spec.redis), a
// rotated password, and Secrets that are missing, wrong or point at nothing — each a condition and
// a Warning, retried, never a crash.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { saleKeys, SaleLedger } from '../../ledger/index.ts';
import { connectRedis } from '../../sidecar/redis.ts';
import { startControlPlane, type ControlPlane } from '../controlplane/controlplane.ts';
import {
  flashSales,
  installFlashSaleCrd,
  iso,
  isReady,
  startOperator,
} from '../support/operator.ts';
import { freePort, waitFor, type ManagedProcess } from '../support/process.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';

function sale(name: string, namespace: string, secret?: string, stock = 10) {
  const now = Date.now();
  return {
    apiVersion: 'flashguard.dev/v1alpha1',
    kind: 'FlashSale',
    metadata: { name, namespace },
    spec: {
      window: { start: iso(now - 60_000), end: iso(now + 600_000) },
      items: [{ sku: 'A', stock }],
      limits: { admissionRate: 100, burst: 10 },
      ...(secret === undefined ? {} : { redis: { secretRef: { name: secret } } }),
    },
  };
}

void describe('operator: Redis from Secrets (C1)', () => {
  let cp: ControlPlane;
  let defaultRedis: RedisServer;
  let shopRedis: RedisServer;
  let defaultClient: Redis;
  let shopClient: Redis;
  let operator: ManagedProcess;
  const sales = () => flashSales(cp);

  const secret = (name: string, namespace: string, data: Record<string, string>) =>
    cp.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace },
        stringData: data,
      }),
    });
  const loaded = async (client: Redis, namespace: string, name: string) =>
    (await new SaleLedger(client, { namespace, name }).snapshot())?.items[0]?.total;
  const waitReady = (name: string, namespace: string) =>
    waitFor(
      `${namespace}/${name} Ready`,
      async () => (isReady(await sales().get(name, namespace)) ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 50 },
    );
  const waitReason = (name: string, namespace: string, reason: string) =>
    waitFor(
      `${namespace}/${name} Ready=False ${reason}`,
      async () => {
        const ready = await sales().condition(name, 'Ready', namespace);
        return ready?.status === 'False' && ready.reason === reason ? ready : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );

  before(async () => {
    [cp, defaultRedis, shopRedis] = await Promise.all([
      startControlPlane(),
      startRedis(),
      startRedis(),
    ]);
    await shopRedis.cli('CONFIG', 'SET', 'requirepass', 'old-pass');
    defaultClient = connectRedis(defaultRedis.url);
    shopClient = connectRedis(`redis://:old-pass@127.0.0.1:${String(shopRedis.port)}`);
    await installFlashSaleCrd(cp);
    await cp.kubectl(['create', 'namespace', 'shop']);
    await secret('flashguard-default-redis', 'default', { url: defaultRedis.url });
    await secret('shop-redis', 'shop', {
      url: `redis://:old-pass@127.0.0.1:${String(shopRedis.port)}`,
    });
    ({ process: operator } = await startOperator({
      kubeconfig: cp.kubeconfig,
      identity: 'secrets',
      logDir: join(cp.dir, 'logs'),
      args: ['--redis-secret', 'flashguard-default-redis'],
    }));
  });

  after(async () => {
    await operator.stop();
    defaultClient.disconnect();
    shopClient.disconnect();
    await Promise.all([defaultRedis.destroy(), shopRedis.destroy(), cp.stop()]);
  });

  void it('the default Redis from --redis-secret, a sale on its own Secret in its namespace', async () => {
    await sales().apply(sale('plain', 'default'));
    await sales().apply(sale('own', 'shop', 'shop-redis'));
    await Promise.all([waitReady('plain', 'default'), waitReady('own', 'shop')]);

    assert.equal(await loaded(defaultClient, 'default', 'plain'), 10);
    assert.equal(await loaded(shopClient, 'shop', 'own'), 10);
    // Each ledger lives in its own Redis only.
    assert.equal(
      await shopClient.exists(saleKeys({ namespace: 'default', name: 'plain' }).meta),
      0,
    );
    assert.equal(await defaultClient.exists(saleKeys({ namespace: 'shop', name: 'own' }).meta), 0);
  });

  void it('a rotated password in the Secret is used for the next change', async () => {
    await shopClient.config('SET', 'requirepass', 'new-pass');
    await secret('shop-redis', 'shop', {
      url: `redis://:new-pass@127.0.0.1:${String(shopRedis.port)}`,
    });
    // Connections made with the old password are gone; only the new one can reach Redis.
    shopClient.disconnect();
    shopClient = connectRedis(`redis://:new-pass@127.0.0.1:${String(shopRedis.port)}`);
    await waitFor('the new password to work', async () =>
      (await shopClient.ping().catch(() => undefined)) === 'PONG' ? true : undefined,
    );
    await shopClient.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');

    await sales().apply(sale('own', 'shop', 'shop-redis', 25));
    await waitFor(
      'shop/own generation 2 loaded and Ready',
      async () =>
        (await loaded(shopClient, 'shop', 'own')) === 25 &&
        isReady(await sales().get('own', 'shop'))
          ? true
          : undefined,
      { timeoutMs: 30_000, intervalMs: 50 },
    );
  });

  void it('a missing Secret, then a Secret without the key: condition and Warning, then Ready once fixed', async () => {
    await sales().apply(sale('orphan', 'shop', 'later-redis'));
    const missing = await waitReason('orphan', 'shop', 'RedisSecretNotFound');
    assert.match(missing.message, /shop\/later-redis not found/);
    assert.match(await sales().warnings('orphan', 'shop'), /RedisSecretNotFound/);

    await secret('later-redis', 'shop', { uri: 'redis://wrong-key' });
    const invalid = await waitReason('orphan', 'shop', 'RedisSecretInvalid');
    assert.match(invalid.message, /no key "url"/);
    assert.match(await sales().warnings('orphan', 'shop'), /RedisSecretInvalid/);
    // Nothing was loaded anywhere meanwhile.
    assert.equal(await loaded(defaultClient, 'shop', 'orphan'), undefined);
    assert.equal(await loaded(shopClient, 'shop', 'orphan'), undefined);

    await secret('later-redis', 'shop', {
      url: `redis://:new-pass@127.0.0.1:${String(shopRedis.port)}`,
    });
    await waitFor(
      'shop/orphan Ready in the shop Redis',
      async () =>
        isReady(await sales().get('orphan', 'shop')) &&
        (await loaded(shopClient, 'shop', 'orphan')) === 10
          ? true
          : undefined,
      { timeoutMs: 90_000, intervalMs: 100 },
    );
  });

  void it('a Secret pointing at no Redis: LedgerUnavailable and a Warning, the operator keeps running', async () => {
    await secret('nowhere-redis', 'shop', { url: `redis://127.0.0.1:${String(await freePort())}` });
    await sales().apply(sale('stranded', 'shop', 'nowhere-redis'));
    await waitReason('stranded', 'shop', 'LedgerUnavailable');
    assert.match(await sales().warnings('stranded', 'shop'), /LedgerUnavailable/);
    assert.equal(operator.child.exitCode, null, 'the operator is still running');
    // The others are untouched.
    assert.ok(isReady(await sales().get('plain', 'default')));
  });
});
