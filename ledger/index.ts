// The Redis contract shared by the operator and the sidecar.
export * from './arguments.ts';
export * from './events.ts';
export * from './keys.ts';
export * from './ledger.ts';
export * from './outcomes.ts';
export * from './snapshot.ts';
export { registerScripts, scriptSha, scriptSources, type LedgerClient } from './scripts.ts';
export * from './plan.ts';
export * from './reaper.ts';
export * from './workloads.ts';
