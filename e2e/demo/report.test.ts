// The demo's verdict: each promise it checks fails the run when broken, and only then.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROBLEM_BASE } from '../../sidecar/problems.ts';
import { brokenPromises, formatSummary, type DemoReport } from './report.ts';

function report(changes: {
  storm?: Partial<DemoReport['storm']>;
  sold?: { units: number; maxUnitsPerUser: number };
}): DemoReport {
  const sold = changes.sold ?? { units: 10, maxUnitsPerUser: 2 };
  return {
    saleName: 'demo-drop',
    guarded: true,
    items: [
      { sku: 'A', stock: 10, perUserLimit: 2 },
      { sku: 'B', stock: 5, perUserLimit: 1 },
    ],
    timeoutMs: 5000,
    storm: {
      planned: 100,
      sent: 100,
      answered: 100,
      timeouts: 0,
      resets: 0,
      errors: 0,
      elapsedMs: 1000,
      seed: 1,
      retries: 10,
      outcomes: [
        { status: 201, problemType: undefined, count: 10 },
        { status: 409, problemType: `${PROBLEM_BASE}sold-out`, count: 85 },
        { status: 503, problemType: `${PROBLEM_BASE}upstream-unavailable`, count: 5 },
      ],
      latencyMs: { p50: 1, p99: 5, max: 9 },
      answeredPerSecond: 100,
      errorSamples: [],
      ...changes.storm,
    },
    shop: {
      checkoutCalls: 10,
      orders: 10,
      units: sold.units,
      skus: { A: { orders: 5, ...sold } },
    },
  };
}

test('a clean run, intended 503s included, keeps every promise', () => {
  assert.deepEqual(brokenPromises(report({})), []);
  assert.match(formatSummary(report({})), /Every promise kept/);
});

test('committing more than the stock is oversold', () => {
  const broken = brokenPromises(report({ sold: { units: 11, maxUnitsPerUser: 2 } }));
  assert.deepEqual(broken, ['oversold A: the shop committed 11 units of a stock of 10']);
  assert.match(formatSummary(report({ sold: { units: 11, maxUnitsPerUser: 2 } })), /BROKEN/);
});

test('a shopper holding more than the limit in the shop is a broken promise', () => {
  assert.match(
    brokenPromises(report({ sold: { units: 9, maxUnitsPerUser: 3 } })).join(),
    /per-user limit broken on A/,
  );
});

test('a request without an answer is a broken promise', () => {
  assert.match(
    brokenPromises(report({ storm: { timeouts: 1, answered: 99 } })).join(),
    /no answer within 5000 ms/,
  );
  assert.match(
    brokenPromises(report({ storm: { resets: 2, answered: 98 } })).join(),
    /2 requests got no answer/,
  );
});

test('a 5xx other than the sidecar shedding load is a broken promise', () => {
  const outcomes = [
    { status: 504, problemType: `${PROBLEM_BASE}outcome-unknown`, count: 1 },
    { status: 503, problemType: undefined, count: 2 },
    { status: 500, problemType: undefined, count: 3 },
  ];
  assert.deepEqual(brokenPromises(report({ storm: { outcomes } })), [
    '1 answers were 504 outcome-unknown',
    '2 answers were 503 not a problem+json',
    '3 answers were 500 not a problem+json',
  ]);
});
