// The per-workload sale index (contract C3): the operator adds a sale to the set of the workload
// it guards and removes it when the sale goes or guards another; workload-mode sidecars read it.
import { workloadIndexKey, type WorkloadRef } from './keys.ts';
import type { LedgerClient } from './scripts.ts';

/** `namespace/Kind/name` (FLASHGUARD_WORKLOAD, --workload) → the workload, or undefined. */
export function parseWorkloadRef(text: string): WorkloadRef | undefined {
  const [namespace, kind, name, ...rest] = text.split('/');
  if (rest.length > 0 || !namespace || !kind || !name) return undefined;
  return { namespace, kind, name };
}

export function formatWorkloadRef(workload: WorkloadRef): string {
  return `${workload.namespace}/${workload.kind}/${workload.name}`;
}

export async function indexSale(
  client: LedgerClient,
  workload: WorkloadRef,
  sale: string,
): Promise<void> {
  await client.sadd(workloadIndexKey(workload), sale);
}

export async function unindexSale(
  client: LedgerClient,
  workload: WorkloadRef,
  sale: string,
): Promise<void> {
  await client.srem(workloadIndexKey(workload), sale);
}

/** The names of the sales guarding `workload`, sorted (a stable order for the sidecar). */
export async function indexedSales(client: LedgerClient, workload: WorkloadRef): Promise<string[]> {
  return (await client.smembers(workloadIndexKey(workload))).sort();
}
