// What the demo concludes and prints: the promises it checks (design.md §1) and the summary
// table. Pure: the storm's result and the shop's counts in, text out.
import type { SaleSettings } from '../../api/v1alpha1/index.ts';
import { PROBLEM_BASE } from '../../sidecar/problems.ts';
import type { CheckoutStats } from './checkout-app.ts';
import type { OutcomeCount, StormProgress, StormResult } from './storm.ts';

export interface DemoReport {
  saleName: string;
  /** false: the storm went straight at the shop, without the sidecar. */
  guarded: boolean;
  items: SaleSettings['items'];
  timeoutMs: number;
  storm: StormResult;
  /** Counted by the shop: what it really committed. */
  shop: CheckoutStats;
}

// The sidecar sheds load with these on purpose (breaker open, Redis down); any other 5xx is a bug.
const INTENDED_5XX = new Set([
  `${PROBLEM_BASE}upstream-unavailable`,
  `${PROBLEM_BASE}ledger-unavailable`,
]);

export function outcomeName(outcome: OutcomeCount): string {
  const type = outcome.problemType;
  if (type?.startsWith(PROBLEM_BASE)) return type.slice(PROBLEM_BASE.length);
  if (type !== undefined) return type;
  return outcome.status >= 200 && outcome.status < 300 ? 'order placed' : 'not a problem+json';
}

/** Every promise to users the run broke, said plainly; empty when all were kept. */
export function brokenPromises(report: DemoReport): string[] {
  const broken: string[] = [];
  for (const item of report.items) {
    const sold = report.shop.skus[item.sku];
    if (sold === undefined) continue;
    if (sold.units > item.stock) {
      broken.push(
        `oversold ${item.sku}: the shop committed ${sold.units} units of a stock of ${item.stock}`,
      );
    }
    if (sold.maxUnitsPerUser > item.perUserLimit) {
      broken.push(
        `per-user limit broken on ${item.sku}: a shopper bought ${sold.maxUnitsPerUser}, the limit is ${item.perUserLimit}`,
      );
    }
  }
  const { timeouts, resets, errors } = report.storm;
  if (timeouts > 0) {
    broken.push(`${timeouts} requests got no answer within ${report.timeoutMs} ms`);
  }
  if (resets + errors > 0) {
    broken.push(`${resets + errors} requests got no answer: the connection was reset or failed`);
  }
  for (const outcome of report.storm.outcomes) {
    if (outcome.status >= 500 && !INTENDED_5XX.has(outcome.problemType ?? '')) {
      broken.push(`${outcome.count} answers were ${outcome.status} ${outcomeName(outcome)}`);
    }
  }
  return broken;
}

/** Columns padded to their widest cell; numbers right-aligned. */
function table(rows: readonly (readonly (string | number)[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, String(cell).length)));
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) =>
          typeof cell === 'number'
            ? String(cell).padStart(widths[i] ?? 0)
            : cell.padEnd(widths[i] ?? 0),
        )
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `  ${line}`)
    .join('\n');
}

const ms = (value: number): string => `${value.toFixed(1)} ms`;

export function formatProgress(progress: StormProgress): string {
  const seconds = progress.elapsedMs / 1000;
  const rate = seconds > 0 ? Math.round(progress.answered / seconds) : 0;
  return (
    `storm: ${progress.sent}/${progress.planned} sent, ${progress.answered} answered ` +
    `(${rate}/s), ${progress.timeouts} timed out, ${progress.resets + progress.errors} failed, ` +
    `${seconds.toFixed(1)} s`
  );
}

export function formatSummary(report: DemoReport): string {
  const { storm, shop } = report;
  const path = report.guarded
    ? 'through the Flashguard sidecar'
    : 'straight at the shop, unguarded';
  const totals = { stock: 0, committed: 0 };
  const skuRows = report.items.map((item) => {
    const sold = shop.skus[item.sku];
    const committed = sold?.units ?? 0;
    totals.stock += item.stock;
    totals.committed += committed;
    return [
      item.sku,
      item.stock,
      committed,
      committed - item.stock,
      sold?.maxUnitsPerUser ?? 0,
      item.perUserLimit,
    ];
  });
  const broken = brokenPromises(report);
  return [
    `Flashguard demo: sale ${report.saleName}, ${path}`,
    '',
    table([
      ['requests', `${storm.planned} (${storm.retries} retries), seed ${storm.seed}`],
      [
        'answered',
        `${storm.answered} in ${(storm.elapsedMs / 1000).toFixed(1)} s: ${Math.round(storm.answeredPerSecond)}/s`,
      ],
      ['latency', `p50 ${ms(storm.latencyMs.p50)}, p99 ${ms(storm.latencyMs.p99)}`],
      ['no answer', `${storm.timeouts} timed out, ${storm.resets} reset, ${storm.errors} failed`],
      ['upstream calls', `${shop.checkoutCalls} checkouts reached the shop`],
    ]),
    '',
    table([
      ['sku', 'stock', 'committed', 'oversold', 'most per shopper', 'limit'],
      ...skuRows,
      ['total', totals.stock, totals.committed, totals.committed - totals.stock],
    ]),
    '',
    table([
      ['outcome', 'status', 'answers'],
      ...storm.outcomes.map((o) => [outcomeName(o), o.status, o.count]),
    ]),
    '',
    broken.length === 0
      ? 'Every promise kept: nothing oversold, no shopper above the limit, every request answered, no unexpected 5xx.'
      : ['BROKEN PROMISES:', ...broken.map((b) => `  - ${b}`)].join('\n'),
  ].join('\n');
}
