// The shopper storm: a load generator that checks out as real shoppers do during a flash sale —
// many users, retries with the same Idempotency-Key, some asking for more than the per-user
// limit — and records what every request got: status, problem type, latency, or why it got
// nothing (timeout, reset, other error).
import { randomInt } from 'node:crypto';
import { errors, Pool } from 'undici';
import { specDefaults } from '../../api/v1alpha1/index.ts';

export interface StormShape {
  skus: readonly string[];
  users: number;
  requests: number;
  /** Share of requests that repeat an earlier request, Idempotency-Key included (a retry). */
  duplicateRatio: number;
  /** Share of first attempts that ask for perUserLimit + 1 units in one checkout. */
  overLimitRatio: number;
  /** The sale's per-user limit; shoppers within it buy one unit per checkout. */
  perUserLimit: number;
}

export interface StormOptions extends StormShape {
  /** Origin of the checkout service: the sidecar, or the shop itself in direct mode. */
  target: string;
  /** Default /checkout. */
  path?: string;
  concurrency: number;
  /** A request without an answer after this long counts as a timeout. */
  timeoutMs: number;
  /** The same seed plans the same storm; random by default (the result says which). */
  seed?: number;
  /**
   * Direct mode: send each request's Idempotency-Key in this header too, playing the
   * sidecar's part so the shop accepts the checkout without Flashguard in front.
   */
  reservationHeader?: string;
  onProgress?: (progress: StormProgress) => void;
  /** Default 200. */
  progressIntervalMs?: number;
}

export interface ShopperRequest {
  user: string;
  idempotencyKey: string;
  sku: string;
  quantity: number;
  /** A repeat of an earlier request. */
  retry: boolean;
}

export interface StormProgress {
  planned: number;
  sent: number;
  answered: number;
  timeouts: number;
  resets: number;
  /** Transport failures other than timeouts and resets (refused connections...). */
  errors: number;
  elapsedMs: number;
}

export interface OutcomeCount {
  status: number;
  /** The problem+json `type`, when the answer was a problem. */
  problemType: string | undefined;
  count: number;
}

export interface StormResult extends StormProgress {
  seed: number;
  /** How many of the requests were retries of an earlier one. */
  retries: number;
  /** By status, then problem type. */
  outcomes: OutcomeCount[];
  /** Over answered requests. */
  latencyMs: { p50: number; p99: number; max: number };
  answeredPerSecond: number;
  /** The first few distinct transport errors, for diagnosis. */
  errorSamples: string[];
}

/** mulberry32: a tiny seeded PRNG, so a storm can be replayed from its seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function checkShape(shape: StormShape): void {
  const positive = (name: string, value: number): void => {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`${name} must be an integer >= 1`);
  };
  const ratio = (name: string, value: number): void => {
    if (!(value >= 0 && value <= 1)) throw new RangeError(`${name} must be from 0 to 1`);
  };
  if (shape.skus.length === 0) throw new RangeError('skus must not be empty');
  positive('users', shape.users);
  positive('perUserLimit', shape.perUserLimit);
  if (!Number.isInteger(shape.requests) || shape.requests < 0) {
    throw new RangeError('requests must be an integer >= 0');
  }
  ratio('duplicateRatio', shape.duplicateRatio);
  ratio('overLimitRatio', shape.overLimitRatio);
}

/** The storm's requests in sending order; pure for a given seed. */
export function planStorm(shape: StormShape, seed: number): ShopperRequest[] {
  checkShape(shape);
  const random = seededRandom(seed);
  const pick = (n: number): number => Math.floor(random() * n);
  const plan: ShopperRequest[] = [];
  for (let i = 0; i < shape.requests; i++) {
    const earlier =
      plan.length > 0 && random() < shape.duplicateRatio ? plan[pick(plan.length)] : undefined;
    if (earlier !== undefined) {
      plan.push({ ...earlier, retry: true });
      continue;
    }
    const user = `shopper-${pick(shape.users) + 1}`;
    plan.push({
      user,
      // Unique across users, so direct mode can use it as the reservation id.
      idempotencyKey: `${user}-${i}`,
      sku: shape.skus[pick(shape.skus.length)] ?? '',
      quantity: random() < shape.overLimitRatio ? shape.perUserLimit + 1 : 1,
      retry: false,
    });
  }
  return plan;
}

