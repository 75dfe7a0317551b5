import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadFlashSaleFile, parseFlashSaleYaml } from './load.ts';
import { minimalSale } from './testdata/sale.ts';

function errorsOf(text: string) {
  const result = parseFlashSaleYaml(text);
  assert.ok(!result.ok, 'accepted');
  return result.errors;
}

test('a YAML syntax error is reported with its line and column', () => {
  const text = stringify(minimalSale()).replace('burst: 10', 'burst: [10');
  const errors = errorsOf(text);
  const burstLine = text.split('\n').findIndex((l) => l.includes('burst: [10')) + 1;
  assert.ok(errors.length > 0);
  for (const e of errors) {
    assert.equal(e.field, '');
    assert.match(e.message, /^YAML syntax error at line \d+, column \d+: /);
    assert.ok(e.line !== undefined && e.line >= burstLine, `${e.line} < ${burstLine}`);
  }
});

test('a duplicate key is a syntax error on its line', () => {
  const text = 'apiVersion: flashguard.dev/v1alpha1\nkind: FlashSale\nkind: FlashSale\n';
  assert.deepEqual(errorsOf(text), [
    {
      field: '',
      message: 'YAML syntax error at line 3, column 1: Map keys must be unique',
      line: 3,
    },
  ]);
});

test('the file must hold exactly one document', () => {
  const one = stringify(minimalSale());
  assert.match(errorsOf('')[0]?.message ?? '', /found 0/);
  assert.match(errorsOf(`${one}---\n${one}`)[0]?.message ?? '', /found 2/);
});

test('a schema error carries the line of its field, or of the parent of a missing one', () => {
  const text = [
    'apiVersion: flashguard.dev/v1alpha1',
    'kind: FlashSale',
    'metadata:',
    '  name: yaml-lines',
    'spec:',
    '  window:',
    '    start: "2026-11-27T10:00:00Z"',
    '    end: "2026-11-27T12:00:00Z"',
    '  items:',
    '    - sku: A',
    '      stock: 1',
    '    - sku: B',
    '      stock: -4',
    '  limits:',
    '    admissionRate: 5',
    '',
  ].join('\n');
  assert.deepEqual(
    errorsOf(text).map(({ field, line }) => ({ field, line })),
    [
      { field: 'spec.items[1].stock', line: 13 },
      { field: 'spec.limits.burst', line: 15 },
    ],
  );
});

test('a rule error carries the line of the field it names', () => {
  const sale = minimalSale();
  sale.spec.window.end = sale.spec.window.start;
  const text = stringify(sale);
  const [error] = errorsOf(text);
  assert.equal(error?.field, 'spec.window.end');
  assert.equal(error.line, text.split('\n').findIndex((l) => l.includes('end:')) + 1);
});

test('loadFlashSaleFile reads a file; a missing file throws', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flashguard-'));
  try {
    const path = join(dir, 'sale.yaml');
    writeFileSync(path, stringify(minimalSale()));
    const result = await loadFlashSaleFile(path);
    assert.ok(result.ok);
    assert.equal(result.value.metadata.name, 'test-sale');
    await assert.rejects(loadFlashSaleFile(join(dir, 'missing.yaml')), { code: 'ENOENT' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
