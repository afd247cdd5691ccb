/**
 * The two algorithms as pure functions over plain state, with time passed in (ms).
 * `LocalStore` runs them directly; `redis-script.ts` is the same arithmetic in Lua,
 * operation for operation, so both stores decide alike (test/llm-rate-limit/core/
 * store-equivalence.test.ts holds them to it).
 *
 * Both store USAGE (what is consumed), never "what is left": a refund lowers usage and
 * is clamped at zero, a charge raises it, possibly past the limit (the client really
 * used it; the excess delays its next admission).
 *
 * ## sliding_window: conservative bucketed window (never over-admits)
 * The window W is cut into n sub-windows of width g = W/n (an integer number of ms).
 * Usage is one counter per sub-window index b = floor(t/g). A check at time t counts
 * the n+1 buckets cur-n..cur (cur = floor(t/g)): the current, partial one and the n
 * before it, and admits `amount` only if that sum + amount <= limit.
 *
 * Bound: take any window [s, s+W] and its last admission at t. Every admission in it
 * has a time in [t-W, t], hence a bucket in [floor((t-W)/g), cur] = [cur-n, cur]
 * (exact: W = n*g, integers), all of which the check at t counted. So admissions in ANY
 * window of length W never sum past the limit: no burst at a window edge, for any
 * arrival times. The price is under-admission: a charge is held for between W and
 * W + g after it was made (W + W/n; 10% with the default n = 10), never longer.
 * Memory: at most n+1 counters per key and limit, whatever the amounts (an exact log
 * would keep one entry per admission: up to `limit` entries for requests, and for
 * tokens/usd amounts that reconciliation must find again).
 *
 * ## token_bucket: the bucket as a meter
 * Usage `level` drains at `rate` per second and a check admits if level + amount <=
 * capacity. Equivalent to a bucket of `capacity - level` tokens refilled at `rate`:
 * bursts up to the capacity, then `rate` per second sustained; over any interval of
 * length d at most capacity + rate * d is admitted.
 */
import type { PreparedSlidingWindow, PreparedTokenBucket } from './limits';

/** One limit's verdict on one amount, as a store reports it. */
export interface Evaluation {
  allowed: boolean;
  /** Budget left after this check (after the reservation when the whole check was
   * admitted; else as it was), floored, >= 0. */
  remaining: number;
  /** ms until usage is back to zero (likewise). */
  resetMs: number;
  /** 0 when allowed; ms until `amount` would fit if nothing else were admitted; null
   * when it never can (amount > limit). */
  retryAfterMs: number | null;
  /** Sliding window: the bucket charged (refunds go back to it). Token bucket: 0. */
  bucket: number;
}

/** An algorithm's answer: the state as it is (`remaining`, `resetMs`) and as it would be
 * once `amount` is charged (`charged`; meaningful when allowed). The store reports
 * `charged` only if every limit of the check allowed: a refused check charges nothing. */
export interface Verdict extends Evaluation {
  charged: { remaining: number; resetMs: number };
}

/** The evaluation a store reports, given whether the whole check was admitted. */
export function reported(v: Verdict, admitted: boolean): Evaluation {
  const { charged, ...e } = v;
  return admitted ? { ...e, remaining: charged.remaining, resetMs: charged.resetMs } : e;
}

/** bucket index -> usage. */
export interface SlidingWindowState {
  buckets: Map<number, number>;
}

/** Usage `level` as of `ts` (ms). */
export interface TokenBucketState {
  level: number;
  ts: number;
}

/** Drops the buckets no window at `now` can count; returns the current bucket index. */
function swPrune(state: SlidingWindowState, lim: PreparedSlidingWindow, now: number): number {
  const cur = Math.floor(now / lim.width);
  for (const b of state.buckets.keys()) if (b < cur - lim.n) state.buckets.delete(b);
  return cur;
}

/** Sum of the counted buckets (integers: exact in any order). */
function swUsed(state: SlidingWindowState): number {
  let used = 0;
  for (const v of state.buckets.values()) used += v;
  return used;
}

/** ms from `now` until the last non-empty bucket leaves every window (0 if none). */
function swResetMs(state: SlidingWindowState, lim: PreparedSlidingWindow, now: number, extraAt?: number): number {
  let maxB = extraAt ?? -Infinity;
  for (const [b, v] of state.buckets) if (v > 0 && b > maxB) maxB = b;
  return maxB === -Infinity ? 0 : (maxB + lim.n + 1) * lim.width - now;
}

/**
 * Evaluates `amount` against a sliding window at `now` (prunes old buckets, else
 * read-only). Commit with `swCommit` only if every limit of the check allowed.
 */
