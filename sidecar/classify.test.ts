import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseFlashSaleYaml, withDefaults, type SaleSettings } from '../api/v1alpha1/index.ts';
import { classify, type RequestParts } from './classify.ts';

function settingsFrom(checkout = ''): SaleSettings {
  const parsed = parseFlashSaleYaml(`
apiVersion: flashguard.dev/v1alpha1
kind: FlashSale
metadata: { name: launch }
spec:
  window: { start: "2026-01-01T00:00:00Z", end: "2026-01-02T00:00:00Z" }
  items: [{ sku: phone, stock: 5, perUserLimit: 2 }, { sku: "42", stock: 1 }]
  limits: { admissionRate: 100, burst: 10 }
${checkout}`);
  assert.ok(parsed.ok, JSON.stringify(parsed));
  return withDefaults(parsed.value.spec);
}

const sale = { settings: settingsFrom() };
const parts = (body: unknown, headers: Record<string, string> = {}, query = ''): RequestParts => ({
  headers: { 'x-user-id': 'u1', ...headers },
  query: new URLSearchParams(query),
  body: Buffer.isBuffer(body)
    ? body
    : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
});

describe('classify', () => {
  test('a checkout of a sale SKU', () => {
    assert.deepEqual(
      classify([sale], parts({ sku: 'phone', quantity: 2 }, { 'idempotency-key': 'k' })),
      {
        kind: 'checkout',
        checkout: { sale, sku: 'phone', quantity: 2, user: 'u1', idempotencyKey: 'k' },
      },
    );
  });

  test('a numeric SKU and a quantity given as a numeric string are read as shops send them', () => {
    const decision = classify([sale], parts({ sku: 42, quantity: '1' }));
    assert.equal(decision.kind, 'checkout');
    assert.equal(decision.checkout.sku, '42');
    assert.equal(decision.checkout.quantity, 1);
  });

  test('a SKU in no sale, or no SKU at all, passes through untouched', () => {
    assert.deepEqual(classify([sale], parts({ sku: 'tablet', quantity: 1 })), { kind: 'pass' });
    assert.deepEqual(classify([sale], parts({ quantity: 1 })), { kind: 'pass' });
    assert.deepEqual(classify([sale], parts({ sku: { nested: true }, quantity: 1 })), {
      kind: 'pass',
    });
  });

  test('SKU, quantity and user can come from headers and the query string', () => {
    const other = {
      settings: settingsFrom(`  checkout:
    sku: { source: Query, name: item }
    quantity: { source: Header, name: X-Qty }
    userHeader: X-Customer`),
    };
    const decision = classify([other], {
      headers: { 'x-qty': '2', 'x-customer': 'c9' },
      query: new URLSearchParams('item=phone'),
      body: Buffer.alloc(0),
    });
    assert.deepEqual(decision, {
      kind: 'checkout',
      checkout: { sale: other, sku: 'phone', quantity: 2, user: 'c9', idempotencyKey: undefined },
    });
  });

  // The bad-input corpus: each is a 400 invalid-request naming what is wrong.
  const bad: [string, RequestParts, RegExp][] = [
    ['malformed JSON', parts('{"sku": "phone", '), /not valid JSON/],
    ['a JSON array', parts('[1,2]'), /JSON object/],
    ['invalid UTF-8', parts(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), /UTF-8/],
    ['a missing quantity', parts({ sku: 'phone' }), /quantity is missing/],
    ['a zero quantity', parts({ sku: 'phone', quantity: 0 }), /positive integer/],
    ['a negative quantity', parts({ sku: 'phone', quantity: -1 }), /positive integer/],
    ['a fractional quantity', parts({ sku: 'phone', quantity: 1.5 }), /positive integer/],
    ['a quantity as text', parts({ sku: 'phone', quantity: 'two' }), /positive integer/],
    ['a boolean quantity', parts({ sku: 'phone', quantity: true }), /positive integer/],
    ['a huge quantity', parts({ sku: 'phone', quantity: 1e12 }), /at most 1000/],
    [
      'a missing user',
      { ...parts({ sku: 'phone', quantity: 1 }), headers: {} },
      /x-user-id header is missing/,
    ],
    ['an empty user', parts({ sku: 'phone', quantity: 1 }, { 'x-user-id': '' }), /missing/],
    [
      'a user with a control character',
      parts({ sku: 'phone', quantity: 1 }, { 'x-user-id': 'a\u0007' }),
      /not a valid user/,
    ],
    [
      'a very long user',
      parts({ sku: 'phone', quantity: 1 }, { 'x-user-id': 'u'.repeat(300) }),
      /not a valid user/,
    ],
    [
      'a forged reservation header',
      parts({ sku: 'phone', quantity: 1 }, { 'x-flashguard-reservation': 'mine' }),
      /set by Flashguard only/,
    ],
    [
      'an empty Idempotency-Key',
      parts({ sku: 'phone', quantity: 1 }, { 'idempotency-key': '' }),
      /idempotency-key/,
    ],
    [
      'a huge Idempotency-Key',
      parts({ sku: 'phone', quantity: 1 }, { 'idempotency-key': 'k'.repeat(300) }),
      /idempotency-key/,
    ],
  ];
  for (const [name, request, detail] of bad) {
    test(`${name} is a 400 invalid-request`, () => {
      const decision = classify([sale], request);
      assert.equal(decision.kind, 'invalid');
      assert.equal(decision.problem.status, 400);
      assert.equal(decision.problem.body.type, 'https://flashguard.dev/problems/invalid-request');
      assert.match(String(decision.problem.body.detail), detail);
    });
  }
});
