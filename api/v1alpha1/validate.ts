// validateFlashSale: the schema (Ajv, compiled once) and then the cross-field rules, with every
// error naming its field the way the apiserver does (spec.items[1].sku).
import { Ajv, type DefinedError } from 'ajv';
import ajvFormats from 'ajv-formats';
import { FlashSaleSchema, type FlashSale } from './schema.ts';
import { celRules, ruleField } from './rules.ts';
import { withDefaults, type SaleSettings } from './settings.ts';
import { plainSchema, type SchemaNode } from './schema-walk.ts';

export interface ValidationError {
  /** apiserver-style path: 'spec.items[1].sku'; '' for the document as a whole. */
  field: string;
  /** Names the field and says why. */
  message: string;
  /** 1-based line in the source YAML, when the object came from one. */
  line?: number;
}

export type ValidationResult =
  { ok: true; value: FlashSale; settings: SaleSettings } | { ok: false; errors: ValidationError[] };

// Unknown fields are errors, as with kubectl's default strict field validation (a typo must not
// silently fall back to a default). The exported schema stays open, as structural schemas
// require; only the compiled copy is closed. metadata stays open for labels, annotations...
function closeObjects(node: SchemaNode, key = ''): SchemaNode {
  const closed: SchemaNode = { ...node };
  if (node.properties) {
    closed.properties = Object.fromEntries(
      Object.entries(node.properties).map(([name, child]) => [name, closeObjects(child, name)]),
    );
    if (key !== 'metadata') closed.additionalProperties = false;
  }
  if (node.items) closed.items = closeObjects(node.items);
  return closed;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: true });
// ajv-formats is CommonJS; its function is the default export's `default` under NodeNext typing.
ajvFormats.default(ajv, ['date-time']);
const schemaCheck = ajv.compile<FlashSale>(closeObjects(plainSchema(FlashSaleSchema)));

/**
 * A copy without null-valued properties. No FlashSale field is nullable, and the apiserver drops
 * such nulls before defaulting (`checkout:` with nothing after it means "the defaults"), so we do.
 */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, withoutNulls(v)]),
  );
}

/** Validates a whole FlashSale (defaults applied to a copy, as the apiserver would); pure. */
export function validateFlashSale(obj: unknown): ValidationResult {
  const value: unknown = withoutNulls(obj);
  if (!schemaCheck(value)) {
    return { ok: false, errors: schemaErrors((schemaCheck.errors ?? []) as DefinedError[]) };
  }
  const settings = withDefaults(value.spec);
  const errors = celRules
    .filter((rule) => !rule.check(settings))
    .map((rule) => error(ruleField(rule), rule.message));
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value, settings };
}

function schemaErrors(ajvErrors: DefinedError[]): ValidationError[] {
  const byField = new Map<string, ValidationError>();
  for (const e of ajvErrors) {
    const converted = convert(e);
    // A bad timestamp fails both format and pattern: one message per field is enough.
    if (!byField.has(converted.field)) byField.set(converted.field, converted);
  }
  return [...byField.values()];
}

function convert(e: DefinedError): ValidationError {
  const field = fieldOf(e.instancePath);
  switch (e.keyword) {
    case 'required':
      return error(join(field, e.params.missingProperty), 'is required');
    case 'additionalProperties':
      return error(join(field, e.params.additionalProperty), 'is not a known field');
    case 'enum':
      return error(field, `must be one of ${e.params.allowedValues.join(', ')}${got(e.data)}`);
    case 'format':
      return error(field, timestampWhy + got(e.data));
    case 'pattern':
      // Timestamps carry a pattern beside their format; say what a timestamp looks like.
      if (isTimestamp(e.parentSchema)) return error(field, timestampWhy + got(e.data));
      return error(field, `must match ${e.params.pattern}${got(e.data)}`);
    default:
      return error(field, `${e.message ?? 'is invalid'}${got(e.data)}`);
  }
}

const timestampWhy = 'must be an RFC 3339 date-time with a zone, like 2025-11-28T10:00:00Z';

function isTimestamp(schema: unknown): boolean {
  return (schema as { format?: string } | undefined)?.format === 'date-time';
}

function error(field: string, why: string): ValidationError {
  return { field, message: `${field === '' ? 'the document' : field} ${why}` };
}

function got(data: unknown): string {
  if (typeof data === 'object' && data !== null) return '';
  const text = JSON.stringify(data);
  return ` (got ${text.length > 80 ? `${text.slice(0, 77)}...` : text})`;
}

/** '/spec/items/1/sku' → 'spec.items[1].sku' */
function fieldOf(instancePath: string): string {
  if (instancePath === '') return '';
  return instancePath
    .slice(1)
    .split('/')
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce(join, '');
}

function join(field: string, segment: string): string {
  if (/^\d+$/.test(segment)) return `${field}[${segment}]`;
  return field === '' ? segment : `${field}.${segment}`;
}
