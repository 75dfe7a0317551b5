import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFlashSaleYaml } from './load.ts';
import { invalidCorpus } from './corpus.ts';
import { celRules, ruleField } from './rules.ts';
import { parse } from 'yaml';

const corpus = invalidCorpus();

test('the corpus holds a few dozen cases', () => {
  assert.ok(corpus.length >= 20, `only ${corpus.length} cases`);
});

for (const c of corpus) {
  test(`invalid/${c.name}: rejected naming ${c.field} only`, () => {
    const result = parseFlashSaleYaml(c.text);
    assert.ok(!result.ok, 'accepted');
    // Invalid in exactly one way: one error, on the field the header names.
    assert.deepEqual(
      result.errors.map((e) => e.field),
      [c.field],
      JSON.stringify(result.errors),
    );
    const [error] = result.errors;
    assert.ok(error?.message.startsWith(c.field), error?.message);
    assert.equal(typeof error?.line, 'number');
  });
}

test('every corpus case is a manifest kubectl can send: right kind, unique names', () => {
  const names = corpus.map((c) => {
    const doc = parse(c.text) as { apiVersion: string; kind: string; metadata: { name: string } };
    assert.equal(doc.apiVersion, 'flashguard.dev/v1alpha1', c.name);
    assert.equal(doc.kind, 'FlashSale', c.name);
    return doc.metadata.name;
  });
  assert.equal(new Set(names).size, names.length);
});

test('every cross-field rule is exercised by a corpus case, so the apiserver test covers its CEL', () => {
  for (const rule of celRules) {
    const hit = corpus.some((c) => {
      const result = parseFlashSaleYaml(c.text);
      return (
        !result.ok && result.errors.some((e) => e.message === `${ruleField(rule)} ${rule.message}`)
      );
    });
    assert.ok(hit, `no corpus case for the rule on ${ruleField(rule)}: ${rule.rule}`);
  }
});
