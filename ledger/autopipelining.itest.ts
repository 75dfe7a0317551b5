// The ledger on an auto-pipelining ioredis client (the sidecar's was one until the ledger batched
// its own calls): a script call issued in the same event-loop turn as another command joins that
// turn's pipeline, which must know the ledger's scripts.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../e2e/support/redis.ts';
import { registerLedgerScripts, SaleLedger } from './index.ts';

let redis: RedisServer;
let client: Redis;

before(async () => {
  redis = await startRedis();
  client = new Redis(redis.port, '127.0.0.1', { enableAutoPipelining: true });
  registerLedgerScripts(client);
  await once(client, 'ready'); // as the sidecar waits before its first checkout
});
after(async () => {
  client.disconnect();
  await redis.destroy();
});

test('a ledger script in the same turn as another command, on a fresh auto-pipelining client', async () => {
  const ledger = new SaleLedger(client, { namespace: 'shop', name: 'pipelined' });
  // One turn: a plain command opens the turn's pipeline, the script joins it.
  const [members, outcome] = await Promise.all([
    client.smembers('fg:workload:{shop/Deployment/checkout}'),
    ledger.reserve({ sku: 'phone', user: 'u1', quantity: 1, ttlMs: 10_000 }),
  ]);
  assert.deepEqual(members, []);
  assert.equal(outcome.kind, 'no-sale');
});
