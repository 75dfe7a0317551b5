import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../e2e/support/redis.ts';
import { SaleLedger } from './index.ts';
import { ledgerSuite } from './ledger.suite.ts';

ledgerSuite('a single redis-server', async () => {
  const server = await startRedis();
  return {
    connect: () => new Redis(server.port, '127.0.0.1'),
    destroy: () => server.destroy(),
  };
});

// Scripts keep working when Redis forgets them: SCRIPT FLUSH, and a restart with no persistence.
let server: RedisServer;
before(async () => {
  server = await startRedis();
});
after(async () => {
  await server.destroy();
});

test('scripts survive SCRIPT FLUSH and a Redis restart on the same client', async () => {
  const client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 20 });
  try {
    const ledger = new SaleLedger(client, { namespace: 'shop', name: 'restart' });
    const now = Date.now();
    const plan = {
      generation: 1,
      window: { startMs: now - 60_000, endMs: now + 3_600_000 },
      retentionMs: 60_000,
      items: [{ sku: 'a', stock: 5, perUserLimit: 5 }],
    };
    const request = { sku: 'a', user: 'u', quantity: 1, ttlMs: 30_000 };
    await ledger.preload(plan);
    assert.equal((await ledger.reserve(request)).kind, 'reserved');
    await server.cli('SCRIPT', 'FLUSH');
    assert.equal((await ledger.reserve(request)).kind, 'reserved');
    await server.stop();
    await server.start();
    assert.equal(await server.cli('SCRIPT', 'EXISTS', 'x'), '0');
    await ledger.preload(plan);
    assert.equal((await ledger.reserve(request)).kind, 'reserved');
  } finally {
    client.disconnect();
  }
});
