// The operator's Prometheus metrics. Every reconcile result label is set to 0 at start-up so rates
// work from the first scrape; labels stay bounded (sale, SKU, state; never a user).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { LedgerSnapshot } from '../ledger/index.ts';

export const reconcileResults = ['success', 'requeue', 'error'] as const;
export type ReconcileResult = (typeof reconcileResults)[number];

// `total` beside its parts, so an alert can check total = available + reserved + sold.
const unitStates = ['total', 'available', 'reserved', 'sold', 'in_doubt'] as const;

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly #reconciles = new Counter({
    name: 'flashguard_operator_reconcile_total',
    help: 'FlashSale reconciles by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly #duration = new Histogram({
    name: 'flashguard_operator_reconcile_duration_seconds',
    help: 'Time one FlashSale reconcile took.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'flashguard_operator_leader',
    help: '1 while this replica holds the leader Lease.',
    registers: [this.registry],
  });
  readonly #units = new Gauge({
    name: 'flashguard_ledger_units',
    help: 'Units of a SKU by ledger state, as of the last reconcile.',
    labelNames: ['sale', 'sku', 'state'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const result of reconcileResults) this.#reconciles.labels(result).inc(0);
    this.leader.set(0);
  }

  reconciled(result: ReconcileResult, seconds: number): void {
    this.#reconciles.labels(result).inc();
    this.#duration.observe(seconds);
  }

  readonly #skus = new Map<string, readonly string[]>();

  units(sale: string, snapshot: LedgerSnapshot): void {
    this.forgetSale(sale);
    this.#skus.set(
      sale,
      snapshot.items.map((i) => i.sku),
    );
    for (const { sku, total, available, reserved, sold, inDoubt } of snapshot.items) {
      const values = { total, available, reserved, sold, in_doubt: inDoubt };
      for (const state of unitStates) this.#units.labels(sale, sku, state).set(values[state]);
    }
  }

  forgetSale(sale: string): void {
    for (const sku of this.#skus.get(sale) ?? []) {
      for (const state of unitStates) this.#units.remove({ sale, sku, state });
    }
    this.#skus.delete(sale);
  }
}
