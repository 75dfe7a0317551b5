// The one catalogue of the sidecar's own answers: RFC 9457 problem details with a stable `type`
// per outcome. Clients branch on `type`; titles are for people.

export const PROBLEM_BASE = 'https://flashguard.dev/problems/';

export const problemCatalogue = {
  'invalid-request': { status: 400, title: 'The checkout request is invalid' },
  'body-too-large': { status: 413, title: 'The request body is too large' },
  'per-user-limit': { status: 403, title: 'This would exceed the per-user limit' },
  'sold-out': { status: 409, title: 'Sold out' },
  'not-started': { status: 409, title: 'The sale has not started yet' },
  'in-progress': {
    status: 409,
    title: 'A request with this Idempotency-Key is still in progress',
  },
  ended: { status: 410, title: 'The sale has ended' },
  'key-reused': {
    status: 422,
    title: 'This Idempotency-Key was used for a different checkout',
  },
  'rate-limited': { status: 429, title: 'Too many checkouts right now' },
  'upstream-unavailable': { status: 503, title: 'The checkout service is unavailable' },
  'ledger-unavailable': { status: 503, title: 'The stock ledger is unavailable' },
  'outcome-unknown': {
    status: 504,
    title: 'The checkout service did not answer; the order may or may not exist',
  },
} as const satisfies Record<string, { status: number; title: string }>;

export type ProblemName = keyof typeof problemCatalogue;

export interface Problem {
  name: ProblemName;
  status: number;
  /** Seconds, for the Retry-After header. */
  retryAfter?: number;
  /** The JSON body, `application/problem+json`. */
  body: Record<string, unknown>;
}

export function problem(
  name: ProblemName,
  detail: string,
  extensions: Record<string, unknown> = {},
  retryAfter?: number,
): Problem {
  const { status, title } = problemCatalogue[name];
  return {
    name,
    status,
    retryAfter,
    body: { type: PROBLEM_BASE + name, title, status, detail, ...extensions },
  };
}
