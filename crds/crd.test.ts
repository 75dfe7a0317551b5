// The committed CRD is what the spec generates, and the generator drops nothing of the spec.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { celRules, schemaNodes, type SchemaNode } from '../api/v1alpha1/index.ts';
import { attachRules, crdFileName, openApiSchema, ordered, renderCrd } from './crd.ts';

test(`${crdFileName} is what the spec generates (else run \`npm run crds\`)`, () => {
  const committed = readFileSync(join(import.meta.dirname, crdFileName), 'utf8');
  assert.equal(
    committed,
    renderCrd(),
    `crds/${crdFileName} differs from api/v1alpha1: run \`npm run crds\` and commit the result`,
  );
});

test('the committed file reads back as the schema kubectl sends', () => {
  const committed = readFileSync(join(import.meta.dirname, crdFileName), 'utf8');
  const crd = parse(committed, { version: '1.1' }) as {
    spec: { versions: { schema: { openAPIV3Schema: unknown } }[] };
  };
  assert.deepEqual(crd.spec.versions[0]?.schema.openAPIV3Schema, openApiSchema());
});

test('every node is described, so kubectl explain reads well', () => {
  for (const [path, node] of schemaNodes(openApiSchema())) {
    if (path === 'metadata') continue; // the apiserver describes ObjectMeta itself
    assert.ok((node.description ?? '').length > 0, `${path}: no description`);
  }
});

test('every CEL rule sits once on the node at its path, with its fieldPath', () => {
  const nodes = new Map(schemaNodes(openApiSchema()));
  const carried = [...nodes.values()].flatMap((node) => validations(node));
  assert.equal(carried.length, celRules.length);
  for (const { path, rule, message, fieldPath } of celRules) {
    const here = validations(nodes.get(path)).filter((v) => v.rule === rule);
    assert.deepEqual(here, [
      fieldPath === undefined ? { rule, message } : { rule, message, fieldPath },
    ]);
  }
});

test('a rule on a path the schema lacks stops the generator', () => {
  assert.throws(() => attachRules({ type: 'object' }, celRules), /no schema node at spec/);
});

test('a keyword the generator does not know stops it rather than being dropped', () => {
  assert.throws(
    () => ordered({ type: 'object', properties: { a: { type: 'string', anyOf: [] } } }),
    /anyOf/,
  );
});

function validations(node: SchemaNode | undefined): { rule: string }[] {
  return (node?.['x-kubernetes-validations'] ?? []) as { rule: string }[];
}
