// The guard pipeline for one sale checkout, cheapest first: window and sold-out from local state
// (no Redis), this pod's token bucket, the upstream breaker, one atomic reserve, the forward, and
// the settlement of the reservation from what the shop answered. Decisions are the pure functions
// at the top; CheckoutPipeline does the I/O in between.
import type { ReplicaAck, Reservation, ReserveOutcome, SettleAction } from '../ledger/index.ts';
import type { CheckoutRequest } from './classify.ts';
import type { CheckoutOutcome, SidecarMetrics } from './metrics.ts';
import { problem, type Problem } from './problems.ts';
import type { GuardedSale } from './sales.ts';
import { forwardHeaders, type Upstream, type UpstreamResult } from './upstream.ts';

export interface Answer {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer | string;
  outcome: CheckoutOutcome;
}

/** Local clocks may run a little ahead or behind Redis' TIME, which has the final word. */
export const WINDOW_SKEW_MS = 1000;
/** Shop answers up to this size are kept for Idempotency-Key replays. */
const MAX_REPLAY_BODY_BYTES = 6000;
const SETTLE_RETRY_DELAYS_MS = [50, 250, 1000];

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function problemAnswer(p: Problem): Answer {
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (p.retryAfter !== undefined) headers['retry-after'] = String(p.retryAfter);
  return { status: p.status, headers, body: JSON.stringify(p.body), outcome: p.name };
}

/**
 * The sold-out problem and answer of each SKU, built once: in a storm nearly every checkout is
 * answered with one of them. Bounded by the SKUs of the guarded sales (classify admits no other).
 */
const soldOut = new Map<string, { problem: Problem; answer: Answer }>();

function soldOutFor(sku: string): { problem: Problem; answer: Answer } {
  let cached = soldOut.get(sku);
  if (cached === undefined) {
    const p = problem('sold-out', `${sku} is sold out`, { sku, available: 0 });
    const { status, headers, body, outcome } = problemAnswer(p);
    // Shared by every reply, so frozen. The body stays a string: Node writes a string body with
    // the head in one write(), a Buffer as a second chunk of a writev() (the storm bench's reject
    // path answered about 10 % fewer per second with a Buffer, alternating runs).
    const answer = { status, headers: Object.freeze(headers), body, outcome };
    Object.freeze(p.body);
    cached = { problem: Object.freeze(p), answer: Object.freeze(answer) };
    soldOut.set(sku, cached);
  }
  return cached;
}

/** The answer to a local rejection; the sold-out one comes ready-made. */
export function localAnswer(p: Problem, sku: string): Answer {
  const cached = p.name === 'sold-out' ? soldOut.get(sku) : undefined;
  return cached?.problem === p ? cached.answer : problemAnswer(p);
}

/** What local state alone can refuse: outside the window, or sold out. */
export function localRejection(
  sale: Pick<GuardedSale, 'settings' | 'soldOut'>,
  sku: string,
  nowMs: number,
): Problem | undefined {
  const { startMs, endMs } = sale.settings.window;
  if (nowMs < startMs - WINDOW_SKEW_MS) {
    return problem(
      'not-started',
      `the sale starts at ${new Date(startMs).toISOString()}`,
      { startsAt: new Date(startMs).toISOString() },
      seconds(startMs - nowMs),
    );
  }
  if (nowMs >= endMs + WINDOW_SKEW_MS) {
    return problem('ended', `the sale ended at ${new Date(endMs).toISOString()}`, {
      endedAt: new Date(endMs).toISOString(),
    });
  }
  if (sale.soldOut.has(sku)) return soldOutFor(sku).problem;
  return undefined;
}

/** The stored first answer to a checkout, replayed to a repeated Idempotency-Key. */
export function encodeReplay(result: Extract<UpstreamResult, { kind: 'answered' }>): string {
  const contentType = result.headers['content-type'];
  const keepBody = result.body.length <= MAX_REPLAY_BODY_BYTES;
  return JSON.stringify({
    status: result.status,
    ...(typeof contentType === 'string' && keepBody ? { contentType } : {}),
    ...(keepBody ? { body: result.body.toString('base64') } : {}),
  });
}

export function decodeReplay(
  state: 'confirmed' | 'released',
  stored: string | undefined,
  reservationId: string,
): Answer {
  const headers: Record<string, string> = { 'idempotent-replayed': 'true' };
  try {
    const { status, contentType, body } = JSON.parse(stored ?? '') as {
      status: number;
      contentType?: string;
      body?: string;
    };
    if (contentType !== undefined) headers['content-type'] = contentType;
    return {
      status,
      headers,
      body: body === undefined ? '' : Buffer.from(body, 'base64'),
      outcome: 'replayed',
    };
  } catch {
    // Settled without a stored answer (by the reaper, through the shop's order status).
    headers['content-type'] = 'application/json';
    return {
      status: state === 'confirmed' ? 200 : 409,
      headers,
      body: JSON.stringify({ reservation: reservationId, state }),
      outcome: 'replayed',
    };
  }
}

