import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadFlashSaleFile } from './load.ts';

const examplesDir = join(import.meta.dirname, '..', '..', 'examples');
const examples = readdirSync(examplesDir).filter((file) => file.endsWith('.yaml'));

test('there are examples', () => {
  assert.ok(examples.length >= 2);
});

for (const file of examples) {
  test(`examples/${file} is a valid FlashSale`, async () => {
    const result = await loadFlashSaleFile(join(examplesDir, file));
    assert.ok(result.ok, JSON.stringify(result.ok ? null : result.errors));
  });
}
