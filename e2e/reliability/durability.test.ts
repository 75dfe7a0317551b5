// Durability on one redis-server with an append-only file (appendfsync everysec): SIGKILL of
// redis-server mid-storm and a restart from its AOF lose nothing the shop committed and oversell
// nothing; a sidecar that sold from a ledger halts it when Redis comes back from an older copy;
// and the ledger marker refuses to preload over a ledger that vanished or went back in time (what
// an OS crash losing the last second of the AOF would leave).
import assert from 'node:assert/strict';
import { cpSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { invariantViolations, SaleLedger, type LedgerSnapshot } from '../../ledger/index.ts';
import { waitFor } from '../support/process.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import {
  flashSale,
  startShop,
  startSidecar,
  type RunningShop,
  type RunningSidecar,
} from '../support/sidecar.ts';
import { checkoutOnce, type CheckoutAnswer } from './client.ts';
import { stormWithCrash } from './storm-kill.ts';

const STOCK = 300;
const SKU = 'phone';
let redis: RedisServer;
let shop: RunningShop;
let sidecar: RunningSidecar;
let client: Redis;
let ledger: SaleLedger;

before(async () => {
  redis = await startRedis({ aof: true });
  shop = await startShop();
  sidecar = await startSidecar({
    sale: flashSale('durable', { items: [{ sku: SKU, stock: STOCK, perUserLimit: 2 }] }),
    upstream: shop.url,
    redisUrl: redis.url,
  });
  // Retries across the restarts below; the sidecar's own client fails fast instead.
  client = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 50 });
  ledger = new SaleLedger(client, { namespace: 'shop', name: 'durable' });
});
after(async () => {
  client.disconnect();
  await sidecar.stop();
  await shop.stop();
  await redis.destroy();
});

async function snapshot(): Promise<LedgerSnapshot> {
  const taken = await ledger.snapshot();
  assert.ok(taken, 'a ledger is loaded');
  return taken;
}

/**
 * Preloads what is loaded (or, with `restock`, the next generation with that many more units),
 * remembering `seen` as the operator does.
 */
async function preloadAgain(loaded: LedgerSnapshot, seen: LedgerSnapshot, restock = 0) {
  return ledger.preload({
    generation: loaded.generation + (restock > 0 ? 1 : 0),
    window: loaded.window,
    retentionMs: 60_000,
    items: loaded.items.map((i) => ({
      sku: i.sku,
      stock: i.total + restock,
      perUserLimit: i.perUserLimit,
    })),
    lastSeen: { ledgerId: seen.ledgerId, seq: seen.seq },
  });
}

async function restart(change: () => void = () => undefined): Promise<void> {
  await redis.stop('SIGKILL');
  change();
  await redis.start();
}

test('SIGKILL of redis-server mid-storm, restart from the AOF: nothing lost, nothing oversold', async (t) => {
  let lastSeen: LedgerSnapshot | undefined;
  const result = await stormWithCrash({
    target: sidecar.url,
    opsUrl: sidecar.opsUrl,
    shop,
    sku: SKU,
    stock: STOCK,
    requests: 300,
    crash: async () => {
      lastSeen = await snapshot();
      await restart();
    },
  });
  t.diagnostic(JSON.stringify(result));
  assert.ok(lastSeen);
  assert.equal(result.oversold, 0);
  assert.equal(result.unanswered, 0);
  const after = await snapshot();
  assert.deepEqual(invariantViolations(after), []);
  const item = after.items[0] ?? assert.fail('no item');
  // Every unit the shop committed is sold or still held (a confirm lost in the crash).
  assert.ok(item.sold + item.reserved >= result.committed, JSON.stringify(item));
  // The marker: the restarted ledger is the one seen before the crash, not older.
  assert.equal((await preloadAgain(after, lastSeen)).kind, 'unchanged');
});

/** Checks out until the sidecar reaches Redis again, then gives its answer. */
function checkoutOnceReachable(
  origin: string,
  order: Parameters<typeof checkoutOnce>[1],
): Promise<CheckoutAnswer> {
  return waitFor(`an answer for ${order.user} from a sidecar that reaches Redis`, async () => {
    const answer = await checkoutOnce(origin, order);
    const detail = typeof answer.body.detail === 'string' ? answer.body.detail : '';
    return answer.status === 503 && /cannot be reached|not loaded/.test(detail)
      ? undefined
      : answer;
  });
}

