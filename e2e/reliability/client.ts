// A shopper's checkout against a sidecar, and the checks every reliability test makes on answers.
import assert from 'node:assert/strict';
import { specDefaults } from '../../api/v1alpha1/index.ts';
import { PROBLEM_BASE } from '../../sidecar/problems.ts';

export interface CheckoutAnswer {
  status: number;
  contentType: string;
  body: Record<string, unknown>;
}

/** POST /checkout of one unit (or `quantity`) of `sku` for `user`. */
export async function checkoutOnce(
  origin: string,
  order: { user: string; sku?: string; quantity?: number; key?: string },
): Promise<CheckoutAnswer> {
  const { userHeader, idempotencyKeyHeader } = specDefaults.checkout;
  const res = await fetch(`${origin}/checkout`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [userHeader]: order.user,
      ...(order.key === undefined ? {} : { [idempotencyKeyHeader]: order.key }),
    },
    body: JSON.stringify({ sku: order.sku ?? 'phone', quantity: order.quantity ?? 1 }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return {
    status: res.status,
    contentType: res.headers.get('content-type') ?? '',
    body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
  };
}

export function assertProblem(answer: CheckoutAnswer, status: number, type: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.match(answer.contentType, /^application\/problem\+json/);
  assert.equal(answer.body.type, PROBLEM_BASE + type);
}
