/**
 * Limits as configured (`LimitSpec`, snake_case like the plugin schema will be) and as
 * the stores use them (`PreparedLimit`: validated once, numbers precomputed, the
 * state's name fixed). Everything here runs at instance start, never per request.
 */
import { LimitConfigError } from './errors';

export const ALGORITHMS = ['sliding_window', 'token_bucket'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/** requests: 1 per check; tokens: prompt + requested completion tokens; usd: micro-dollars. */
export const UNITS = ['requests', 'tokens', 'usd'] as const;
export type Unit = (typeof UNITS)[number];

/** Sub-windows per sliding window unless `sub_windows` says otherwise: a charge is held
 * between `window` and `window + window / 10`. */
export const DEFAULT_SUB_WINDOWS = 10;
const MAX_SUB_WINDOWS = 100;
/** Identifiers end up in store keys and logs: keep them short and plain. */
const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

export interface LimitSpec {
  /** Unique within one limiter; names the limit in results and in store keys. */
  id: string;
  /** Default `sliding_window`. */
  algorithm?: Algorithm;
  unit: Unit;
  /** The budget: most admitted in any window (sliding_window) or the bucket capacity
   * (token_bucket). A positive integer (usd in micro-dollars). */
  limit: number;
  /** sliding_window: the window length; its milliseconds must divide by `sub_windows`. */
  window_seconds?: number;
  /** sliding_window: buckets per window (1..100, default 10); more = closer to exact
   * release times, more state (one hash field per non-empty bucket). */
  sub_windows?: number;
  /** token_bucket: budget regained per second. */
  refill_per_second?: number;
}

export interface PreparedSlidingWindow {
  readonly id: string;
  readonly algorithm: 'sliding_window';
  readonly unit: Unit;
  readonly limit: number;
  /** Sub-window width in ms (an integer). */
  readonly width: number;
  /** Sub-windows per window. */
  readonly n: number;
  /** Names this limit's state (the part of the key after the caller's key): changing
   * the window or its division starts from fresh state instead of misreading old. */
  readonly stateName: string;
}

export interface PreparedTokenBucket {
  readonly id: string;
  readonly algorithm: 'token_bucket';
  readonly unit: Unit;
  readonly limit: number;
  /** Refill per second. */
  readonly rate: number;
  readonly stateName: string;
}

export type PreparedLimit = PreparedSlidingWindow | PreparedTokenBucket;

const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
const isPosFinite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/** Validates one limit and precomputes what the algorithms need. */
export function prepareLimit(spec: LimitSpec): PreparedLimit {
  const id = spec.id;
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) throw new LimitConfigError('limit id must be 1-64 of A-Z a-z 0-9 _ . -');
  if (!UNITS.includes(spec.unit)) throw new LimitConfigError(`limit ${id}: unit must be one of ${UNITS.join(', ')}`);
  if (!isPosInt(spec.limit)) throw new LimitConfigError(`limit ${id}: limit must be a positive integer`);
  const algorithm = spec.algorithm ?? 'sliding_window';
  if (algorithm === 'sliding_window') {
    if (spec.refill_per_second !== undefined) throw new LimitConfigError(`limit ${id}: refill_per_second is for token_bucket`);
    const n = spec.sub_windows ?? DEFAULT_SUB_WINDOWS;
    if (!Number.isInteger(n) || n < 1 || n > MAX_SUB_WINDOWS) throw new LimitConfigError(`limit ${id}: sub_windows must be an integer in 1..${MAX_SUB_WINDOWS}`);
    const windowMs = (spec.window_seconds ?? NaN) * 1000;
    // Integer widths keep bucket arithmetic exact, the same in TypeScript and Lua, and
    // make bucket(t - window) = bucket(t) - n hold exactly (the no-over-admission proof).
    if (!isPosInt(windowMs) || windowMs % n !== 0) {
      throw new LimitConfigError(`limit ${id}: window_seconds must be positive and its milliseconds divisible by sub_windows (${n})`);
    }
    const width = windowMs / n;
    return { id, algorithm, unit: spec.unit, limit: spec.limit, width, n, stateName: `${id}:sw:${width}:${n}` };
  }
  if (algorithm === 'token_bucket') {
    if (spec.window_seconds !== undefined || spec.sub_windows !== undefined) throw new LimitConfigError(`limit ${id}: window_seconds and sub_windows are for sliding_window`);
    if (!isPosFinite(spec.refill_per_second)) throw new LimitConfigError(`limit ${id}: refill_per_second must be a positive number`);
    return { id, algorithm, unit: spec.unit, limit: spec.limit, rate: spec.refill_per_second, stateName: `${id}:tb` };
  }
  throw new LimitConfigError(`limit ${id}: algorithm must be one of ${ALGORITHMS.join(', ')}`);
}

/** Validates a limiter's limits: at least one, ids unique. */
export function prepareLimits(specs: readonly LimitSpec[]): PreparedLimit[] {
  if (!Array.isArray(specs) || specs.length === 0) throw new LimitConfigError('at least one limit is required');
  const seen = new Set<string>();
  return specs.map((s) => {
    const p = prepareLimit(s);
    if (seen.has(p.id)) throw new LimitConfigError(`limit ${p.id}: id used twice`);
    seen.add(p.id);
    return p;
  });
}