test('a sidecar that sold from a ledger halts it once Redis comes back from an older copy', async () => {
  const aof = join(redis.dir, 'appendonlydir');
  const older = `${aof}.before-sales`;
  const name = 'rewound';
  const rewound = await startSidecar({
    sale: flashSale(name, { items: [{ sku: SKU, stock: 10, perUserLimit: 2 }] }),
    upstream: shop.url,
    redisUrl: redis.url,
  });
  try {
    const sales = new SaleLedger(client, { namespace: 'shop', name });
    await restart(() => {
      cpSync(aof, older, { recursive: true });
    });
    for (const user of ['ann', 'bob']) {
      const sold = await checkoutOnceReachable(rewound.url, { user, key: user });
      assert.equal(sold.status, 201, JSON.stringify(sold.body));
    }
    // An OS crash that lost the two sales: Redis restarts from the copy made before them.
    await restart(() => {
      rmSync(aof, { recursive: true });
      cpSync(older, aof, { recursive: true });
    });
    const callsBefore = (await shop.stats()).checkoutCalls;
    const refused = await checkoutOnceReachable(rewound.url, { user: 'cat', key: 'cat' });
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.match(String(refused.body.type), /ledger-unavailable$/);
    assert.match(String(refused.body.detail), /went back in time/);
    assert.equal((await shop.stats()).checkoutCalls, callsBefore, 'the shop was not asked');
    const halted = await sales.snapshot();
    assert.ok(halted, 'the older ledger is in Redis');
    assert.match(halted.halted ?? '', /went back in time \(seq \d+, a sidecar had seen \d+\)/);
    // Nothing was reserved from it: the two lost sales stay unsold there, and nobody sells them.
    assert.equal(halted.items[0]?.available, 10);
    assert.equal((await checkoutOnce(rewound.url, { user: 'dan' })).status, 503);
    assert.equal((await sales.snapshot())?.items[0]?.available, 10);
    // Logged once for the sale by its poll, not once per refused checkout or per poll.
    const logged = () =>
      readFileSync(rewound.logFile, 'utf8')
        .split('\n')
        .filter((line) => line.includes('the sale ledger is halted'));
    const lines = await waitFor('the halt in the log', () =>
      logged().length > 0 ? logged() : undefined,
    );
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0] ?? '', new RegExp(`"sale":"shop/${name}".*went back in time`));
    // The gauge the FlashguardLedgerHalted alert reads.
    const metrics = await (await fetch(`${rewound.opsUrl}/metrics`)).text();
    assert.match(metrics, new RegExp(`^flashguard_ledger_halted\\{sale="shop/${name}"\\} 1$`, 'm'));
  } finally {
    await rewound.stop();
    rmSync(older, { recursive: true, force: true });
  }
});

test('a ledger that went back in time or vanished is refused, not reloaded', async () => {
  await sidecar.stop(); // nothing writes while the AOF is swapped
  const aof = join(redis.dir, 'appendonlydir');
  const older = `${aof}.older`;
  await restart(() => {
    cpSync(aof, older, { recursive: true });
  });
  const beforeRestock = await snapshot();
  assert.equal((await preloadAgain(beforeRestock, beforeRestock, 10)).kind, 'loaded');
  const seen = await snapshot();
  // An OS crash that lost the last second of the AOF: restart from the older copy.
  await restart(() => {
    rmSync(aof, { recursive: true });
    cpSync(older, aof, { recursive: true });
  });
  const rolledBack = await snapshot();
  assert.ok(rolledBack.seq < seen.seq);
  assert.deepEqual(await preloadAgain(rolledBack, seen), {
    kind: 'ledger-rolled-back',
    seq: rolledBack.seq,
  });
  // Redis lost everything (no AOF at all): the ledger is gone, and preload says so.
  await restart(() => {
    rmSync(aof, { recursive: true });
  });
  assert.equal(await ledger.snapshot(), undefined);
  assert.deepEqual(await preloadAgain(rolledBack, seen), {
    kind: 'ledger-lost',
    expectedLedgerId: seen.ledgerId,
  });
});
