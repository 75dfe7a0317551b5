// The replica-acknowledged reserve on a real primary and replica: a reservation counts only once
// enough replicas hold it; otherwise it is undone, so a retry with the same key starts afresh.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from '../e2e/support/redis.ts';
import { waitFor } from '../e2e/support/process.ts';
import { ReplicaAckError, SaleLedger } from './index.ts';
import { copyOfSale } from './ledger.suite.ts';

let primary: RedisServer;
let replica: RedisServer;
let client: Redis;
let ledger: SaleLedger;

before(async () => {
  primary = await startRedis({ args: ['--repl-diskless-sync-delay', '0'] });
  replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
  client = new Redis(primary.port, '127.0.0.1');
  // A freshly synced replica starts acknowledging offsets up to a second after its link is up
  // (measured here); until then WAIT counts it out. Wait until it acknowledges a write.
  await waitFor('the replica to acknowledge a write', async () => {
    const [, acked] = (await client.pipeline().incr('warm-up').wait(1, 100).exec()) ?? [];
    return acked?.[1] === 1 ? true : undefined;
  });
  ledger = new SaleLedger(client, { namespace: 'shop', name: 'acked' });
  const now = Date.now();
  await ledger.preload({
    generation: 1,
    window: { startMs: now - 60_000, endMs: now + 3_600_000 },
    retentionMs: 60_000,
    items: [{ sku: 'a', stock: 10, perUserLimit: 10 }],
  });
});
after(async () => {
  client.disconnect();
  await replica.destroy();
  await primary.destroy();
});

const request = (key: string) => ({
  sku: 'a',
  user: 'u',
  quantity: 1,
  ttlMs: 30_000,
  idempotencyKey: key,
});
const available = async () => (await ledger.snapshot())?.items[0]?.available;

test('a reservation the replica acknowledged is on the replica when the client hears of it', async () => {
  const outcome = await ledger.reserve({
    ...request('k1'),
    replicaAck: { replicas: 1, timeoutMs: 300 },
  });
  assert.equal(outcome.kind, 'reserved');
  const replicaClient = new Redis(replica.port, '127.0.0.1');
  try {
    const onReplica = new SaleLedger(replicaClient, ledger.sale);
    assert.equal((await onReplica.snapshot())?.items[0]?.reserved, 1);
  } finally {
    replicaClient.disconnect();
  }
});

test('too few replicas in time: the reservation is undone and a retry starts afresh', async () => {
  const before = await available();
  await assert.rejects(
    ledger.reserve({ ...request('k2'), replicaAck: { replicas: 2, timeoutMs: 50 } }),
    (error: Error) => error instanceof ReplicaAckError && error.acknowledged === 1,
  );
  assert.equal(await available(), before);
  const retry = await ledger.reserve({
    ...request('k2'),
    replicaAck: { replicas: 1, timeoutMs: 300 },
  });
  assert.equal(retry.kind, 'reserved');
});

test('after SCRIPT FLUSH the script is loaded again and still waited for', async () => {
  await primary.cli('SCRIPT', 'FLUSH');
  const before = await available();
  const outcome = await ledger.reserve({
    ...request('k3'),
    replicaAck: { replicas: 1, timeoutMs: 300 },
  });
  assert.equal(outcome.kind, 'reserved');
  assert.equal(await available(), (before ?? 0) - 1);
});

test('an unacknowledged reserve is not part of the mark: losing it halts nothing', async () => {
  const sidecar = new SaleLedger(client, ledger.sale);
  const acked = { replicas: 1, timeoutMs: 300 };
  assert.equal((await sidecar.reserve({ ...request('k4'), replicaAck: acked })).kind, 'reserved');
  const asTheReplicaHadIt = await copyOfSale(client, ledger.sale, ['a']);
  await assert.rejects(
    sidecar.reserve({ ...request('k5'), replicaAck: { replicas: 2, timeoutMs: 50 } }),
    ReplicaAckError,
  );
  // A failover to a replica that missed the unacknowledged reserve and its undo.
  await asTheReplicaHadIt();
  assert.equal((await sidecar.reserve({ ...request('k6'), replicaAck: acked })).kind, 'reserved');
});
