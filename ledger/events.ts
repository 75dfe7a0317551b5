// The sale's events channel: what sidecars subscribe to so they can answer from local state.
import type { LedgerClient } from './scripts.ts';
import { saleKeys, type SaleRef } from './keys.ts';

export type SaleEvent =
  | { type: 'sold-out'; sku: string }
  | { type: 'restock'; sku: string }
  | { type: 'config' }
  | { type: 'ended' };

const TYPES = new Set(['sold-out', 'restock', 'config', 'ended']);

/** Parses a channel message; `undefined` for anything that is not a sale event. */
export function parseSaleEvent(message: string): SaleEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { type, sku } = value as { type?: unknown; sku?: unknown };
  if (typeof type !== 'string' || !TYPES.has(type)) return undefined;
  if (type === 'sold-out' || type === 'restock') {
    return typeof sku === 'string' ? { type, sku } : undefined;
  }
  return { type } as SaleEvent;
}

export function formatSaleEvent(event: SaleEvent): string {
  return JSON.stringify(event);
}

/**
 * Subscribes `subscriber` (a connection dedicated to pub/sub) to the sales' channels. Returns a
 * function that unsubscribes. Events can be missed while disconnected: readers also poll.
 */
export async function subscribeSaleEvents(
  subscriber: LedgerClient,
  sales: readonly SaleRef[],
  onEvent: (sale: SaleRef, event: SaleEvent) => void,
): Promise<() => Promise<void>> {
  const byChannel = new Map(sales.map((sale) => [saleKeys(sale).events, sale]));
  const listener = (channel: string, message: string): void => {
    const sale = byChannel.get(channel);
    const event = parseSaleEvent(message);
    if (sale !== undefined && event !== undefined) onEvent(sale, event);
  };
  subscriber.on('message', listener);
  const channels = [...byChannel.keys()];
  await subscriber.subscribe(...channels);
  return async () => {
    subscriber.off('message', listener);
    await subscriber.unsubscribe(...channels);
  };
}
