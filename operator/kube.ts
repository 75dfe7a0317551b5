// Small facts about talking to the apiserver with client-node, shared by the operator's parts.
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';

/** The HTTP status of a failed client-node call; undefined for anything else (Redis, network). */
export function statusCode(error: unknown): number | undefined {
  return typeof error === 'object' &&
    error !== null &&
    'code' in error &&
    typeof error.code === 'number'
    ? error.code
    : undefined;
}

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/**
 * A KubeConfig whose calls share one connection pool per context. client-node 2.0.1 builds a new
 * undici Agent for every request, so each call opened its own TLS connection and each left a
 * keep-alive socket and TLS state behind until it idled out: with 1,000 sales that was hundreds
 * of MB (`npm run bench -- operator`). Reusing the first Agent keeps connections alive and few.
 */
export class PooledKubeConfig extends KubeConfig {
  readonly #dispatchers = new Map<string, Dispatcher>();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (fresh === undefined) return;
    const pooled = this.#dispatchers.get(this.currentContext);
    if (pooled === undefined) {
      this.#dispatchers.set(this.currentContext, fresh);
      return;
    }
    context.setDispatcher(pooled);
    // Never used, so it holds no connection; closing it settles at once.
    void fresh.close();
  }
}
