// A token bucket: this pod's share of the sale's admission rate. Pure (time is an argument).

export class TokenBucket {
  #rate: number;
  #burst: number;
  #tokens: number;
  #updatedMs: number;

  constructor(ratePerSecond: number, burst: number, nowMs: number) {
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#tokens = burst;
    this.#updatedMs = nowMs;
  }

  get rate(): number {
    return this.#rate;
  }

  /** Changes the rate and burst, keeping the tokens earned so far (capped by the new burst). */
  configure(ratePerSecond: number, burst: number, nowMs: number): void {
    this.#refill(nowMs);
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#tokens = Math.min(this.#tokens, burst);
  }

  /** Takes one token, or says how long until one is there. */
  take(nowMs: number): { ok: true } | { ok: false; retryAfterMs: number } {
    this.#refill(nowMs);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return { ok: true };
    }
    const retryAfterMs =
      this.#rate > 0 ? Math.ceil(((1 - this.#tokens) / this.#rate) * 1000) : 1000;
    return { ok: false, retryAfterMs };
  }

  #refill(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.#updatedMs);
    this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed / 1000) * this.#rate);
    this.#updatedMs = nowMs;
  }
}
