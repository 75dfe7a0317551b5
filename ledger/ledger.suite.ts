// The ledger's integration suite, run against a single redis-server and against a real
// 3-master Redis Cluster (ledger.itest.ts, ledger-cluster.itest.ts).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import {
  invariantViolations,
  LedgerArgumentError,
  reapOnce,
  SaleLedger,
  saleKeys,
  subscribeSaleEvents,
  type LedgerClient,
  type PreloadPlan,
  type Reservation,
  type SaleEvent,
  type SaleRef,
  type SettleAction,
  type ShopAnswer,
} from './index.ts';

export interface SuiteTarget {
  /** A new connected client; the suite quits it. */
  connect(): LedgerClient;
  destroy(): Promise<void>;
}

const HOUR = 3_600_000;
const TTL = 30_000;

function openWindow(): PreloadPlan['window'] {
  const now = Date.now();
  return { startMs: now - HOUR, endMs: now + HOUR };
}

function plan(items: PreloadPlan['items'], overrides: Partial<PreloadPlan> = {}): PreloadPlan {
  return { generation: 1, window: openWindow(), retentionMs: HOUR, items, ...overrides };
}

let saleCounter = 0;
function newSale(): SaleRef {
  saleCounter += 1;
  return { namespace: 'shop', name: `sale-${saleCounter}-${randomUUID().slice(0, 8)}` };
}

async function snapshotOf(ledger: SaleLedger) {
  const snapshot = await ledger.snapshot();
  assert.ok(snapshot, 'ledger loaded');
  assert.deepEqual(invariantViolations(snapshot), []);
  return snapshot;
}

async function counts(ledger: SaleLedger, sku: string) {
  const item = (await snapshotOf(ledger)).items.find((i) => i.sku === sku);
  assert.ok(item, `sku ${sku} in snapshot`);
  const { total, available, reserved, sold, inDoubt } = item;
  return { total, available, reserved, sold, inDoubt };
}

async function reserved(
  ledger: SaleLedger,
  sku: string,
  user: string,
  quantity = 1,
  idempotencyKey?: string,
): Promise<Reservation> {
  const outcome = await ledger.reserve({ sku, user, quantity, ttlMs: TTL, idempotencyKey });
  assert.equal(outcome.kind, 'reserved', JSON.stringify(outcome));
  return outcome.reservation;
}

/** The sale's keys as they are now, to put back later: a Redis restored from a copy. */
export async function copyOfSale(client: LedgerClient, sale: SaleRef, skus: readonly string[]) {
  const k = saleKeys(sale);
  const keys = [k.meta, k.orders, k.pending, k.indoubt];
  for (const sku of skus) keys.push(k.stock(sku), k.users(sku));
  const saved = await Promise.all(
    keys.map(async (key) => ({
      key,
      dump: (await client.exists(key)) === 1 ? await client.dumpBuffer(key) : undefined,
      ttl: await client.pttl(key),
    })),
  );
  return async () => {
    for (const { key, dump, ttl } of saved) {
      if (dump === undefined) await client.del(key);
      else await client.restore(key, Math.max(ttl, 0), dump, 'REPLACE');
    }
  };
}

