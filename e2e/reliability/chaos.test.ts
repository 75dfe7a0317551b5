// The fault-injection scenario (e2e/reliability/chaos.ts) keeps every promise: nothing
// oversold, no unit lost, every reservation settled once the reaper had its time, every client
// of a surviving sidecar answered, and no upstream call without a reservation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runChaos } from './chaos.ts';

test('sidecars killed twice and a failing shop: every promise kept', async (t) => {
  const figures = await runChaos({ survivors: 2, stock: 400, requests: 300 });
  t.diagnostic(JSON.stringify(figures));
  assert.ok(figures.committed_units > 0, 'the storm sold something');
  assert.equal(figures.oversold, 0);
  assert.equal(figures.lost_units, 0);
  assert.equal(figures.in_doubt_unsettled, 0);
  assert.equal(figures.unanswered, 0);
  assert.ok(figures.upstream_calls <= figures.admitted, JSON.stringify(figures));
  assert.equal(figures.ledger_sold, figures.committed_units);
});
