import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  advanceMark,
  invariantViolations,
  LedgerArgumentError,
  MAX_QUANTITY,
  parseRecord,
  parseSaleEvent,
  reservationIdFor,
  SaleLedger,
  saleKeys,
  type PreloadPlan,
} from './index.ts';

describe('Ledger API arguments', () => {
  // A client that never connects: any command it were asked to send would fail with a
  // connection error, so a LedgerArgumentError proves Redis was never touched.
  const offline = new Redis({ lazyConnect: true, enableOfflineQueue: false, port: 1 });
  const ledger = new SaleLedger(offline, { namespace: 'shop', name: 'sale' });
  const reserve = { sku: 'a', user: 'u', quantity: 1, ttlMs: 30_000 };
  const plan: PreloadPlan = {
    generation: 1,
    window: { startMs: 1000, endMs: 2000 },
    retentionMs: 0,
    items: [{ sku: 'a', stock: 1, perUserLimit: 1 }],
  };

  const cases: [string, () => Promise<unknown>, string][] = [
    ['zero quantity', () => ledger.reserve({ ...reserve, quantity: 0 }), 'quantity'],
    ['negative quantity', () => ledger.reserve({ ...reserve, quantity: -1 }), 'quantity'],
    ['fractional quantity', () => ledger.reserve({ ...reserve, quantity: 1.5 }), 'quantity'],
    ['huge quantity', () => ledger.reserve({ ...reserve, quantity: MAX_QUANTITY + 1 }), 'quantity'],
    ['NaN quantity', () => ledger.reserve({ ...reserve, quantity: Number.NaN }), 'quantity'],
    ['empty user', () => ledger.reserve({ ...reserve, user: '' }), 'user'],
    ['huge user', () => ledger.reserve({ ...reserve, user: 'u'.repeat(257) }), 'user'],
    ['user with a newline', () => ledger.reserve({ ...reserve, user: 'a\nb' }), 'user'],
    ['empty sku', () => ledger.reserve({ ...reserve, sku: '' }), 'sku'],
    ['sku with a brace', () => ledger.reserve({ ...reserve, sku: 'a}b' }), 'sku'],
    ['long sku', () => ledger.reserve({ ...reserve, sku: 'a'.repeat(65) }), 'sku'],
    ['empty key', () => ledger.reserve({ ...reserve, idempotencyKey: '' }), 'idempotencyKey'],
    ['ttl too short', () => ledger.reserve({ ...reserve, ttlMs: 999 }), 'ttlMs'],
    ['ttl too long', () => ledger.reserve({ ...reserve, ttlMs: 3_600_001 }), 'ttlMs'],
    ['bad reservation id', () => ledger.confirm({ id: 'a|b', sku: 'a' }), 'reservation.id'],
    ['huge outcome', () => ledger.release({ id: 'r', sku: 'a' }, 'x'.repeat(8193)), 'outcome'],
    [
      'window backwards',
      () => ledger.preload({ ...plan, window: { startMs: 2, endMs: 1 } }),
      'window.endMs',
    ],
    ['no items', () => ledger.preload({ ...plan, items: [] }), 'items'],
    [
      'duplicate sku',
      () =>
        ledger.preload({ ...plan, items: [plan.items[0], plan.items[0]] as PreloadPlan['items'] }),
      'items[1].sku',
    ],
    [
      'negative stock',
      () => ledger.preload({ ...plan, items: [{ sku: 'a', stock: -1, perUserLimit: 1 }] }),
      'items[0].stock',
    ],
    [
      'zero per-user limit',
      () => ledger.preload({ ...plan, items: [{ sku: 'a', stock: 1, perUserLimit: 0 }] }),
      'items[0].perUserLimit',
    ],
    ['negative batch', () => ledger.reap(-1), 'batch'],
  ];
  for (const [name, call, argument] of cases) {
    test(`${name} is rejected naming ${argument}`, async () => {
      await assert.rejects(call(), (error: unknown) => {
        assert.ok(error instanceof LedgerArgumentError, String(error));
        assert.equal(error.argument, argument);
        return true;
      });
    });
  }
});