export function ledgerSuite(label: string, start: () => Promise<SuiteTarget>): void {
  describe(`ledger on ${label}`, () => {
    let target: SuiteTarget;
    let client: LedgerClient;
    const clients: LedgerClient[] = [];
    const connect = (): LedgerClient => {
      const c = target.connect();
      clients.push(c);
      return c;
    };

    before(async () => {
      target = await start();
      client = connect();
    });
    after(async () => {
      for (const c of clients) c.disconnect();
      await target.destroy();
    });

    describe('preload', () => {
      test('loads every SKU and is idempotent per generation', async () => {
        const ledger = new SaleLedger(client, newSale());
        const items = [
          { sku: 'phone-128', stock: 10, perUserLimit: 2 },
          { sku: 'phone-256', stock: 5, perUserLimit: 1 },
        ];
        const loaded = await ledger.preload(plan(items));
        assert.equal(loaded.kind, 'loaded');
        const again = await ledger.preload(plan(items));
        assert.deepEqual(again, { ...loaded, kind: 'unchanged' });
        const snapshot = await snapshotOf(ledger);
        assert.equal(snapshot.generation, 1);
        assert.deepEqual(
          snapshot.items.map(({ sku, total, available, perUserLimit }) => ({
            sku,
            total,
            available,
            perUserLimit,
          })),
          items.map(({ sku, stock, perUserLimit }) => ({
            sku,
            total: stock,
            available: stock,
            perUserLimit,
          })),
        );
      });

      test('refuses an older generation', async () => {
        const ledger = new SaleLedger(client, newSale());
        const items = [{ sku: 'a', stock: 3, perUserLimit: 1 }];
        await ledger.preload(plan(items, { generation: 3 }));
        assert.deepEqual(await ledger.preload(plan(items, { generation: 2 })), {
          kind: 'stale-generation',
          current: 3,
        });
      });

      test('raising stock mid-sale adds the difference and keeps sales made', async () => {
        const ledger = new SaleLedger(client, newSale());
        await ledger.preload(plan([{ sku: 'a', stock: 3, perUserLimit: 5 }]));
        await ledger.confirm(await reserved(ledger, 'a', 'u1', 2));
        await reserved(ledger, 'a', 'u2', 1);
        assert.deepEqual(await counts(ledger, 'a'), {
          total: 3,
          available: 0,
          reserved: 1,
          sold: 2,
          inDoubt: 0,
        });
        const raised = await ledger.preload(
          plan([{ sku: 'a', stock: 10, perUserLimit: 5 }], { generation: 2 }),
        );
        assert.equal(raised.kind, 'loaded');
        assert.deepEqual(await counts(ledger, 'a'), {
          total: 10,
          available: 7,
          reserved: 1,
          sold: 2,
          inDoubt: 0,
        });
      });

      test('lowering below reserved + sold is refused and changes nothing', async () => {
        const ledger = new SaleLedger(client, newSale());
        await ledger.preload(
          plan([
            { sku: 'a', stock: 5, perUserLimit: 5 },
            { sku: 'b', stock: 5, perUserLimit: 5 },
          ]),
        );
        await ledger.confirm(await reserved(ledger, 'a', 'u1', 2));
        await reserved(ledger, 'a', 'u2', 1);
        const before = await snapshotOf(ledger);
        const lowered = await ledger.preload(
          plan(
            [
              { sku: 'a', stock: 2, perUserLimit: 5 },
              { sku: 'b', stock: 1, perUserLimit: 5 },
            ],
            { generation: 2 },
          ),
        );
        assert.deepEqual(lowered, { kind: 'below-committed', sku: 'a', committed: 3 });
        const after = await snapshotOf(ledger);
        assert.deepEqual(after.items, before.items);
        assert.equal(after.generation, 1);
        // Down to exactly what is committed is allowed.
        const exact = await ledger.preload(
          plan(
            [
              { sku: 'a', stock: 3, perUserLimit: 5 },
              { sku: 'b', stock: 1, perUserLimit: 5 },
            ],
            {
              generation: 2,
            },
          ),
        );
        assert.equal(exact.kind, 'loaded');
        assert.deepEqual(await counts(ledger, 'a'), {
          total: 3,
          available: 0,
          reserved: 1,
          sold: 2,
          inDoubt: 0,
        });
      });

      test('removes a SKU only when nothing of it is reserved or sold', async () => {
        const ledger = new SaleLedger(client, newSale());
        await ledger.preload(
          plan([
            { sku: 'keep', stock: 5, perUserLimit: 1 },
            { sku: 'gone', stock: 5, perUserLimit: 1 },
            { sku: 'sold', stock: 5, perUserLimit: 1 },
          ]),
        );
        await reserved(ledger, 'sold', 'u1');
        const refused = await ledger.preload(
          plan([{ sku: 'keep', stock: 5, perUserLimit: 1 }], { generation: 2 }),
        );
        assert.deepEqual(refused, { kind: 'below-committed', sku: 'sold', committed: 1 });
        assert.deepEqual(await ledger.skus(), ['keep', 'gone', 'sold']);
        const removed = await ledger.preload(
          plan(
            [
              { sku: 'keep', stock: 5, perUserLimit: 1 },
              { sku: 'sold', stock: 5, perUserLimit: 1 },
            ],
            { generation: 2 },
          ),
        );
        assert.equal(removed.kind, 'loaded');
        assert.deepEqual(await ledger.skus(), ['keep', 'sold']);
        assert.equal(await client.exists(saleKeys(ledger.sale).stock('gone')), 0);
        const outcome = await ledger.reserve({ sku: 'gone', user: 'u', quantity: 1, ttlMs: TTL });
        assert.equal(outcome.kind, 'unknown-sku');
      });

      test('tells a lost, a foreign or a rolled-back ledger from a fresh one', async () => {
        const ledger = new SaleLedger(client, newSale());
        const items = [{ sku: 'a', stock: 5, perUserLimit: 5 }];
        const first = await ledger.preload(plan(items));
        assert.equal(first.kind, 'loaded');
        await reserved(ledger, 'a', 'u1');
        const seen = { ledgerId: first.ledgerId, seq: (await snapshotOf(ledger)).seq };

        // Same ledger, nothing lost: the next generation loads.
        const next = await ledger.preload(plan(items, { generation: 2, lastSeen: seen }));
        assert.equal(next.kind, 'loaded');
        // The caller saw more mutations than Redis holds now: rolled back.
        const ahead = { ledgerId: first.ledgerId, seq: seen.seq + 100 };
        assert.deepEqual(await ledger.preload(plan(items, { generation: 3, lastSeen: ahead })), {
          kind: 'ledger-rolled-back',
          seq: seen.seq + 1,
        });
        assert.deepEqual(
          await ledger.preload(
            plan(items, { generation: 3, lastSeen: { ledgerId: 'other', seq: 0 } }),
          ),
          { kind: 'ledger-mismatch', found: first.ledgerId },
        );
        // The ledger vanishes (a Redis that lost its data): refused, never reloaded blindly.
        await ledger.destroy();
        assert.equal(await ledger.snapshot(), undefined);
        assert.deepEqual(await ledger.preload(plan(items, { generation: 3, lastSeen: seen })), {
          kind: 'ledger-lost',
          expectedLedgerId: first.ledgerId,
        });
        assert.equal(await ledger.snapshot(), undefined);
      });
    });

    describe('reserve', () => {
      test('a ledger behind what the caller saw is halted before anything is reserved', async () => {
        const ledger = new SaleLedger(client, newSale());
        await ledger.preload(plan([{ sku: 'a', stock: 5, perUserLimit: 5 }]));
        const restoreOlderCopy = await copyOfSale(client, ledger.sale, ['a']);
        const { seq: before } = await snapshotOf(ledger);
        await reserved(ledger, 'a', 'u1');
        await reserved(ledger, 'a', 'u2');
        // Redis comes back from the copy: the two reservations, and their seq, are gone.
        await restoreOlderCopy();
        assert.equal((await counts(ledger, 'a')).available, 5);

        const outcome = await ledger.reserve({ sku: 'a', user: 'u3', quantity: 1, ttlMs: TTL });
        assert.equal(outcome.kind, 'halted');
        assert.match(
          outcome.reason,
          new RegExp(`went back in time \\(seq ${before}, a sidecar had seen ${before + 2}\\)`),
        );
        assert.deepEqual(await counts(ledger, 'a'), {
          total: 5,
          available: 5,
          reserved: 0,
          sold: 0,
          inDoubt: 0,
        });
        // Halted for every caller, one that never saw the newer state included (a restarted
        // sidecar), with the first reason kept.
        assert.equal((await ledger.snapshot())?.halted, outcome.reason);
        const restarted = new SaleLedger(client, ledger.sale);
        const again = await restarted.reserve({ sku: 'a', user: 'u4', quantity: 1, ttlMs: TTL });
        assert.deepEqual(again, outcome);
        assert.equal((await counts(ledger, 'a')).available, 5);
      });

      test('a caller moves on to a new ledger of the same sale without halting it', async () => {
        const ledger = new SaleLedger(client, newSale());
        const items = [{ sku: 'a', stock: 5, perUserLimit: 5 }];
        await ledger.preload(plan(items));
        for (const user of ['u1', 'u2', 'u3']) await reserved(ledger, 'a', user);
        // The sale is deleted and loaded again: another ledger, its seq starting over.
        await ledger.destroy();
        await ledger.preload(plan(items));
        assert.ok((await snapshotOf(ledger)).seq < 4);
        await reserved(ledger, 'a', 'u1');
        assert.equal((await counts(ledger, 'a')).reserved, 1);
      });

      test('reserves and answers every refusal with its reason', async () => {
        const ledger = new SaleLedger(client, newSale());
        await ledger.preload(plan([{ sku: 'a', stock: 3, perUserLimit: 2 }]));
        const ok = await ledger.reserve({ sku: 'a', user: 'u1', quantity: 2, ttlMs: TTL });
        assert.equal(ok.kind, 'reserved');
        assert.equal(ok.available, 1);
        assert.ok(ok.expiresAt > Date.now() + TTL - 5000 && ok.expiresAt < Date.now() + TTL + 5000);
        assert.deepEqual(await ledger.reserve({ sku: 'a', user: 'u1', quantity: 1, ttlMs: TTL }), {
          kind: 'user-limit',
          limit: 2,
          held: 2,
        });
        assert.deepEqual(await ledger.reserve({ sku: 'a', user: 'u2', quantity: 2, ttlMs: TTL }), {
          kind: 'sold-out',
          available: 1,
        });
        await reserved(ledger, 'a', 'u2');
        assert.deepEqual(await ledger.reserve({ sku: 'a', user: 'u3', quantity: 1, ttlMs: TTL }), {
          kind: 'sold-out',
          available: 0,
        });
        assert.deepEqual(await ledger.reserve({ sku: 'zz', user: 'u3', quantity: 1, ttlMs: TTL }), {
          kind: 'unknown-sku',
        });
        const other = new SaleLedger(client, newSale());
        assert.deepEqual(await other.reserve({ sku: 'a', user: 'u3', quantity: 1, ttlMs: TTL }), {
          kind: 'no-sale',
        });
        assert.deepEqual(await counts(ledger, 'a'), {
          total: 3,
          available: 0,
          reserved: 3,
          sold: 0,
          inDoubt: 0,
        });
      });

      test('checks the window against the Redis clock', async () => {
        const now = Date.now();
        const early = new SaleLedger(client, newSale());
        await early.preload(
          plan([{ sku: 'a', stock: 1, perUserLimit: 1 }], {
            window: { startMs: now + HOUR, endMs: now + 2 * HOUR },
          }),
        );
        assert.deepEqual(await early.reserve({ sku: 'a', user: 'u', quantity: 1, ttlMs: TTL }), {
          kind: 'not-started',
          startsAt: now + HOUR,
        });
        const late = new SaleLedger(client, newSale());
        await late.preload(
          plan([{ sku: 'a', stock: 1, perUserLimit: 1 }], {
            window: { startMs: now - 2 * HOUR, endMs: now - HOUR },
          }),
        );
        assert.deepEqual(await late.reserve({ sku: 'a', user: 'u', quantity: 1, ttlMs: TTL }), {
          kind: 'ended',
          endedAt: now - HOUR,
        });
        assert.deepEqual(await counts(early, 'a'), {
          total: 1,
          available: 1,
          reserved: 0,
          sold: 0,
          inDoubt: 0,
        });
      });

      test('an Idempotency-Key is scoped to its user and replays the first outcome', async () => {
        const ledger = new SaleLedger(client, newSale());
        await ledger.preload(
          plan([
            { sku: 'a', stock: 10, perUserLimit: 5 },
            { sku: 'b', stock: 10, perUserLimit: 5 },
          ]),
        );
        const request = { sku: 'a', user: 'u1', quantity: 2, ttlMs: TTL, idempotencyKey: 'k1' };
        const first = await ledger.reserve(request);
        assert.equal(first.kind, 'reserved');
        const inFlight = await ledger.reserve(request);
        assert.deepEqual(inFlight, {
          kind: 'in-progress',
          state: 'pending',
          expiresAt: first.expiresAt,
        });
        assert.deepEqual(await ledger.reserve({ ...request, quantity: 3 }), {
          kind: 'key-reused',
          sku: 'a',
          quantity: 2,
        });
        assert.deepEqual(await ledger.reserve({ ...request, sku: 'b' }), {
          kind: 'key-reused',
          sku: 'a',
          quantity: 2,
        });
        // Another user's identical key is another reservation.
        await reserved(ledger, 'a', 'u2', 2, 'k1');

        const answer = JSON.stringify({ status: 201, body: { order: 'o-1' } });
        assert.deepEqual(await ledger.confirm(first.reservation, answer), {
          kind: 'settled',
          from: 'pending',
          to: 'confirmed',
        });
        assert.deepEqual(await ledger.reserve(request), {
          kind: 'replay',
          reservation: first.reservation,
          state: 'confirmed',
          outcome: answer,
        });
        const second = await reserved(ledger, 'a', 'u1', 1, 'k2');
        await ledger.release(second);
        assert.deepEqual(await ledger.reserve({ ...request, quantity: 1, idempotencyKey: 'k2' }), {
          kind: 'replay',
          reservation: second,
          state: 'released',
          outcome: undefined,
        });
        assert.deepEqual(await counts(ledger, 'a'), {
          total: 10,
          available: 6,
          reserved: 2,
          sold: 2,
          inDoubt: 0,
        });
      });
    });

    test('property: calls made in one turn, batched into one script call each, answer and count as the same calls one by one', async () => {
      const request = fc.record({
        sku: fc.constantFrom('a', 'b', 'missing'),
        user: fc.constantFrom('u0', 'u1', 'u2'),
        quantity: fc.integer({ min: 1, max: 3 }),
        key: fc.option(fc.constantFrom('k0', 'k1', 'k2'), { nil: undefined }),
      });
      const settlement = fc.record({
        action: fc.constantFrom('confirm' as const, 'release' as const, 'in-doubt' as const),
        pick: fc.nat(),
      });
      // Ids and expiry times differ between two sales; everything else must be equal.
      const comparable = (outcome: object) =>
        JSON.stringify(outcome, (name, value: unknown) =>
          name === 'reservation' || name === 'expiresAt' ? undefined : value,
        );
      const settle = (ledger: SaleLedger, r: Reservation, action: SettleAction) =>
        action === 'confirm'
          ? ledger.confirm(r)
          : action === 'release'
            ? ledger.release(r)
            : ledger.markInDoubt(r);
      await fc.assert(
        fc.asyncProperty(
          fc.array(request, { minLength: 1, maxLength: 40 }),
          fc.array(settlement, { maxLength: 40 }),
          fc.integer({ min: 0, max: 8 }),
          async (requests, settlements, stock) => {
            const items = [
              { sku: 'a', stock, perUserLimit: 2 },
              { sku: 'b', stock: 4, perUserLimit: 3 },
            ];
            const batched = new SaleLedger(client, newSale());
            const single = new SaleLedger(client, newSale());
            await batched.preload(plan(items));
            await single.preload(plan(items));
            const calls = requests.map(({ sku, user, quantity, key }) => ({
              sku,
              user,
              quantity,
              ttlMs: TTL,
              idempotencyKey: key,
            }));
            // All in one turn (no await between them): one reserve call.
            const together = await Promise.all(calls.map((c) => batched.reserve(c)));
            const oneByOne = [];
            for (const c of calls) oneByOne.push(await single.reserve(c));
            assert.deepEqual(together.map(comparable), oneByOne.map(comparable));

            const reservations = (outcomes: typeof together) =>
              outcomes.flatMap((o) => (o.kind === 'reserved' ? [o.reservation] : []));
            const [mineTogether, mineOneByOne] = [reservations(together), reservations(oneByOne)];
            if (mineTogether.length > 0) {
              const pick = (list: Reservation[], n: number) => list[n % list.length] as Reservation;
              const settledTogether = await Promise.all(
                settlements.map((s) => settle(batched, pick(mineTogether, s.pick), s.action)),
              );
              const settledOneByOne = [];
              for (const s of settlements) {
                settledOneByOne.push(await settle(single, pick(mineOneByOne, s.pick), s.action));
              }
              assert.deepEqual(settledTogether, settledOneByOne);
            }
            const [a, b] = [await snapshotOf(batched), await snapshotOf(single)];
            assert.deepEqual(a.items, b.items);
          },
        ),
        { numRuns: 40 },
      );
    });

    describe('settle', () => {
      test('confirm and release finish a reservation exactly once', async () => {
        const ledger = new SaleLedger(client, newSale());
        await ledger.preload(plan([{ sku: 'a', stock: 2, perUserLimit: 2 }]));
        const r1 = await reserved(ledger, 'a', 'u1');
        const r2 = await reserved(ledger, 'a', 'u1');
        assert.deepEqual(await ledger.confirm(r1), {
          kind: 'settled',
          from: 'pending',
          to: 'confirmed',
        });
        assert.deepEqual(await ledger.confirm(r1), { kind: 'unchanged', state: 'confirmed' });
        assert.deepEqual(await ledger.release(r1), { kind: 'conflict', state: 'confirmed' });
        assert.deepEqual(await ledger.release(r2), {
          kind: 'settled',
          from: 'pending',
          to: 'released',
        });
        assert.deepEqual(await ledger.release(r2), { kind: 'unchanged', state: 'released' });
        assert.deepEqual(await ledger.confirm(r2), { kind: 'conflict', state: 'released' });
        assert.deepEqual(await ledger.markInDoubt(r2), { kind: 'conflict', state: 'released' });
        assert.deepEqual(await counts(ledger, 'a'), {
          total: 2,
          available: 1,
          reserved: 0,
          sold: 1,
          inDoubt: 0,
        });
        // The release gave u1 one unit of room back under the per-user limit.
        await reserved(ledger, 'a', 'u1');
        assert.deepEqual(await ledger.confirm({ id: 'nope', sku: 'a' }), { kind: 'unknown' });
        assert.deepEqual(await ledger.confirm({ id: r1.id, sku: 'b' }), {
          kind: 'wrong-sku',
          sku: 'a',
        });
      });

      test('a batch of settlements keeps the records for the sale plus its retention', async () => {
        const ledger = new SaleLedger(client, newSale());
        await ledger.preload(plan([{ sku: 'a', stock: 2, perUserLimit: 2 }]));
        const keys = saleKeys(ledger.sale);
        const r1 = await reserved(ledger, 'a', 'u1');
        const r2 = await reserved(ledger, 'a', 'u2');
        await client.persist(keys.orders); // as if no reserve had set the expiry
        await Promise.all([ledger.confirm(r1, 'ok'), ledger.release(r2)]); // one script call
        const expireAt = Number(await client.hget(keys.meta, 'expireAt'));
        assert.ok(expireAt > Date.now());
        assert.equal(Number(await client.call('PEXPIRETIME', keys.orders)), expireAt);
      });

      test('in-doubt units stay held until the shop says', async () => {
        const ledger = new SaleLedger(client, newSale());
        await ledger.preload(plan([{ sku: 'a', stock: 3, perUserLimit: 3 }]));
        const committed = await reserved(ledger, 'a', 'u1');
        const notCommitted = await reserved(ledger, 'a', 'u1');
        for (const r of [committed, notCommitted]) {
          assert.deepEqual(await ledger.markInDoubt(r), {
            kind: 'settled',
            from: 'pending',
            to: 'in-doubt',
          });
          assert.deepEqual(await ledger.markInDoubt(r), { kind: 'unchanged', state: 'in-doubt' });
        }
        assert.deepEqual(await counts(ledger, 'a'), {
          total: 3,
          available: 1,
          reserved: 2,
          sold: 0,
          inDoubt: 2,
        });
        assert.deepEqual(
          (await ledger.inDoubt()).map((r) => r.id).sort(),
          [committed.id, notCommitted.id].sort(),
        );
        assert.deepEqual(await ledger.confirm(committed), {
          kind: 'settled',
          from: 'in-doubt',
          to: 'confirmed',
        });
        assert.deepEqual(await ledger.release(notCommitted), {
          kind: 'settled',
          from: 'in-doubt',
          to: 'released',
        });
        assert.deepEqual(await ledger.inDoubt(), []);
        assert.deepEqual(await counts(ledger, 'a'), {
          total: 3,
          available: 2,
          reserved: 0,
          sold: 1,
          inDoubt: 0,
        });
      });

      test('the reaper takes expired pending reservations as in-doubt, in batches', async () => {
        const ledger = new SaleLedger(client, newSale());
        await ledger.preload(
          plan([
            { sku: 'a', stock: 10, perUserLimit: 10 },
            { sku: 'b', stock: 10, perUserLimit: 10 },
          ]),
        );
        const expiring: Reservation[] = [];
        for (const sku of ['a', 'a', 'b']) {
          const outcome = await ledger.reserve({ sku, user: 'u', quantity: 1, ttlMs: 1000 });
          assert.equal(outcome.kind, 'reserved');
          expiring.push(outcome.reservation);
        }
        const live = await reserved(ledger, 'a', 'u');
        const settled = await ledger.reserve({ sku: 'b', user: 'u', quantity: 1, ttlMs: 1000 });
        if (settled.kind === 'reserved') await ledger.confirm(settled.reservation);
        assert.deepEqual(await ledger.reap(), [], 'nothing has expired yet');
        await sleep(1100);
        const firstBatch = await ledger.reap(2);
        const secondBatch = await ledger.reap(2);
        assert.equal(firstBatch.length, 2);
        assert.deepEqual(
          [...firstBatch, ...secondBatch].map((r) => r.id).sort(),
          expiring.map((r) => r.id).sort(),
        );
        assert.deepEqual(await ledger.reap(), []);
        const after = await snapshotOf(ledger);
        assert.deepEqual(
          after.items.map(({ sku, reserved, inDoubt, sold }) => ({ sku, reserved, inDoubt, sold })),
          [
            { sku: 'a', reserved: 3, inDoubt: 2, sold: 0 },
            { sku: 'b', reserved: 1, inDoubt: 1, sold: 1 },
          ],
        );
        assert.equal((await ledger.record(live.id))?.state, 'pending');
        // A late answer from the shop still settles a reaped reservation.
        const [late] = expiring;
        assert.ok(late);
        assert.deepEqual(await ledger.confirm(late), {
          kind: 'settled',
          from: 'in-doubt',
          to: 'confirmed',
        });
      });
    });

    test('a halted ledger reserves nothing, says why, and still settles what is in flight', async () => {
      const ledger = new SaleLedger(client, newSale());
      assert.equal(await ledger.halt('went back in time'), false, 'no ledger: nothing to halt');
      assert.equal(await ledger.snapshot(), undefined, 'and nothing created');
      await ledger.preload(plan([{ sku: 'a', stock: 5, perUserLimit: 5 }]));
      const inFlight = await reserved(ledger, 'a', 'u1');
      const before = await counts(ledger, 'a');
      assert.equal(await ledger.halt('went back in time'), true);
      const refused = await Promise.all(
        ['u2', 'u3'].map((user) => ledger.reserve({ sku: 'a', user, quantity: 1, ttlMs: TTL })),
      );
      assert.deepEqual(refused, [
        { kind: 'halted', reason: 'went back in time' },
        { kind: 'halted', reason: 'went back in time' },
      ]);
      assert.deepEqual(await counts(ledger, 'a'), before, 'nothing reserved');
      assert.equal((await ledger.confirm(inFlight)).kind, 'settled');
      assert.deepEqual(await counts(ledger, 'a'), { ...before, reserved: 0, sold: 1 });
    });

    test('a reaper round settles in-doubt reservations by what the shop says', async () => {
      const ledger = new SaleLedger(client, newSale());
      await ledger.preload(plan([{ sku: 'a', stock: 9, perUserLimit: 9 }]));
      const answers = new Map<string, ShopAnswer>();
      for (const answer of ['committed', 'committed', 'not-committed', 'unknown'] as const) {
        const r = await reserved(ledger, 'a', 'u');
        await ledger.markInDoubt(r);
        answers.set(r.id, answer);
      }
      const endpoint = { url: 'http://unused/{reservation}', timeoutMilliseconds: 100 };
      const report = await reapOnce(ledger, endpoint, 100, (id) =>
        Promise.resolve(answers.get(id) ?? 'unknown'),
      );
      assert.deepEqual(report, { expired: 0, confirmed: 2, released: 1, unresolved: 1 });
      assert.deepEqual(await counts(ledger, 'a'), {
        total: 9,
        available: 6,
        reserved: 1,
        sold: 2,
        inDoubt: 1,
      });
      // Without an order-status endpoint nothing is settled: held, never released blindly.
      assert.deepEqual(await reapOnce(ledger, null), {
        expired: 0,
        confirmed: 0,
        released: 0,
        unresolved: 1,
      });
    });

    test('publishes sold-out and restock on the sale channel', async () => {
      const ledger = new SaleLedger(client, newSale());
      const subscriber = connect();
      const events: SaleEvent[] = [];
      const unsubscribe = await subscribeSaleEvents(subscriber, [ledger.sale], (_, e) => {
        events.push(e);
      });
      await ledger.preload(plan([{ sku: 'a', stock: 1, perUserLimit: 1 }]));
      const r = await reserved(ledger, 'a', 'u1');
      await ledger.release(r);
      await ledger.writeConfig({ admissionRate: 10 });
      await ledger.publish({ type: 'ended' });
      const expected: SaleEvent[] = [
        { type: 'sold-out', sku: 'a' },
        { type: 'restock', sku: 'a' },
        { type: 'config' },
        { type: 'ended' },
      ];
      for (let i = 0; i < 100 && events.length < expected.length; i++) await sleep(20);
      assert.deepEqual(events, expected);
      assert.deepEqual(await ledger.readConfig(), { admissionRate: 10 });
      await unsubscribe();
    });

    test('counts live sidecars from heartbeats', async () => {
      const ledger = new SaleLedger(client, newSale());
      assert.equal(await ledger.heartbeat('pod-a', 1000), 1);
      assert.equal(await ledger.heartbeat('pod-b', 60_000), 2);
      assert.equal(await ledger.heartbeat('pod-a', 1000), 2);
      await sleep(1100);
      assert.equal(await ledger.heartbeat('pod-b', 60_000), 1);
    });

    test('rejects bad arguments before touching Redis', async () => {
      const ledger = new SaleLedger(client, newSale());
      await ledger.preload(plan([{ sku: 'a', stock: 5, perUserLimit: 5 }]));
      const before = await snapshotOf(ledger);
      const bad = [
        { sku: 'a', user: 'u', quantity: 0, ttlMs: TTL },
        { sku: 'a', user: 'u', quantity: 1.5, ttlMs: TTL },
        { sku: 'a', user: '', quantity: 1, ttlMs: TTL },
        { sku: 'a b', user: 'u', quantity: 1, ttlMs: TTL },
        { sku: 'a', user: 'u', quantity: 1, ttlMs: 10 },
      ];
      for (const request of bad) {
        await assert.rejects(ledger.reserve(request), LedgerArgumentError);
      }
      assert.deepEqual(await snapshotOf(ledger), before);
    });

    test('property: concurrent clients keep every invariant and count each effect once', async () => {
      const users = ['u0', 'u1', 'u2', 'u3', 'u4'];
      const skus = ['a', 'b'];
      const op = fc.oneof(
        fc.record({
          type: fc.constant('reserve' as const),
          sku: fc.constantFrom(...skus),
          user: fc.constantFrom(...users),
          quantity: fc.integer({ min: 1, max: 3 }),
          key: fc.option(fc.constantFrom('k0', 'k1', 'k2', 'k3'), { nil: undefined }),
          ttlMs: fc.constantFrom(1000, TTL),
        }),
        fc.record({
          type: fc.constantFrom('confirm' as const, 'release' as const, 'in-doubt' as const),
          pick: fc.nat(),
        }),
        fc.record({ type: fc.constant('reap' as const) }),
        fc.record({ type: fc.constant('repeat' as const), pick: fc.nat() }),
      );
      const workers = Array.from({ length: 6 }, () => connect());
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(op, { maxLength: 25 }), {
            minLength: workers.length,
            maxLength: workers.length,
          }),
          fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 2, maxLength: 2 }),
          fc.integer({ min: 1, max: 3 }),
          async (programs, stocks, perUserLimit) => {
            const sale = newSale();
            const items = skus.map((sku, i) => ({ sku, stock: stocks[i] ?? 0, perUserLimit }));
            await new SaleLedger(client, sale).preload(plan(items));
            await Promise.all(
              programs.map(async (program, w) => {
                const ledger = new SaleLedger(workers[w] ?? client, sale);
                const mine: Reservation[] = [];
                const requests: Parameters<SaleLedger['reserve']>[0][] = [];
                for (const step of program) {
                  if (step.type === 'reserve' || step.type === 'repeat') {
                    const request =
                      step.type === 'reserve'
                        ? {
                            sku: step.sku,
                            user: step.user,
                            quantity: step.quantity,
                            ttlMs: step.ttlMs,
                            idempotencyKey: step.key,
                          }
                        : requests[step.pick % Math.max(requests.length, 1)];
                    if (request === undefined) continue;
                    requests.push(request);
                    const outcome = await ledger.reserve(request);
                    if (outcome.kind === 'reserved') mine.push(outcome.reservation);
                  } else if (step.type === 'reap') {
                    await ledger.reap(10);
                  } else {
                    const r = mine[step.pick % Math.max(mine.length, 1)];
                    if (r === undefined) continue;
                    if (step.type === 'confirm') await ledger.confirm(r);
                    else if (step.type === 'release') await ledger.release(r);
                    else await ledger.markInDoubt(r);
                  }
                }
              }),
            );
            const ledger = new SaleLedger(client, sale);
            const snapshot = await ledger.snapshot();
            assert.ok(snapshot);
            assert.deepEqual(invariantViolations(snapshot), []);
            // Rebuild every count from the reservation records: each effect counted once.
            const keys = saleKeys(sale);
            const records = Object.entries(await client.hgetall(keys.orders))
              .filter(([id]) => !id.includes('#'))
              .map(([id, rec]) => ({ id, ...parseLine(rec) }));
            for (const item of snapshot.items) {
              const of = records.filter((r) => r.sku === item.sku);
              const sum = (states: string[]) =>
                of.filter((r) => states.includes(r.state)).reduce((n, r) => n + r.quantity, 0);
              const spec = items.find((i) => i.sku === item.sku);
              assert.equal(item.total, spec?.stock);
              assert.ok(item.sold <= item.total, 'never oversold');
              assert.equal(item.sold, sum(['confirmed']));
              assert.equal(item.reserved, sum(['pending', 'in-doubt']));
              assert.equal(item.inDoubt, sum(['in-doubt']));
              const held = await client.hgetall(keys.users(item.sku));
              for (const user of users) {
                const expected = of
                  .filter((r) => r.user === user && r.state !== 'released')
                  .reduce((n, r) => n + r.quantity, 0);
                assert.equal(Number(held[user] ?? 0), expected, `${item.sku}/${user} held`);
                assert.ok(expected <= perUserLimit, 'per-user limit kept');
              }
            }
            const indoubt = await client.hkeys(keys.indoubt);
            assert.deepEqual(
              indoubt.sort(),
              records
                .filter((r) => r.state === 'in-doubt')
                .map((r) => r.id)
                .sort(),
            );
          },
        ),
        { numRuns: 25 },
      );
    });
  });
}

function parseLine(rec: string): { state: string; sku: string; quantity: number; user: string } {
  const [state = '', sku = '', quantity = '0', , ...user] = rec.split('|');
  return { state, sku, quantity: Number(quantity), user: user.join('|') };
}
