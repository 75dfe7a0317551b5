// From a FlashSale's settings to the ledger's preload plan, and whether a loaded ledger already
// holds exactly what the settings say. Pure; shared by the operator and the standalone sidecar.
import type { SaleSettings } from '../api/v1alpha1/index.ts';
import type { PreloadPlan } from './ledger.ts';
import type { LedgerSnapshot } from './snapshot.ts';

export function preloadPlan(
  settings: SaleSettings,
  generation: number,
  lastSeen?: PreloadPlan['lastSeen'],
): PreloadPlan {
  return {
    generation,
    window: settings.window,
    retentionMs: settings.reservation.idempotencyRetentionSeconds * 1000,
    items: settings.items,
    ...(lastSeen === undefined ? {} : { lastSeen }),
  };
}

/** True when the ledger holds exactly the settings' window, SKUs, stock and per-user limits. */
export function ledgerMatches(snapshot: LedgerSnapshot, settings: SaleSettings): boolean {
  return (
    snapshot.window.startMs === settings.window.startMs &&
    snapshot.window.endMs === settings.window.endMs &&
    snapshot.items.length === settings.items.length &&
    settings.items.every((item, i) => {
      const loaded = snapshot.items[i];
      return (
        loaded !== undefined &&
        loaded.sku === item.sku &&
        loaded.total === item.stock &&
        loaded.perUserLimit === item.perUserLimit
      );
    })
  );
}
