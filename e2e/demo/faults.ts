// Faults the demo checkout app can inject, for reliability tests: the ways a real shop fails
// behind the sidecar. Pure: validation and the per-request draw.

export interface Faults {
  /** Share of checkouts answered 500 without committing. */
  failRatio: number;
  /** Every answer waits this long first (the order is committed after the wait). */
  delayMs: number;
  /** Share of checkouts whose order is committed but never answered: the answer is lost. */
  commitThenHangRatio: number;
  /** Share of checkouts whose connection is reset without an answer and without an order. */
  resetRatio: number;
}

export const noFaults: Faults = { failRatio: 0, delayMs: 0, commitThenHangRatio: 0, resetRatio: 0 };

export type FaultAction = 'none' | 'fail' | 'commit-then-hang' | 'reset';

const RATIOS = ['failRatio', 'commitThenHangRatio', 'resetRatio'] as const;
const MAX_DELAY_MS = 600_000;

export class FaultsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FaultsError';
  }
}

/** `current` with the fields of `patch` applied; throws FaultsError naming a bad field. */
export function mergeFaults(current: Faults, patch: unknown): Faults {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new FaultsError('faults must be a JSON object');
  }
  const next = { ...current };
  for (const [field, value] of Object.entries(patch)) {
    if (field === 'delayMs') {
      if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_DELAY_MS) {
        throw new FaultsError(`delayMs must be an integer from 0 to ${MAX_DELAY_MS}`);
      }
      next.delayMs = value as number;
    } else if ((RATIOS as readonly string[]).includes(field)) {
      if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
        throw new FaultsError(`${field} must be a number from 0 to 1`);
      }
      next[field as (typeof RATIOS)[number]] = value;
    } else {
      throw new FaultsError(`unknown fault ${JSON.stringify(field)}`);
    }
  }
  // One draw per request picks at most one fault, so the shares must fit in one.
  if (next.failRatio + next.commitThenHangRatio + next.resetRatio > 1) {
    throw new FaultsError('failRatio + commitThenHangRatio + resetRatio must be at most 1');
  }
  return next;
}

/** The fault for one request, from a uniform draw in [0, 1). */
export function pickFault(faults: Faults, draw: number): FaultAction {
  let bound = faults.resetRatio;
  if (draw < bound) return 'reset';
  bound += faults.failRatio;
  if (draw < bound) return 'fail';
  bound += faults.commitThenHangRatio;
  if (draw < bound) return 'commit-then-hang';
  return 'none';
}
