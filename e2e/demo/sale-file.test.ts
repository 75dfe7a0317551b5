// The demo's sale: the example moved to now and to the demo shop, still a valid FlashSale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { demoSaleTemplate, placeDemoSale } from './sale-file.ts';

const template = readFileSync(demoSaleTemplate, 'utf8');
const placement = {
  nowMs: Date.parse('2030-05-01T12:00:00Z'),
  openForMs: 600_000,
  shopUrl: 'http://127.0.0.1:40123',
};

test('the sale is open now, for the time asked, and asks the demo shop about orders', () => {
  const sale = placeDemoSale(template, placement);
  assert.ok(sale.settings.window.startMs < placement.nowMs);
  assert.equal(sale.settings.window.endMs, placement.nowMs + 600_000);
  assert.equal(sale.settings.orderStatus?.url, 'http://127.0.0.1:40123/orders/{reservation}');
  assert.equal(sale.name, 'demo-drop');
});

test('only the window and the order-status URL change', () => {
  const placed = parseDocument(placeDemoSale(template, placement).yaml);
  const expected = parseDocument(template);
  for (const path of [
    ['spec', 'window', 'start'],
    ['spec', 'window', 'end'],
    ['spec', 'orderStatus', 'url'],
  ]) {
    expected.setIn(path, placed.getIn(path));
  }
  assert.deepEqual(placed.toJS(), expected.toJS());
});

test('a placement that makes the sale invalid is refused, naming the field', () => {
  assert.throws(
    () => placeDemoSale(template, { ...placement, shopUrl: 'not a url' }),
    /spec\.orderStatus\.url/,
  );
});