/** Everything but `reserved` ends the checkout here, with this answer (a replay included). */
export function answerForReserve(outcome: ReserveOutcome, sku: string): Answer | undefined {
  switch (outcome.kind) {
    case 'reserved':
      return undefined;
    case 'sold-out':
      return problemAnswer(
        problem(
          'sold-out',
          outcome.available === 0
            ? `${sku} is sold out`
            : `only ${outcome.available} left of ${sku}`,
          { sku, available: outcome.available },
        ),
      );
    case 'user-limit':
      return problemAnswer(
        problem('per-user-limit', `at most ${outcome.limit} of ${sku} per user`, {
          sku,
          limit: outcome.limit,
          held: outcome.held,
        }),
      );
    case 'not-started':
      return problemAnswer(
        problem('not-started', `the sale starts at ${new Date(outcome.startsAt).toISOString()}`, {
          startsAt: new Date(outcome.startsAt).toISOString(),
        }),
      );
    case 'ended':
      return problemAnswer(
        problem('ended', `the sale ended at ${new Date(outcome.endedAt).toISOString()}`, {
          endedAt: new Date(outcome.endedAt).toISOString(),
        }),
      );
    case 'in-progress':
      return problemAnswer(
        problem(
          'in-progress',
          'the first request with this Idempotency-Key has not finished',
          { state: outcome.state },
          1,
        ),
      );
    case 'key-reused':
      return problemAnswer(
        problem('key-reused', 'this Idempotency-Key was first used for another checkout', {
          sku: outcome.sku,
          quantity: outcome.quantity,
        }),
      );
    case 'replay':
      return decodeReplay(outcome.state, outcome.outcome, outcome.reservation.id);
    case 'unknown-sku':
    case 'no-sale':
      return problemAnswer(
        problem('ledger-unavailable', 'the sale is not loaded in the ledger', {}, 1),
      );
    case 'halted':
      // Fail closed: a ledger that went back in time could sell units twice. A human acts first.
      return problemAnswer(
        problem(
          'ledger-unavailable',
          `the sale's stock ledger is halted: ${outcome.reason}`,
          {},
          60,
        ),
      );
  }
}

export interface Settlement {
  action: SettleAction;
  /** Counts as a failure for the breaker. */
  failed: boolean;
  outcome: CheckoutOutcome;
}

/** From what happened upstream to what becomes of the reservation. */
export function settlementFor(result: UpstreamResult): Settlement {
  switch (result.kind) {
    case 'answered':
      if (result.status >= 200 && result.status < 300) {
        return { action: 'confirm', failed: false, outcome: 'committed' };
      }
      if (result.status >= 500) return { action: 'release', failed: true, outcome: 'shop-error' };
      return { action: 'release', failed: false, outcome: 'refused-by-shop' };
    case 'not-sent':
      return { action: 'release', failed: true, outcome: 'upstream-unavailable' };
    case 'lost':
      return { action: 'in-doubt', failed: true, outcome: 'outcome-unknown' };
  }
}

export interface PipelineOptions {
  upstream: Upstream;
  metrics: SidecarMetrics;
  clock: () => number;
  /** Replica-acknowledged mode (docs/reliability.md): an unacknowledged reserve is a 503. */
  replicaAck?: ReplicaAck;
  onSettleFailure: (reservation: Reservation, action: SettleAction, error: unknown) => void;
}

export interface RawRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export class CheckoutPipeline {
  readonly #options: PipelineOptions;
  readonly #settling = new Set<Promise<void>>();

  constructor(options: PipelineOptions) {
    this.#options = options;
  }

