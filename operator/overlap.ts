// Two sales guarding the same workload must not sell the same SKU at the same time: a sidecar
// would not know which ledger a checkout reserves from. Pure: decided over the informer's cache.
import type { SaleSettings } from '../api/v1alpha1/index.ts';
import type { SaleObject } from './informer.ts';

/** A sale as far as overlap goes: who it is, when it was created, what it guards and when. */
export interface SaleClaim {
  namespace: string;
  name: string;
  creationTimestamp: string;
  workload: { kind: string; name: string };
  skus: readonly string[];
  window: { startMs: number; endMs: number };
}

/** The sale's claim, or undefined when it guards no workload (nothing to collide on). */
export function claimOf(sale: SaleObject, settings: SaleSettings): SaleClaim | undefined {
  if (settings.workload === null) return undefined;
  const { namespace, name, creationTimestamp } = sale.metadata;
  return {
    namespace,
    name,
    creationTimestamp,
    workload: settings.workload,
    skus: settings.items.map((i) => i.sku),
    window: settings.window,
  };
}

/** The name of the workload a cached sale's spec names, without validating the whole spec. */
export function workloadName(sale: SaleObject): string | undefined {
  const spec = sale.spec as { workload?: { name?: unknown } } | undefined;
  return typeof spec?.workload?.name === 'string' ? spec.workload.name : undefined;
}

/**
 * The claims of the other live sales in the cache that name the same workload in the same
 * namespace; only those are validated, so a reconcile does not re-validate every cached sale.
 */
export function claimsBeside(
  mine: SaleClaim,
  cache: Iterable<SaleObject>,
  settingsOf: (sale: SaleObject) => SaleSettings | undefined,
): SaleClaim[] {
  const claims: SaleClaim[] = [];
  for (const sale of cache) {
    const { namespace, name, deletionTimestamp } = sale.metadata;
    if (namespace !== mine.namespace || name === mine.name || deletionTimestamp !== undefined) {
      continue;
    }
    if (workloadName(sale) !== mine.workload.name) continue;
    const settings = settingsOf(sale);
    const claim = settings === undefined ? undefined : claimOf(sale, settings);
    if (claim !== undefined) claims.push(claim);
  }
  return claims;
}

/** Creation order, then name: a total order every replica agrees on. */
export function isEarlier(a: SaleClaim, b: SaleClaim): boolean {
  if (a.creationTimestamp !== b.creationTimestamp) {
    return Date.parse(a.creationTimestamp) < Date.parse(b.creationTimestamp);
  }
  return a.name < b.name;
}

/** Same namespace and workload, a SKU in common, windows that intersect. */
export function collides(a: SaleClaim, b: SaleClaim): boolean {
  return (
    a.namespace === b.namespace &&
    a.workload.kind === b.workload.kind &&
    a.workload.name === b.workload.name &&
    a.skus.some((sku) => b.skus.includes(sku)) &&
    a.window.startMs < b.window.endMs &&
    b.window.startMs < a.window.endMs
  );
}

/**
 * The earliest sale that `mine` collides with and that came first, if any: then `mine` must
 * wait. Sales being deleted no longer count. (An earlier sale that itself waits still counts:
 * the rule stays one comparison per pair, whatever order reconciles run in.)
 */
export function earlierCollision(
  mine: SaleClaim,
  others: Iterable<SaleClaim>,
): SaleClaim | undefined {
  let first: SaleClaim | undefined;
  for (const other of others) {
    if (!isEarlier(other, mine) || !collides(mine, other)) continue;
    if (first === undefined || isEarlier(other, first)) first = other;
  }
  return first;
}

export function collisionMessage(mine: SaleClaim, earlier: SaleClaim): string {
  const shared = mine.skus.filter((sku) => earlier.skus.includes(sku));
  return (
    `FlashSale ${earlier.name} (created first) also sells ${shared.join(', ')} through ` +
    `${mine.workload.kind}/${mine.workload.name} in an overlapping window; ` +
    'change the SKUs or the window of one of them, or delete one'
  );
}
