// Standalone mode (no Kubernetes): the sidecar loads its sale from a FlashSale file, makes the
// ledger match it, publishes its settings, and takes turns with other sidecars at the reaper.
import type { SaleSettings } from '../api/v1alpha1/index.ts';
import {
  ledgerMatches,
  preloadPlan,
  reapOnce,
  type ReapReport,
  type SaleLedger,
} from '../ledger/index.ts';

export class LedgerSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LedgerSetupError';
  }
}

/**
 * Loads the file's sale into the ledger unless it already holds exactly that; a changed file
 * becomes the next generation, keeping the units already sold.
 */
export async function ensureLedger(ledger: SaleLedger, settings: SaleSettings): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const snapshot = await ledger.snapshot();
    if (snapshot !== undefined && ledgerMatches(snapshot, settings)) break;
    const outcome = await ledger.preload(preloadPlan(settings, (snapshot?.generation ?? 0) + 1));
    if (outcome.kind === 'loaded' || outcome.kind === 'unchanged') break;
    if (outcome.kind === 'below-committed') {
      throw new LedgerSetupError(
        `stock of ${outcome.sku} cannot go below the ${outcome.committed} units already reserved or sold`,
      );
    }
    if (outcome.kind !== 'stale-generation') {
      throw new LedgerSetupError(`the ledger refused the sale: ${outcome.kind}`);
    }
    // Another sidecar loaded a generation meanwhile: look again.
  }
  await ledger.writeConfig(settings);
}

export interface ReaperLoop {
  stop(): Promise<void>;
}

/** Every interval: if this sidecar holds the sale's reaper lease, run one reaper round. */
export function startReaper(
  ledger: SaleLedger,
  holder: string,
  settings: () => SaleSettings,
  intervalMs: number,
  onRound: (report: ReapReport | Error) => void,
): ReaperLoop {
  let running: Promise<void> = Promise.resolve();
  const round = async () => {
    try {
      if (await ledger.holdReaperLease(holder, Math.max(1000, intervalMs * 3))) {
        onRound(await reapOnce(ledger, settings().orderStatus));
      }
    } catch (error) {
      onRound(error as Error);
    }
  };
  const timer = setInterval(() => {
    running = running.then(round);
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
