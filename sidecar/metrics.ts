// The sidecar's Prometheus metrics (design.md §6). Every outcome label is set to 0 when a sale is
// loaded, so rates and alerts work from the first scrape; label values are bounded (sale, SKU,
// outcome, never a user or an order id).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { problemCatalogue } from './problems.ts';

/** Every value of the `outcome` label: the sidecar's own answers and the shop's. */
export const checkoutOutcomes = [
  ...(Object.keys(problemCatalogue) as (keyof typeof problemCatalogue)[]),
  'committed', // the shop answered 2xx
  'refused-by-shop', // the shop answered 4xx
  'shop-error', // the shop answered 5xx
  'replayed', // a repeated Idempotency-Key after the first checkout finished
] as const;
export type CheckoutOutcome = (typeof checkoutOutcomes)[number];

export const reservationResults = ['confirmed', 'released', 'in_doubt', 'settle_failed'] as const;
export type ReservationResult = (typeof reservationResults)[number];

export const breakerStateValue = { closed: 0, 'half-open': 1, open: 2 } as const;

export class SidecarMetrics {
  readonly registry = new Registry();
  readonly #requests = new Counter({
    name: 'flashguard_checkout_requests_total',
    help: 'Sale checkout requests by sale, SKU and outcome.',
    labelNames: ['sale', 'sku', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly #duration = new Histogram({
    name: 'flashguard_checkout_duration_seconds',
    help: 'Time to answer a sale checkout, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly upstreamDuration = new Histogram({
    name: 'flashguard_upstream_duration_seconds',
    help: 'Time the checkout service took to answer a forwarded checkout.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly breakerState = new Gauge({
    name: 'flashguard_breaker_state',
    help: 'Circuit breaker on the checkout service: 0 closed, 1 half-open, 2 open.',
    labelNames: ['sale'] as const,
    registers: [this.registry],
  });
  readonly admissionRate = new Gauge({
    name: 'flashguard_admission_rate',
    help: "This pod's share of the sale's admission rate, in checkouts per second.",
    labelNames: ['sale'] as const,
    registers: [this.registry],
  });
  readonly stockAvailable = new Gauge({
    name: 'flashguard_stock_available',
    help: 'Units available, as this sidecar last read them from the ledger.',
    labelNames: ['sale', 'sku'] as const,
    registers: [this.registry],
  });
  readonly #reservations = new Counter({
    name: 'flashguard_reservations_total',
    help: 'Reservations this sidecar settled, by result.',
    labelNames: ['sale', 'sku', 'result'] as const,
    registers: [this.registry],
  });
  readonly ledgerHalted = new Gauge({
    name: 'flashguard_ledger_halted',
    help: "Whether the sale's ledger is halted (1): it went back in time or was replaced, and every checkout gets 503.",
    labelNames: ['sale'] as const,
    registers: [this.registry],
  });
  readonly ledgerUp = new Gauge({
    name: 'flashguard_ledger_up',
    help: 'Whether the last ledger call of this sidecar succeeded (1) or not (0).',
    registers: [this.registry],
  });
  /** Label children by sale, then SKU, then outcome or result: no key to build per checkout. */
  readonly #requestChildren = new Map<string, Map<string, Map<string, { inc(): void }>>>();
  readonly #reservationChildren = new Map<string, Map<string, Map<string, { inc(): void }>>>();
  readonly #durationChildren = new Map<string, { observe(value: number): void }>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'flashguard_sidecar_' });
  }

  /** Pre-sets every label combination of a sale to 0. */
  addSale(sale: string, skus: readonly string[]): void {
    for (const sku of skus) {
      for (const outcome of checkoutOutcomes) this.#requests.labels(sale, sku, outcome).inc(0);
      for (const result of reservationResults) this.#reservations.labels(sale, sku, result).inc(0);
    }
    for (const outcome of checkoutOutcomes) this.#duration.labels(outcome);
    this.breakerState.labels(sale).set(0);
    this.ledgerHalted.labels(sale).set(0);
  }

  checkout(sale: string, sku: string, outcome: CheckoutOutcome, seconds: number): void {
    this.#child(this.#requestChildren, this.#requests, sale, sku, outcome).inc();
    let histogram = this.#durationChildren.get(outcome);
    if (histogram === undefined) {
      histogram = this.#duration.labels(outcome);
      this.#durationChildren.set(outcome, histogram);
    }
    histogram.observe(seconds);
  }

  reservation(sale: string, sku: string, result: ReservationResult): void {
    this.#child(this.#reservationChildren, this.#reservations, sale, sku, result).inc();
  }

  /** The label child for (sale, SKU, value), made once: prom-client's labels() allocates. */
  #child(
    children: Map<string, Map<string, Map<string, { inc(): void }>>>,
    counter: { labels(...values: string[]): { inc(): void } },
    sale: string,
    sku: string,
    value: string,
  ): { inc(): void } {
    let bySku = children.get(sale);
    if (bySku === undefined) {
      bySku = new Map<string, Map<string, { inc(): void }>>();
      children.set(sale, bySku);
    }
    let byValue = bySku.get(sku);
    if (byValue === undefined) {
      byValue = new Map<string, { inc(): void }>();
      bySku.set(sku, byValue);
    }
    let child = byValue.get(value);
    if (child === undefined) {
      child = counter.labels(sale, sku, value);
      byValue.set(value, child);
    }
    return child;
  }
}
