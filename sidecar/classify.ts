// Is this request a sale checkout, and for which sale, SKU, quantity and user? Pure: the request
// parts in, a decision out. Runs only for requests whose method and path match a sale's route.
import type { IncomingHttpHeaders } from 'node:http';
import type { SaleSettings, ValueSourceSettings } from '../api/v1alpha1/index.ts';
import {
  MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_QUANTITY,
  MAX_USER_LENGTH,
  SKU_PATTERN,
} from '../ledger/index.ts';
import { problem, type Problem } from './problems.ts';

export interface RoutedSale {
  settings: SaleSettings;
}

export interface CheckoutRequest<S> {
  sale: S;
  sku: string;
  quantity: number;
  user: string;
  idempotencyKey: string | undefined;
}

export type Classification<S> =
  | { kind: 'pass' }
  | { kind: 'invalid'; problem: Problem }
  | { kind: 'checkout'; checkout: CheckoutRequest<S> };

export interface RequestParts {
  headers: IncomingHttpHeaders;
  /** The query string (parsed only when a sale reads a field from it), or its parameters. */
  query: URLSearchParams | string;
  /** The raw body; classification decodes it only when a sale reads fields from it. */
  body: Buffer;
}

// eslint-disable-next-line no-control-regex -- control characters are exactly what we reject
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

const invalid = (detail: string, field?: string): { kind: 'invalid'; problem: Problem } => ({
  kind: 'invalid',
  problem: problem('invalid-request', detail, field === undefined ? {} : { field }),
});

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

function bodyError(error: string): { error: string } {
  return { error, [BODY_ERROR]: true } as { error: string };
}

/** Parses the body as a JSON object (once, only if some sale needs it). */
function jsonBody(body: Buffer): Record<string, unknown> | { error: string } {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return bodyError('the body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return bodyError('the body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return bodyError('the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

interface Lazy {
  query: () => URLSearchParams;
  body: () => Record<string, unknown> | { error: string };
}

function read(source: ValueSourceSettings, parts: RequestParts, lazy: Lazy): unknown {
  switch (source.source) {
    case 'Header':
      return header(parts.headers, source.name);
    case 'Query':
      return lazy.query().get(source.name) ?? undefined;
    case 'Body': {
      const parsed = lazy.body();
      return isBodyError(parsed) ? parsed : parsed[source.name];
    }
  }
}

/** jsonBody's failure; a body whose own field is named `error` is not one (it has no marker). */
const BODY_ERROR = Symbol('body error');
function isBodyError(value: unknown): value is { error: string } {
  return typeof value === 'object' && value !== null && BODY_ERROR in value;
}

function quantityOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\d{1,9}$/.test(value)) return Number(value);
  return undefined;
}

/**
 * Decides among the sales whose checkout route matched. The SKU says which sale it is; a SKU in
 * no sale is not a sale checkout and passes through. Any doubt about a sale checkout is a 400:
 * a request we cannot read must not reach the shop unguarded.
 */
export function classify<S extends RoutedSale>(
  candidates: readonly S[],
  parts: RequestParts,
): Classification<S> {
  let parsed: Record<string, unknown> | { error: string } | undefined;
  let params: URLSearchParams | undefined;
  const lazy: Lazy = {
    body: () => (parsed ??= jsonBody(parts.body)),
    query: () =>
      (params ??= typeof parts.query === 'string' ? new URLSearchParams(parts.query) : parts.query),
  };
  for (const sale of candidates) {
    const { checkout, items } = sale.settings;
    const rawSku = read(checkout.sku, parts, lazy);
    if (isBodyError(rawSku)) return invalid(rawSku.error);
    const sku = typeof rawSku === 'number' ? String(rawSku) : rawSku;
    if (typeof sku !== 'string' || !SKU_PATTERN.test(sku)) continue;
    if (!items.some((item) => item.sku === sku)) continue;

    if (header(parts.headers, checkout.reservationHeader) !== undefined) {
      return invalid(`the ${checkout.reservationHeader} header is set by Flashguard only`);
    }
    const rawQuantity = read(checkout.quantity, parts, lazy);
    if (isBodyError(rawQuantity)) return invalid(rawQuantity.error);
    if (rawQuantity === undefined)
      return invalid('the quantity is missing', checkout.quantity.name);
    const quantity = quantityOf(rawQuantity);
    if (quantity === undefined || !Number.isInteger(quantity) || quantity < 1) {
      return invalid('the quantity must be a positive integer', checkout.quantity.name);
    }
    if (quantity > MAX_QUANTITY) {
      return invalid(`the quantity must be at most ${MAX_QUANTITY}`, checkout.quantity.name);
    }
    const user = header(parts.headers, checkout.userHeader);
    if (user === undefined || user === '') {
      return invalid(`the ${checkout.userHeader} header is missing`, checkout.userHeader);
    }
    if (user.length > MAX_USER_LENGTH || CONTROL_CHARACTERS.test(user)) {
      return invalid(
        `the ${checkout.userHeader} header is not a valid user id`,
        checkout.userHeader,
      );
    }
    const key = header(parts.headers, checkout.idempotencyKeyHeader);
    if (
      key !== undefined &&
      (key === '' || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || CONTROL_CHARACTERS.test(key))
    ) {
      return invalid(
        `the ${checkout.idempotencyKeyHeader} header must be 1-${MAX_IDEMPOTENCY_KEY_LENGTH} characters`,
        checkout.idempotencyKeyHeader,
      );
    }
    return { kind: 'checkout', checkout: { sale, sku, quantity, user, idempotencyKey: key } };
  }
  return { kind: 'pass' };
}
