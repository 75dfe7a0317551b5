import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withDefaults, type FlashSaleStatus } from '../api/v1alpha1/index.ts';
import type { LedgerSnapshot } from '../ledger/index.ts';
import {
  awaitChange,
  degraded,
  reconcile,
  requeueAfter,
  RESYNC_MS,
  STATUS_SYNC_MS,
  tunedAdmissionRate,
  type ReconcileInput,
} from './reconcile.ts';

const START = Date.parse('2026-12-12T10:00:00Z');
const END = Date.parse('2026-12-12T12:00:00Z');
const BEFORE = START - 60_000;
const DURING = START + 60_000;

const sale = {
  apiVersion: 'flashguard.dev/v1alpha1',
  kind: 'FlashSale',
  metadata: { name: 'drop', namespace: 'shop', generation: 2 },
  spec: {
    window: { start: new Date(START).toISOString(), end: new Date(END).toISOString() },
    items: [
      { sku: 'A', stock: 10 },
      { sku: 'B', stock: 5, perUserLimit: 2 },
    ],
    limits: { admissionRate: 1000, burst: 50 },
  },
};
const settings = withDefaults(sale.spec);

function snapshot(
  counts: Record<string, [number, number, number]>,
  generation = 2,
): LedgerSnapshot {
  return {
    ledgerId: 'L1',
    generation,
    seq: 7,
    window: { startMs: START, endMs: END },
    items: settings.items.map(({ sku, stock, perUserLimit }) => {
      const [available, reserved, sold] = counts[sku] ?? [stock, 0, 0];
      return { sku, total: stock, available, reserved, sold, inDoubt: 0, perUserLimit };
    }),
  };
}

const full = snapshot({});
/** The config the operator publishes for the full ledger: 15 units × 4/s → 64/s. */
const fullConfig = { ...settings, limits: { admissionRate: 64, burst: 50 } };

function input(overrides: Partial<ReconcileInput>): ReconcileInput {
  return {
    sale,
    generation: 2,
    status: undefined,
    snapshot: full,
    published: fullConfig,
    now: DURING,
    ...overrides,
  };
}

function condition(status: FlashSaleStatus, type: string): string | undefined {
  return status.conditions?.find((c) => c.type === type)?.status;
}

void describe('tunedAdmissionRate', () => {
  for (const [spec, remaining, expected] of [
    [1000, 10_000, 1000],
    [1000, 15, 64],
    [1000, 1, 4],
    [1000, 0, 1],
    [3, 100, 3],
  ] as const) {
    it(`spec ${spec}/s, ${remaining} units left → ${expected}/s`, () => {
      assert.equal(tunedAdmissionRate(spec, remaining), expected);
    });
  }
});