  /**
   * The answer to one sale checkout. What local state refuses is answered synchronously (no
   * promise, no extra tick: the reject path of a storm); an admitted checkout settles later.
   */
  handle(checkout: CheckoutRequest<GuardedSale>, request: RawRequest): Answer | Promise<Answer> {
    const { clock } = this.#options;
    const started = clock();
    const refused = this.#refuseLocally(checkout, started);
    if (refused !== undefined) return this.#counted(checkout, refused, started);
    return this.#admit(checkout, request).then((answer) =>
      this.#counted(checkout, answer, started),
    );
  }

  #counted(checkout: CheckoutRequest<GuardedSale>, answer: Answer, started: number): Answer {
    const { clock, metrics } = this.#options;
    metrics.checkout(checkout.sale.label, checkout.sku, answer.outcome, (clock() - started) / 1000);
    return answer;
  }

  /** Window, sold out, rate limit, breaker; undefined once a breaker permit is taken. */
  #refuseLocally(checkout: CheckoutRequest<GuardedSale>, now: number): Answer | undefined {
    const { sale, sku } = checkout;
    const local = localRejection(sale, sku, now);
    if (local !== undefined) return localAnswer(local, sku);

    const token = sale.bucket.take(now);
    if (!token.ok) {
      return problemAnswer(
        problem(
          'rate-limited',
          'too many checkouts right now; retry shortly',
          {},
          seconds(token.retryAfterMs),
        ),
      );
    }
    const permit = sale.breaker.tryAcquire(now);
    if (!permit.ok) {
      return problemAnswer(
        problem(
          'upstream-unavailable',
          'the checkout service is failing; retry shortly',
          {},
          seconds(permit.retryAfterMs),
        ),
      );
    }
    return undefined;
  }

  async #admit(checkout: CheckoutRequest<GuardedSale>, request: RawRequest): Promise<Answer> {
    const { sale, sku } = checkout;
    let reserved: ReserveOutcome;
    try {
      reserved = await sale.ledger.reserve({
        sku,
        user: checkout.user,
        quantity: checkout.quantity,
        idempotencyKey: checkout.idempotencyKey,
        ttlMs: sale.settings.reservation.ttlSeconds * 1000,
        replicaAck: this.#options.replicaAck,
      });
      this.#options.metrics.ledgerUp.set(1);
    } catch {
      sale.breaker.cancel(this.#options.clock());
      this.#options.metrics.ledgerUp.set(0);
      return problemAnswer(
        problem('ledger-unavailable', 'the stock ledger cannot be reached; retry shortly', {}, 1),
      );
    }
    const refused = answerForReserve(reserved, sku);
    if (refused !== undefined) {
      sale.breaker.cancel(this.#options.clock());
      if (reserved.kind === 'sold-out' && reserved.available === 0) sale.soldOut.add(sku);
      return refused;
    }
    if (reserved.kind !== 'reserved') throw new Error(`unhandled reserve outcome ${reserved.kind}`);
    if (reserved.available === 0) sale.soldOut.add(sku);
    return this.#forward(checkout, request, reserved.reservation);
  }

  async #forward(
    checkout: CheckoutRequest<GuardedSale>,
    request: RawRequest,
    reservation: Reservation,
  ): Promise<Answer> {
    const { sale } = checkout;
    const { upstream, metrics, clock } = this.#options;
    const { checkout: route } = sale.settings;
    const result = await upstream.send({
      method: request.method,
      path: request.url,
      headers: forwardHeaders(request.headers, {
        name: route.reservationHeader,
        value: reservation.id,
      }),
      body: request.body,
      timeoutMs: route.upstreamTimeoutMilliseconds,
    });
    metrics.upstreamDuration.observe(result.durationMs / 1000);
    const settlement = settlementFor(result);
    sale.breaker.record({ failed: settlement.failed, durationMs: result.durationMs }, clock());
    const stored = result.kind === 'answered' ? encodeReplay(result) : '';
    await this.#settle(sale, reservation, settlement.action, stored);

    if (result.kind === 'answered') {
      return {
        status: result.status,
        headers: forwardHeaders(result.headers),
        body: result.body,
        outcome: settlement.outcome,
      };
    }
    if (result.kind === 'not-sent') {
      return problemAnswer(
        problem('upstream-unavailable', 'the checkout service cannot be reached', {}, 1),
      );
    }
    return problemAnswer(
      problem(
        'outcome-unknown',
        'the checkout service did not answer in time; retry with the same Idempotency-Key to learn the outcome',
        { reservation: reservation.id },
        1,
      ),
    );
  }

  /**
   * Settles the reservation: the first attempt before the client is answered (so a retry with the
   * same key sees the final state), further attempts in the background; drain() waits for them.
   */
  async #settle(
    sale: GuardedSale,
    reservation: Reservation,
    action: SettleAction,
    stored: string,
  ): Promise<void> {
    const { metrics, onSettleFailure } = this.#options;
    const result =
      action === 'in-doubt' ? 'in_doubt' : action === 'confirm' ? 'confirmed' : 'released';
    const once = async (): Promise<void> => {
      if (action === 'confirm') await sale.ledger.confirm(reservation, stored);
      else if (action === 'release') await sale.ledger.release(reservation, stored);
      else await sale.ledger.markInDoubt(reservation);
      metrics.reservation(sale.label, reservation.sku, result);
    };
    try {
      await once();
      return;
    } catch {
      // Redis is in trouble: keep trying for a while without holding the client.
    }
    const retry = async (): Promise<void> => {
      for (const delay of SETTLE_RETRY_DELAYS_MS) {
        await new Promise((resolve) => setTimeout(resolve, delay));
        try {
          await once();
          return;
        } catch (error) {
          if (delay === SETTLE_RETRY_DELAYS_MS.at(-1)) {
            // Left pending: the reaper takes it as in-doubt, then the shop's order status settles it.
            metrics.reservation(sale.label, reservation.sku, 'settle_failed');
            onSettleFailure(reservation, action, error);
          }
        }
      }
    };
    const retrying = retry();
    this.#settling.add(retrying);
    void retrying.finally(() => this.#settling.delete(retrying));
  }

  /** Waits until every reservation this pipeline forwarded is settled (or handed to the reaper). */
  async drain(): Promise<void> {
    while (this.#settling.size > 0) await Promise.all([...this.#settling]);
  }
}
