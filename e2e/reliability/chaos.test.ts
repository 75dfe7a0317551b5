// The operator-managed fault-injection scenario (e2e/reliability/chaos.ts) keeps every promise:
// nothing oversold, no unit lost, every reservation settled by the operator's reaper, every
// client of a sidecar that stayed up answered, no upstream call without a reservation, and the
// breaker opened on the failing shop and closed once it recovered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ciChaos, runChaos } from './chaos.ts';

void test('a storm through every fault of the reliability issue: every promise kept', async (t) => {
  const figures = await runChaos(ciChaos);
  t.diagnostic(JSON.stringify(figures));
  const all = JSON.stringify(figures);
  assert.ok(figures.committed_units > 0, 'the storm sold something');
  assert.equal(figures.oversold, 0, all);
  assert.equal(figures.lost_units, 0, all);
  assert.equal(figures.in_doubt_unsettled, 0, all);
  assert.equal(figures.unanswered, 0, all);
  assert.ok(figures.upstream_calls <= figures.admitted, all);
  assert.equal(figures.ledger_sold, figures.committed_units, all);
  assert.equal(figures.breaker_opened, true, all);
  assert.equal(figures.breaker_closed, true, all);
  assert.equal(figures.leader_takeover, true, all);
});