describe('the ledger mark a reserve caller keeps', () => {
  const mark = { ledgerId: 'L1', seq: 10 };
  test('starts at the first ledger seen and only moves forward on it', () => {
    assert.deepEqual(advanceMark(undefined, mark), mark);
    assert.deepEqual(advanceMark(mark, { ledgerId: 'L1', seq: 12 }), { ledgerId: 'L1', seq: 12 });
    // A lower seq is a ledger gone back in time, halted by the script: the mark stays ahead.
    assert.equal(advanceMark(mark, { ledgerId: 'L1', seq: 3 }), mark);
  });
  test('starts over on another ledger; a reply without one (no sale) changes nothing', () => {
    assert.deepEqual(advanceMark(mark, { ledgerId: 'L2', seq: 1 }), { ledgerId: 'L2', seq: 1 });
    assert.equal(advanceMark(mark, { ledgerId: '', seq: 0 }), mark);
    assert.equal(advanceMark(undefined, { ledgerId: '', seq: 0 }), undefined);
  });
});

describe('reservation ids', () => {
  const sale = { namespace: 'shop', name: 'sale' };
  test('an Idempotency-Key gives the same id for the same sale and user only', () => {
    assert.equal(reservationIdFor(sale, 'u1', 'k'), reservationIdFor(sale, 'u1', 'k'));
    assert.notEqual(reservationIdFor(sale, 'u1', 'k'), reservationIdFor(sale, 'u2', 'k'));
    // Two sales forwarding the same user and key to one shop must not share an order id.
    const other = { namespace: 'shop', name: 'other' };
    assert.notEqual(reservationIdFor(sale, 'u1', 'k'), reservationIdFor(other, 'u1', 'k'));
    // The separator keeps (user, key) pairs apart that concatenate to the same string.
    assert.notEqual(reservationIdFor(sale, 'u1', 'k'), reservationIdFor(sale, 'u', '1k'));
    assert.match(reservationIdFor(sale, 'u1', 'k'), /^[A-Za-z0-9_-]{22}$/);
  });
  test('without a key every id is new', () => {
    assert.notEqual(
      reservationIdFor(sale, 'u1', undefined),
      reservationIdFor(sale, 'u1', undefined),
    );
  });
});

describe('key schema', () => {
  test('every key of a sale shares one hash tag', () => {
    const k = saleKeys({ namespace: 'shop', name: 'launch' });
    const all = [
      k.meta,
      k.config,
      k.orders,
      k.pending,
      k.indoubt,
      k.sidecars,
      k.stock('a'),
      k.users('a'),
    ];
    for (const key of all) assert.ok(key.startsWith('fg:{shop/launch}:'), key);
    assert.equal(new Set(all).size, all.length);
  });
});

describe('records and events', () => {
  test('a user id may contain the record separator', () => {
    assert.deepEqual(parseRecord('r1', 'pending|a|2|1700000000000|mail|x@y'), {
      id: 'r1',
      state: 'pending',
      sku: 'a',
      quantity: 2,
      expiresAt: 1700000000000,
      user: 'mail|x@y',
    });
  });
  test('only well-formed sale events are accepted', () => {
    assert.deepEqual(parseSaleEvent('{"type":"sold-out","sku":"a"}'), {
      type: 'sold-out',
      sku: 'a',
    });
    assert.deepEqual(parseSaleEvent('{"type":"ended"}'), { type: 'ended' });
    for (const bad of ['', 'nope', '{"type":"sold-out"}', '{"type":"other"}', 'null', '[]']) {
      assert.equal(parseSaleEvent(bad), undefined, bad);
    }
  });
});

describe('invariants', () => {
  const item = {
    sku: 'a',
    total: 10,
    available: 5,
    reserved: 3,
    sold: 2,
    inDoubt: 1,
    perUserLimit: 1,
  };
  const snapshot = (over: Partial<typeof item>) => ({
    ledgerId: 'l',
    generation: 1,
    seq: 1,
    window: { startMs: 0, endMs: 1 },
    items: [{ ...item, ...over }],
  });
  test('hold for consistent counts', () => {
    assert.deepEqual(invariantViolations(snapshot({})), []);
  });
  test('catch a lost unit, a negative count and in-doubt beyond reserved', () => {
    assert.equal(invariantViolations(snapshot({ available: 4 })).length, 1);
    assert.ok(
      invariantViolations(snapshot({ available: -1, total: 4 })).some((v) =>
        v.includes('negative'),
      ),
    );
    assert.ok(invariantViolations(snapshot({ inDoubt: 4 })).some((v) => v.includes('in-doubt')));
  });
});
