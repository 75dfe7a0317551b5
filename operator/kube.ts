// Small facts about talking to the apiserver with client-node, shared by the operator's parts.

/** The HTTP status of a failed client-node call; undefined for anything else (Redis, network). */
export function statusCode(error: unknown): number | undefined {
  return typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    typeof error.code === 'number'
    ? error.code
    : undefined;
}
