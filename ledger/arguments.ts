// Argument checks for the Ledger API. They run before any Redis call, so a bad request can never
// touch stock; each failure names the argument and says why.

export class LedgerArgumentError extends Error {
  readonly argument: string;
  constructor(argument: string, reason: string) {
    super(`${argument}: ${reason}`);
    this.name = 'LedgerArgumentError';
    this.argument = argument;
  }
}

/** Same rule as the FlashSale spec's item SKUs; keeps keys and event payloads free of quoting. */
export const SKU_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
/** The ids this ledger makes (22 base64url characters) and any caller-chosen id of that alphabet. */
export const RESERVATION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_QUANTITY = 1000;
export const MAX_USER_LENGTH = 256;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 256;
export const MAX_OUTCOME_BYTES = 8192;
export const TTL_BOUNDS_MS = { min: 1000, max: 3_600_000 } as const;

// eslint-disable-next-line no-control-regex -- control characters are exactly what we reject
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

export function checkSku(sku: unknown, argument = 'sku'): string {
  if (typeof sku !== 'string' || !SKU_PATTERN.test(sku)) {
    throw new LedgerArgumentError(argument, 'must be 1-64 characters of A-Z a-z 0-9 . _ : -');
  }
  return sku;
}

export function checkUser(user: unknown): string {
  if (typeof user !== 'string' || user.length === 0 || user.length > MAX_USER_LENGTH) {
    throw new LedgerArgumentError(
      'user',
      `must be a non-empty string of at most ${MAX_USER_LENGTH}`,
    );
  }
  if (CONTROL_CHARACTERS.test(user)) {
    throw new LedgerArgumentError('user', 'must not contain control characters');
  }
  return user;
}

export function checkIdempotencyKey(key: unknown): string {
  if (
    typeof key !== 'string' ||
    key.length === 0 ||
    key.length > MAX_IDEMPOTENCY_KEY_LENGTH ||
    CONTROL_CHARACTERS.test(key)
  ) {
    throw new LedgerArgumentError(
      'idempotencyKey',
      `must be 1-${MAX_IDEMPOTENCY_KEY_LENGTH} characters without control characters`,
    );
  }
  return key;
}

export function checkQuantity(quantity: unknown): number {
  if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1) {
    throw new LedgerArgumentError('quantity', 'must be a positive integer');
  }
  if (quantity > MAX_QUANTITY) {
    throw new LedgerArgumentError('quantity', `must be at most ${MAX_QUANTITY}`);
  }
  return quantity;
}

export function checkTtlMs(ttlMs: unknown): number {
  if (
    typeof ttlMs !== 'number' ||
    !Number.isInteger(ttlMs) ||
    ttlMs < TTL_BOUNDS_MS.min ||
    ttlMs > TTL_BOUNDS_MS.max
  ) {
    throw new LedgerArgumentError(
      'ttlMs',
      `must be an integer from ${TTL_BOUNDS_MS.min} to ${TTL_BOUNDS_MS.max}`,
    );
  }
  return ttlMs;
}

export function checkReservationId(id: unknown): string {
  if (typeof id !== 'string' || !RESERVATION_ID_PATTERN.test(id)) {
    throw new LedgerArgumentError('reservation.id', 'must be 1-64 characters of A-Z a-z 0-9 _ -');
  }
  return id;
}

export function checkOutcome(outcome: unknown): string {
  if (typeof outcome !== 'string' || Buffer.byteLength(outcome) > MAX_OUTCOME_BYTES) {
    throw new LedgerArgumentError(
      'outcome',
      `must be a string of at most ${MAX_OUTCOME_BYTES} bytes`,
    );
  }
  return outcome;
}

export function checkNonNegativeInteger(value: unknown, argument: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new LedgerArgumentError(argument, `must be an integer from 0 to ${max}`);
  }
  return value;
}
