/**
 * Retry delays: exponential backoff with full jitter (AWS Architecture Blog,
 * "Exponential Backoff And Jitter", 2015): the n-th retry waits a uniform random time
 * in [0, min(max_ms, initial_ms × 2^(n−1))). Full jitter spreads the retries of many
 * plugin servers that lost the same destination at the same moment, so they do not
 * come back in lockstep. Pure: `random` is passed in.
 */

export interface BackoffPolicy {
  /** Upper bound of the first retry's delay. */
  initial_ms: number;
  /** Upper bound of any delay. */
  max_ms: number;
}

/** Delay before retry number `retry` (1 for the first retry). */
export function backoffDelay(policy: BackoffPolicy, retry: number, random: () => number = Math.random): number {
  const exp = Math.min(Math.max(0, retry - 1), 52);
  const cap = Math.min(policy.max_ms, policy.initial_ms * 2 ** exp);
  const r = random();
  // a source outside [0, 1) (or NaN) must not make a negative or unbounded delay
  const u = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1 - Number.EPSILON) : 0;
  return Math.floor(u * cap);
}