void describe('reconcile', () => {
  const cases: {
    name: string;
    input: Partial<ReconcileInput>;
    preload: boolean;
    publish: boolean;
    phase: string;
    ready: string;
    events: string[];
    result: ReturnType<typeof requeueAfter>;
  }[] = [
    {
      name: 'no ledger yet: preload, publish, not Ready',
      input: { snapshot: undefined, published: undefined },
      preload: true,
      publish: true,
      phase: 'Active',
      ready: 'False',
      events: [],
      result: requeueAfter(STATUS_SYNC_MS),
    },
    {
      name: 'ledger at the previous generation: preload it',
      input: { snapshot: snapshot({}, 1) },
      preload: true,
      publish: false,
      phase: 'Active',
      ready: 'False',
      events: [],
      result: requeueAfter(STATUS_SYNC_MS),
    },
    {
      name: 'ledger loaded, config not yet published: publish, not Ready',
      input: { published: undefined },
      preload: false,
      publish: true,
      phase: 'Active',
      ready: 'False',
      events: ['StockLoaded', 'SaleStarted'],
      result: requeueAfter(STATUS_SYNC_MS),
    },
    {
      name: 'all in place before the window: Scheduled, requeue at the start',
      input: { now: BEFORE },
      preload: false,
      publish: false,
      phase: 'Scheduled',
      ready: 'True',
      events: ['StockLoaded', 'Scheduled'],
      result: requeueAfter(60_000),
    },
    {
      name: 'far from the window: requeue at the resync interval',
      input: { now: START - 10 * RESYNC_MS },
      preload: false,
      publish: false,
      phase: 'Scheduled',
      ready: 'True',
      events: ['StockLoaded', 'Scheduled'],
      result: requeueAfter(RESYNC_MS),
    },
    {
      name: 'window over: Ended, nothing time-driven left',
      input: {
        now: END,
        status: { phase: 'Active', observedGeneration: 2, conditions: [loadedCondition()] },
      },
      preload: false,
      publish: false,
      phase: 'Ended',
      ready: 'True',
      events: ['SaleEnded'],
      result: awaitChange(),
    },
    {
      name: 'every SKU at available 0: SoldOut',
      input: {
        snapshot: snapshot({ A: [0, 2, 8], B: [0, 0, 5] }),
        published: { ...settings, limits: { admissionRate: 1, burst: 50 } },
        status: { phase: 'Active', observedGeneration: 2, conditions: [loadedCondition()] },
      },
      preload: false,
      publish: false,
      phase: 'SoldOut',
      ready: 'True',
      events: ['SoldOut'],
      result: requeueAfter(STATUS_SYNC_MS),
    },
    {
      name: 'a release after sold out: Active again, Restocked',
      input: {
        snapshot: snapshot({ A: [1, 1, 8], B: [0, 0, 5] }),
        published: { ...settings, limits: { admissionRate: 4, burst: 50 } },
        status: { phase: 'SoldOut', observedGeneration: 2, conditions: [loadedCondition()] },
      },
      preload: false,
      publish: false,
      phase: 'Active',
      ready: 'True',
      events: ['Restocked'],
      result: requeueAfter(STATUS_SYNC_MS),
    },
    {
      name: 'the ledger refused the preload: Failed, do not retry',
      input: { refused: { kind: 'below-committed', sku: 'A', committed: 12 } },
      preload: false,
      publish: false,
      phase: 'Failed',
      ready: 'False',
      events: ['Failed'],
      result: awaitChange(),
    },
    {
      name: 'a sale on its own Redis: planned like any other, its Redis in the published config',
      input: {
        sale: { ...sale, spec: { ...sale.spec, redis: { secretRef: { name: 'redis' } } } },
      },
      preload: false,
      publish: true,
      phase: 'Active',
      ready: 'False',
      events: ['StockLoaded', 'SaleStarted'],
      result: requeueAfter(STATUS_SYNC_MS),
    },
    {
      name: 'a spec the validator rejects: Failed, do not retry',
      input: { sale: { ...sale, spec: { ...sale.spec, items: [] } } },
      preload: false,
      publish: false,
      phase: 'Failed',
      ready: 'False',
      events: ['Failed'],
      result: awaitChange(),
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const plan = reconcile(input(c.input));
      assert.equal(plan.preload !== undefined, c.preload, 'preload');
      assert.equal(plan.publish !== undefined, c.publish, 'publish');
      assert.equal(plan.status.phase, c.phase);
      assert.equal(condition(plan.status, 'Ready'), c.ready);
      assert.deepEqual(
        plan.events.map((e) => e.reason),
        c.events,
      );
      assert.deepEqual(plan.result, c.result);
    });
  }

  it('judges the spec only: a status the schema would not take does not fail the sale', () => {
    const plan = reconcile(input({ sale: { ...sale, status: { phase: 'Bogus' } } }));
    assert.equal(plan.status.phase, 'Active');
  });

  it('preloads the current generation, passing the ledger marker kept in the status', () => {
    const plan = reconcile(
      input({ snapshot: undefined, status: { ledger: { id: 'L1', seq: 7 } } }),
    );
    assert.equal(plan.preload?.generation, 2);
    assert.deepEqual(plan.preload.lastSeen, { ledgerId: 'L1', seq: 7 });
    assert.deepEqual(plan.status.ledger, { id: 'L1', seq: 7 });
  });

  it('halts a ledger whose preload was refused as rolled back, not one refused for its spec', () => {
    const rolledBack = reconcile(
      input({
        snapshot: undefined,
        status: { ledger: { id: 'L1', seq: 9 } },
        refused: { kind: 'ledger-rolled-back', seq: 7 },
      }),
    );
    assert.equal(rolledBack.status.phase, 'Failed');
    assert.match(rolledBack.halt ?? '', /the ledger is halted/);
    const belowCommitted = reconcile(
      input({ refused: { kind: 'below-committed', sku: 'A', committed: 12 } }),
    );
    assert.equal(belowCommitted.status.phase, 'Failed');
    assert.equal(belowCommitted.halt, undefined);
    const lost = reconcile(
      input({ snapshot: undefined, refused: { kind: 'ledger-lost', expectedLedgerId: 'L1' } }),
    );
    assert.equal(lost.halt, undefined, 'nothing left in Redis to halt');
  });

  it('keeps the ledger marker in the status when the preload is refused', () => {
    const plan = reconcile(
      input({
        snapshot: undefined,
        status: { ledger: { id: 'L1', seq: 7 } },
        refused: { kind: 'ledger-lost', expectedLedgerId: 'L1' },
      }),
    );
    assert.equal(plan.status.phase, 'Failed');
    assert.deepEqual(plan.status.ledger, { id: 'L1', seq: 7 });
  });

  it('fails a loaded ledger that went back in time, keeping the marker it saw', () => {
    // Redis restored from an older copy mid-sale: same generation, a lower seq.
    const plan = reconcile(
      input({ status: { phase: 'Active', ledger: { id: 'L1', seq: 9 } }, snapshot: full }),
    );
    assert.equal(plan.status.phase, 'Failed');
    assert.equal(condition(plan.status, 'Ready'), 'False');
    assert.equal(
      plan.status.conditions?.find((c) => c.type === 'Ready')?.reason,
      'LedgerRolledBack',
    );
    assert.deepEqual(plan.status.ledger, { id: 'L1', seq: 9 });
    assert.match(plan.halt ?? '', /went back in time \(seq 7\).*the ledger is halted/);
    assert.equal(plan.preload, undefined);
    assert.equal(plan.publish, undefined);
    assert.deepEqual(
      plan.events.map((e) => [e.type, e.reason]),
      [['Warning', 'Failed']],
    );
    assert.match(plan.events[0]?.message ?? '', /went back in time \(seq 7\)/);
  });

  it('fails a sale whose ledger a sidecar halted, without halting it again', () => {
    // The loss was shorter than the status sync: the marker shows nothing, the halt does.
    const reason = 'the ledger went back in time (seq 7, a sidecar had seen 8): …';
    const plan = reconcile(
      input({
        status: { phase: 'Active', ledger: { id: 'L1', seq: 6 } },
        snapshot: { ...full, halted: reason },
      }),
    );
    assert.equal(plan.status.phase, 'Failed');
    const ready = plan.status.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.reason, 'LedgerHalted');
    assert.match(
      ready.message,
      /halted \(the ledger went back in time \(seq 7, a sidecar had seen 8\).*checkouts get 503/,
    );
    assert.equal(plan.halt, undefined);
    assert.equal(plan.preload, undefined);
    assert.equal(plan.publish, undefined);
    assert.deepEqual(
      plan.events.map((e) => [e.type, e.reason]),
      [['Warning', 'Failed']],
    );
  });

  it('fails a loaded ledger that is not the one the status remembers', () => {
    const plan = reconcile(input({ status: { ledger: { id: 'L0', seq: 3 } }, snapshot: full }));
    assert.equal(plan.status.phase, 'Failed');
    assert.equal(plan.status.conditions?.find((c) => c.type === 'Ready')?.reason, 'LedgerMismatch');
    assert.deepEqual(plan.status.ledger, { id: 'L0', seq: 3 });
    assert.match(plan.halt ?? '', /another ledger \(L1\)/);
  });

  it('takes a loaded ledger at or past the remembered seq as the same ledger, moving on', () => {
    for (const seq of [7, 5]) {
      const plan = reconcile(input({ status: { ledger: { id: 'L1', seq } }, snapshot: full }));
      assert.notEqual(plan.status.phase, 'Failed', `marker seq ${seq}`);
      assert.equal(plan.halt, undefined);
      assert.deepEqual(plan.status.ledger, { id: 'L1', seq: 7 });
    }
  });

  it('reports the counts and remembers the marker of a loaded ledger', () => {
    const plan = reconcile(
      input({
        snapshot: snapshot({ A: [6, 1, 3], B: [5, 0, 0] }),
        published: { ...settings, limits: { admissionRate: 64, burst: 50 } },
      }),
    );
    assert.deepEqual(plan.status.items, [
      { sku: 'A', available: 6, reserved: 1, sold: 3, inDoubt: 0 },
      { sku: 'B', available: 5, reserved: 0, sold: 0, inDoubt: 0 },
    ]);
    assert.equal(plan.status.stock, 15);
    assert.equal(plan.status.sold, 3);
    assert.equal(plan.status.observedGeneration, 2);
    assert.deepEqual(plan.status.ledger, { id: 'L1', seq: 7 });
  });

  it('Ready means ready: a ledger with other stock than the spec is not Ready', () => {
    const other = { ...full, items: full.items.map((i) => ({ ...i, total: i.total + 1 })) };
    const plan = reconcile(input({ snapshot: other }));
    assert.equal(condition(plan.status, 'Ready'), 'False');
    assert.notEqual(plan.preload, undefined);
  });

  it('keeps lastTransitionTime while a condition holds', () => {
    const first = reconcile(input({ now: DURING }));
    const second = reconcile(input({ now: DURING + 5000, status: first.status }));
    assert.deepEqual(second.status.conditions, first.status.conditions);
    assert.deepEqual(second.events, []);
  });

  it('announces the end to the sidecars once', () => {
    const ended = reconcile(input({ now: END }));
    assert.equal(ended.announceEnded, true);
    assert.equal(reconcile(input({ now: END, status: ended.status })).announceEnded, false);
  });
});

function loadedCondition() {
  return {
    type: 'StockLoaded',
    status: 'True' as const,
    observedGeneration: 2,
    lastTransitionTime: new Date(START).toISOString(),
    reason: 'Loaded',
    message: '',
  };
}

void describe('degraded', () => {
  it('sets Ready=False with the cause and warns once per cause', () => {
    const ok = reconcile(input({})).status;
    const first = degraded(ok, 2, 'RedisUnavailable', 'connect ECONNREFUSED', DURING);
    assert.equal(condition(first.status, 'Ready'), 'False');
    assert.equal(condition(first.status, 'StockLoaded'), 'True');
    assert.deepEqual(
      first.events.map((e) => e.reason),
      ['RedisUnavailable'],
    );
    const again = degraded(first.status, 2, 'RedisUnavailable', 'still down', DURING + 1000);
    assert.deepEqual(again.events, []);
  });
});
