// The Redis a namespace's injected sidecars use (contract C2): the Secret `flashguard-redis`,
// kept in every namespace with a sale that guards a workload. A sidecar can reach one Redis, so
// the namespace's earliest such sale decides it; a later sale on another Redis must wait. Pure.
import type { SaleSettings } from '../api/v1alpha1/index.ts';
import type { SaleObject } from './informer.ts';
import { claimOf, isEarlier, workloadName, type SaleClaim } from './overlap.ts';
import { CA_KEY, targetHost, type RedisTarget } from './redis-target.ts';

export const NAMESPACE_SECRET = 'flashguard-redis';
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'flashguard-operator' };

/** The live workload-guarding sales of `namespace` in the cache, earliest first. */
export function guardingSales(
  namespace: string,
  cache: Iterable<SaleObject>,
  settingsOf: (sale: SaleObject) => SaleSettings | undefined,
): { sale: SaleObject; claim: SaleClaim }[] {
  const found: { sale: SaleObject; claim: SaleClaim }[] = [];
  for (const sale of cache) {
    const { metadata } = sale;
    if (metadata.namespace !== namespace || metadata.deletionTimestamp !== undefined) continue;
    if (workloadName(sale) === undefined) continue;
    const settings = settingsOf(sale);
    const claim = settings === undefined ? undefined : claimOf(sale, settings);
    if (claim !== undefined) found.push({ sale, claim });
  }
  return found.sort((a, b) => (isEarlier(a.claim, b.claim) ? -1 : 1));
}

/** One Redis server, whatever the credentials or CA used to reach it. */
export function sameRedis(a: RedisTarget, b: RedisTarget): boolean {
  return targetHost(a) === targetHost(b);
}

/** The Secret's `stringData` for a target. */
export function namespaceSecretData(target: RedisTarget): Record<string, string> {
  return target.ca === undefined ? { url: target.url } : { url: target.url, [CA_KEY]: target.ca };
}

export function redisConflictMessage(
  namespace: string,
  owner: string,
  theirs: RedisTarget,
  mine: RedisTarget,
): string {
  return (
    `the sidecars of namespace ${namespace} use the Redis at ${targetHost(theirs)} ` +
    `(FlashSale ${owner}, created first); this sale's Redis is at ${targetHost(mine)}: ` +
    'sales guarding workloads in one namespace must share one Redis'
  );
}