/** Nearest-rank percentile of ascending `sorted`; 0 when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? 0;
}

function problemType(contentType: unknown, body: string): string | undefined {
  if (typeof contentType !== 'string' || !contentType.startsWith('application/problem+json')) {
    return undefined;
  }
  try {
    const parsed = JSON.parse(body) as unknown;
    const type =
      typeof parsed === 'object' && parsed !== null
        ? (parsed as { type?: unknown }).type
        : undefined;
    return typeof type === 'string' ? type : undefined;
  } catch {
    return undefined;
  }
}

const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code } = error as { code?: unknown };
  return typeof code === 'string' ? code : undefined;
}

/** The connection died before the answer: the server reset or closed it mid-request. */
function isReset(error: unknown): boolean {
  if (error instanceof errors.SocketError) return true;
  const code = errorCode(error) ?? errorCode((error as { cause?: unknown } | null)?.cause);
  return code !== undefined && RESET_CODES.has(code);
}

function describeError(error: unknown): string {
  return error instanceof Error
    ? `${errorCode(error) ?? error.name}: ${error.message}`
    : String(error);
}

function tally(
  outcomes: Map<string, OutcomeCount>,
  status: number,
  problemType: string | undefined,
): void {
  const key = `${status} ${problemType ?? ''}`;
  const outcome = outcomes.get(key);
  if (outcome === undefined) outcomes.set(key, { status, problemType, count: 1 });
  else outcome.count += 1;
}

export async function runStorm(options: StormOptions): Promise<StormResult> {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
    throw new RangeError('concurrency must be an integer >= 1');
  }
  const seed = options.seed ?? randomInt(2 ** 31);
  const plan = planStorm(options, seed);
  const url = new URL(options.path ?? '/checkout', options.target);
  const pool = new Pool(url.origin, { connections: options.concurrency });
  const { userHeader, idempotencyKeyHeader } = specDefaults.checkout;

  const latencies = new Float64Array(plan.length);
  const counts = { sent: 0, answered: 0, timeouts: 0, resets: 0, errors: 0 };
  const outcomes = new Map<string, OutcomeCount>();
  const errorSamples = new Set<string>();
  const started = performance.now();
  const progress = (): StormProgress => ({
    planned: plan.length,
    ...counts,
    elapsedMs: performance.now() - started,
  });

  const checkout = async (shopper: ShopperRequest): Promise<void> => {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      [userHeader]: shopper.user,
      [idempotencyKeyHeader]: shopper.idempotencyKey,
    };
    if (options.reservationHeader !== undefined) {
      headers[options.reservationHeader] = shopper.idempotencyKey;
    }
    const signal = AbortSignal.timeout(options.timeoutMs);
    const sentAt = performance.now();
    counts.sent += 1;
    try {
      const response = await pool.request({
        path: url.pathname,
        method: 'POST',
        headers,
        body: JSON.stringify({ sku: shopper.sku, quantity: shopper.quantity }),
        signal,
      });
      const body = await response.body.text();
      latencies[counts.answered] = performance.now() - sentAt;
      counts.answered += 1;
      tally(outcomes, response.statusCode, problemType(response.headers['content-type'], body));
    } catch (error) {
      if (signal.aborted) counts.timeouts += 1;
      else if (isReset(error)) counts.resets += 1;
      else {
        counts.errors += 1;
        if (errorSamples.size < 5) errorSamples.add(describeError(error));
      }
    }
  };

  let next = 0;
  const shopper = async (): Promise<void> => {
    for (let request = plan[next++]; request !== undefined; request = plan[next++]) {
      await checkout(request);
    }
  };

  const { onProgress } = options;
  const ticker =
    onProgress === undefined
      ? undefined
      : setInterval(() => {
          onProgress(progress());
        }, options.progressIntervalMs ?? 200);
  try {
    await Promise.all(Array.from({ length: options.concurrency }, shopper));
  } finally {
    clearInterval(ticker);
    await pool.destroy();
  }

  const final = progress();
  onProgress?.(final);
  const answered = latencies.subarray(0, counts.answered).sort();
  return {
    ...final,
    seed,
    retries: plan.filter((request) => request.retry).length,
    outcomes: [...outcomes.values()].sort(
      (a, b) => a.status - b.status || (a.problemType ?? '').localeCompare(b.problemType ?? ''),
    ),
    latencyMs: {
      p50: percentile(answered, 50),
      p99: percentile(answered, 99),
      max: answered.at(-1) ?? 0,
    },
    answeredPerSecond: final.elapsedMs > 0 ? (counts.answered * 1000) / final.elapsedMs : 0,
    errorSamples: [...errorSamples],
  };
}
