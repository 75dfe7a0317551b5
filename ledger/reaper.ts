// One reaper round for a sale: expired pending reservations become in-doubt (ledger), then
// in-doubt ones are settled by asking the shop's order-status endpoint, when the sale has one.
// Without an endpoint they stay held: undersell, never oversell.
import { request } from 'undici';
import type { SaleLedger } from './ledger.ts';
import type { ReservationRecord } from './snapshot.ts';

export interface OrderStatusEndpoint {
  /** URL template with `{reservation}`. */
  url: string;
  timeoutMilliseconds: number;
}

export type ShopAnswer = 'committed' | 'not-committed' | 'unknown';

const SHOP_QUESTIONS_AT_ONCE = 8;

/** The shop's contract: 200 = committed, 404 = not committed, anything else = ask again later. */
export function shopAnswerFor(status: number): ShopAnswer {
  if (status === 200) return 'committed';
  if (status === 404) return 'not-committed';
  return 'unknown';
}

export async function askShop(
  endpoint: OrderStatusEndpoint,
  reservationId: string,
): Promise<ShopAnswer> {
  const url = endpoint.url.replaceAll('{reservation}', encodeURIComponent(reservationId));
  try {
    const { statusCode, body } = await request(url, {
      headersTimeout: endpoint.timeoutMilliseconds,
      bodyTimeout: endpoint.timeoutMilliseconds,
    });
    await body.dump();
    return shopAnswerFor(statusCode);
  } catch {
    return 'unknown';
  }
}

export interface ReapReport {
  /** Expired pending reservations moved to in-doubt this round. */
  expired: number;
  confirmed: number;
  released: number;
  /** In-doubt reservations still waiting for an answer. */
  unresolved: number;
}

export async function reapOnce(
  ledger: SaleLedger,
  orderStatus: OrderStatusEndpoint | null,
  batch = 100,
  ask: (id: string) => Promise<ShopAnswer> = (id) =>
    orderStatus === null ? Promise.resolve('unknown') : askShop(orderStatus, id),
): Promise<ReapReport> {
  const expired = (await ledger.reap(batch)).length;
  const report: ReapReport = { expired, confirmed: 0, released: 0, unresolved: 0 };
  const inDoubt: ReservationRecord[] = await ledger.inDoubt(batch);
  if (orderStatus === null) {
    report.unresolved = inDoubt.length;
    return report;
  }
  const settle = async (record: ReservationRecord): Promise<void> => {
    const answer = await ask(record.id);
    const reservation = { id: record.id, sku: record.sku };
    if (answer === 'committed' && (await ledger.confirm(reservation)).kind === 'settled') {
      report.confirmed += 1;
    } else if (
      answer === 'not-committed' &&
      (await ledger.release(reservation)).kind === 'settled'
    ) {
      report.released += 1;
    } else {
      report.unresolved += 1;
    }
  };
  // A few questions at a time: a slow shop must not stretch a round to batch × timeout.
  for (let i = 0; i < inDoubt.length; i += SHOP_QUESTIONS_AT_ONCE) {
    await Promise.all(inDoubt.slice(i, i + SHOP_QUESTIONS_AT_ONCE).map(settle));
  }
  return report;
}