export function swEvaluate(state: SlidingWindowState, lim: PreparedSlidingWindow, now: number, amount: number): Verdict {
  const cur = swPrune(state, lim, now);
  const used = swUsed(state);
  const allowed = used + amount <= lim.limit;
  const remaining = Math.max(0, lim.limit - used);
  const resetMs = swResetMs(state, lim, now);
  const charged = { remaining: Math.max(0, lim.limit - (used + amount)), resetMs: swResetMs(state, lim, now, amount > 0 ? cur : undefined) };
  if (allowed) return { allowed, remaining, resetMs, retryAfterMs: 0, bucket: cur, charged };
  let retryAfterMs: number | null = null;
  if (amount <= lim.limit) {
    // Oldest first: the moment enough of the oldest buckets have left the window.
    const sorted = [...state.buckets].sort((x, y) => x[0] - y[0]);
    let freed = 0;
    for (const [b, v] of sorted) {
      freed += v;
      if (used - freed + amount <= lim.limit) {
        retryAfterMs = (b + lim.n + 1) * lim.width - now;
        break;
      }
    }
  }
  return { allowed, remaining, resetMs, retryAfterMs, bucket: cur, charged };
}

/** Records an admitted amount in the bucket `swEvaluate` returned. */
export function swCommit(state: SlidingWindowState, bucket: number, amount: number): void {
  if (amount > 0) state.buckets.set(bucket, (state.buckets.get(bucket) ?? 0) + amount);
}

/**
 * Reconciles a reservation made in `bucket`: a refund (delta < 0) comes off that bucket,
 * never below zero, and only while it is still counted (once it left the window the
 * charge is already released); a charge (delta > 0) goes to the current bucket: the
 * usage is known now and is held a full window from now.
 */
export function swAdjust(state: SlidingWindowState, lim: PreparedSlidingWindow, now: number, bucket: number, delta: number): void {
  const cur = swPrune(state, lim, now);
  if (delta > 0) {
    state.buckets.set(cur, (state.buckets.get(cur) ?? 0) + delta);
  } else if (delta < 0) {
    const v = state.buckets.get(bucket);
    if (v === undefined) return;
    const left = Math.max(0, v + delta);
    if (left === 0) state.buckets.delete(bucket);
    else state.buckets.set(bucket, left);
  }
}

/** ms at which this state is empty and can be forgotten (`now` if it already is). */
export function swExpiresAt(state: SlidingWindowState, lim: PreparedSlidingWindow, now: number): number {
  return now + swResetMs(state, lim, now);
}

/** Usage level at `now` (drained since `ts`; a clock going back drains nothing). */
export function tbLevel(state: TokenBucketState | undefined, lim: PreparedTokenBucket, now: number): number {
  if (state === undefined) return 0;
  return Math.max(0, state.level - (Math.max(0, now - state.ts) * lim.rate) / 1000);
}

/** Evaluates `amount` against a token bucket; commit with `tbCommit`. */
export function tbEvaluate(state: TokenBucketState | undefined, lim: PreparedTokenBucket, now: number, amount: number): Verdict {
  const level = tbLevel(state, lim, now);
  const allowed = level + amount <= lim.limit;
  return {
    allowed,
    remaining: Math.max(0, Math.floor(lim.limit - level)),
    resetMs: Math.ceil((level * 1000) / lim.rate),
    retryAfterMs: allowed ? 0 : amount > lim.limit ? null : Math.ceil(((level + amount - lim.limit) * 1000) / lim.rate),
    bucket: 0,
    charged: { remaining: Math.max(0, Math.floor(lim.limit - (level + amount))), resetMs: Math.ceil(((level + amount) * 1000) / lim.rate) },
  };
}

/** The state after admitting `amount` at `now`. */
export function tbCommit(state: TokenBucketState | undefined, lim: PreparedTokenBucket, now: number, amount: number): TokenBucketState {
  return { level: tbLevel(state, lim, now) + amount, ts: now };
}

/** The state after reconciling by `delta` (refund < 0 < charge); never below zero. */
export function tbAdjust(state: TokenBucketState | undefined, lim: PreparedTokenBucket, now: number, delta: number): TokenBucketState {
  return { level: Math.max(0, tbLevel(state, lim, now) + delta), ts: now };
}

/** ms at which this bucket has drained to zero. */
export function tbExpiresAt(state: TokenBucketState, lim: PreparedTokenBucket): number {
  return state.ts + Math.ceil((state.level * 1000) / lim.rate);
}
