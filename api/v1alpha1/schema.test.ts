// The schema must stay convertible to a CRD's structural openAPIV3Schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import ajvFormats from 'ajv-formats';
import { FlashSaleSchema, FlashSaleSpecSchema, FlashSaleStatusSchema } from './schema.ts';
import { celRules } from './rules.ts';
import { plainSchema, schemaNodes, type SchemaNode } from './schema-walk.ts';

const allowed = new Set([
  'type',
  'description',
  'properties',
  'required',
  'items',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'minItems',
  'maxItems',
  'pattern',
  'enum',
  'format',
  'default',
]);
const types = new Set(['object', 'array', 'string', 'integer', 'boolean']);
const nodes = [...schemaNodes(plainSchema(FlashSaleSchema))];

test('every node has a type, a description and only structural keywords', () => {
  for (const [path, node] of nodes) {
    assert.ok(node.type !== undefined && types.has(node.type), `${path}: type ${node.type}`);
    assert.ok((node.description ?? '').length > 0, `${path}: no description`);
    for (const keyword of Object.keys(node)) {
      assert.ok(allowed.has(keyword), `${path}: keyword ${keyword}`);
    }
  }
});

test('strings and arrays are bounded, so CEL cost estimates stay small', () => {
  for (const [path, node] of nodes) {
    if (node.type === 'string' && node.enum === undefined) {
      assert.equal(typeof node.maxLength, 'number', `${path}: no maxLength`);
    }
    if (node.type === 'array') assert.equal(typeof node.maxItems, 'number', `${path}: no maxItems`);
  }
});

test('patterns use only what both ECMAScript and RE2 read alike', () => {
  for (const [path, node] of nodes) {
    if (typeof node.pattern !== 'string') continue;
    assert.doesNotMatch(node.pattern, /\(\?[=!<]|\\[1-9]|\\[bB]/, `${path}: ${node.pattern}`);
    assert.ok(node.pattern.startsWith('^') && node.pattern.endsWith('$'), path);
  }
});

test('every default is valid for its own node, as the apiserver requires', () => {
  const ajv = new Ajv({ strict: false });
  ajvFormats.default(ajv, ['date-time']);
  const defaulted = nodes.filter(([, node]) => node.default !== undefined);
  assert.ok(defaulted.length > 20);
  for (const [path, node] of defaulted) {
    assert.ok(ajv.validate(node, node.default), `${path}: ${JSON.stringify(node.default)}`);
  }
});

test('spec and status are the subtrees a CRD generator picks', () => {
  const { spec, status } = plainSchema(FlashSaleSchema).properties ?? {};
  assert.deepEqual(spec, plainSchema(FlashSaleSpecSchema));
  assert.deepEqual(status, plainSchema(FlashSaleStatusSchema));
});

test('every rule hangs on a schema node, and its fieldPath names a field below it', () => {
  const byPath = new Map<string, SchemaNode>(nodes);
  for (const rule of celRules) {
    assert.ok(byPath.has(rule.path), rule.path);
    if (rule.fieldPath !== undefined) {
      assert.ok(byPath.has(rule.path + rule.fieldPath), rule.path + rule.fieldPath);
    }
  }
});

test('an object default is complete: the apiserver checks CEL against it as written', () => {
  const ajv = new Ajv({ strict: false, useDefaults: true });
  for (const [path, node] of nodes) {
    if (node.type !== 'object' || node.default === undefined) continue;
    const filled = structuredClone(node.default);
    ajv.validate(node, filled);
    assert.deepEqual(filled, node.default, `${path}: the default leaves nested defaults unfilled`);
  }
});
