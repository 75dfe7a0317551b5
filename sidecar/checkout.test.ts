import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ReserveOutcome } from '../ledger/index.ts';
import {
  answerForReserve,
  decodeReplay,
  encodeReplay,
  localAnswer,
  localRejection,
  problemAnswer,
  settlementFor,
  WINDOW_SKEW_MS,
} from './checkout.ts';
import { problemCatalogue } from './problems.ts';

const reservation = { id: 'r1', sku: 'a' };

describe('what a reserve outcome answers', () => {
  const cases: [ReserveOutcome, number, string][] = [
    [{ kind: 'sold-out', available: 0 }, 409, 'sold-out'],
    [{ kind: 'user-limit', limit: 2, held: 2 }, 403, 'per-user-limit'],
    [{ kind: 'not-started', startsAt: 0 }, 409, 'not-started'],
    [{ kind: 'ended', endedAt: 0 }, 410, 'ended'],
    [{ kind: 'in-progress', state: 'pending', expiresAt: 0 }, 409, 'in-progress'],
    [{ kind: 'key-reused', sku: 'a', quantity: 1 }, 422, 'key-reused'],
    [{ kind: 'no-sale' }, 503, 'ledger-unavailable'],
    [{ kind: 'unknown-sku' }, 503, 'ledger-unavailable'],
    [{ kind: 'halted', reason: 'went back in time' }, 503, 'ledger-unavailable'],
  ];
  for (const [outcome, status, type] of cases) {
    test(`${outcome.kind} → ${status} ${type}`, () => {
      const answer = answerForReserve(outcome, 'a');
      assert.ok(answer);
      assert.equal(answer.status, status);
      assert.equal(answer.headers['content-type'], 'application/problem+json');
      const body = JSON.parse(String(answer.body)) as { type: string; status: number };
      assert.equal(body.type, `https://flashguard.dev/problems/${type}`);
      assert.equal(body.status, status);
    });
  }
  test('a halted ledger says why, and not to retry soon', () => {
    const answer = answerForReserve({ kind: 'halted', reason: 'went back in time (seq 7)' }, 'a');
    assert.ok(answer);
    assert.equal(answer.headers['retry-after'], '60');
    assert.match(String(answer.body), /halted: went back in time \(seq 7\)/);
  });
  test('in-progress says when to retry', () => {
    const inProgress = { kind: 'in-progress', state: 'pending', expiresAt: 0 } as const;
    assert.equal(answerForReserve(inProgress, 'a')?.headers['retry-after'], '1');
  });
  test('reserved goes on to the shop', () => {
    assert.equal(
      answerForReserve({ kind: 'reserved', reservation, expiresAt: 0, available: 1 }, 'a'),
      undefined,
    );
  });
  test('every catalogue status is a client or server error', () => {
    for (const { status } of Object.values(problemCatalogue))
      assert.ok(status >= 400 && status < 600);
  });
});

describe('settlement from the shop answer', () => {
  const answered = (status: number) => ({
    kind: 'answered' as const,
    status,
    headers: {},
    body: Buffer.alloc(0),
    durationMs: 1,
  });
  test('2xx confirms; 4xx releases and is no breaker failure; 5xx releases and is one', () => {
    assert.deepEqual(settlementFor(answered(201)), {
      action: 'confirm',
      failed: false,
      outcome: 'committed',
    });
    assert.deepEqual(settlementFor(answered(409)), {
      action: 'release',
      failed: false,
      outcome: 'refused-by-shop',
    });
    assert.deepEqual(settlementFor(answered(503)), {
      action: 'release',
      failed: true,
      outcome: 'shop-error',
    });
  });
  test('never sent releases; a lost answer is in-doubt, never released', () => {
    assert.equal(
      settlementFor({ kind: 'not-sent', error: 'ECONNREFUSED', durationMs: 1 }).action,
      'release',
    );
    assert.equal(
      settlementFor({ kind: 'lost', error: 'UND_ERR_HEADERS_TIMEOUT', durationMs: 1 }).action,
      'in-doubt',
    );
  });
});

describe('local rejections', () => {
  const sale = {
    settings: { window: { startMs: 10_000, endMs: 20_000 } },
    soldOut: new Set(['gone']),
  } as never;
  test('outside the window (with the clock-skew margin) and sold out, with no Redis call', () => {
    assert.equal(localRejection(sale, 'a', 10_000 - WINDOW_SKEW_MS - 1)?.name, 'not-started');
    assert.equal(
      localRejection(sale, 'a', 10_000 - WINDOW_SKEW_MS),
      undefined,
      'Redis decides near the edge',
    );
    assert.equal(localRejection(sale, 'a', 20_000 + WINDOW_SKEW_MS)?.name, 'ended');
    assert.equal(localRejection(sale, 'gone', 15_000)?.name, 'sold-out');
    assert.equal(localRejection(sale, 'a', 15_000), undefined);
  });
  test('the ready-made sold-out answer is the one problemAnswer would build', () => {
    const rejection = localRejection(sale, 'gone', 15_000);
    assert.ok(rejection);
    const answer = localAnswer(rejection, 'gone');
    const built = problemAnswer(rejection);
    assert.equal(answer.status, 409);
    assert.deepEqual(answer.headers, built.headers);
    assert.equal(String(answer.body), built.body);
    assert.deepEqual(JSON.parse(String(answer.body)), {
      type: 'https://flashguard.dev/problems/sold-out',
      title: 'Sold out',
      status: 409,
      detail: 'gone is sold out',
      sku: 'gone',
      available: 0,
    });
  });
  test('other local rejections are built each time (their details carry the time)', () => {
    const rejection = localRejection(sale, 'a', 1000);
    assert.ok(rejection);
    const answer = localAnswer(rejection, 'a');
    assert.equal(answer.outcome, 'not-started');
    assert.equal(answer.headers['retry-after'], '9');
  });
});

describe('replays', () => {
  test('replay the shop answer byte for byte', () => {
    const stored = encodeReplay({
      kind: 'answered',
      status: 201,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"order":"o1"}'),
      durationMs: 1,
    });
    const replay = decodeReplay('confirmed', stored, 'r1');
    assert.equal(replay.status, 201);
    assert.equal(replay.headers['content-type'], 'application/json');
    assert.equal(String(replay.body), '{"order":"o1"}');
  });
  test('a reservation settled by the reaper replays its state', () => {
    assert.equal(decodeReplay('confirmed', undefined, 'r1').status, 200);
    assert.equal(decodeReplay('released', undefined, 'r1').status, 409);
  });
});
