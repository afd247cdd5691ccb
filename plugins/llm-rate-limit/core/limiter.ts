/**
 * The limiter: several limits over one store, checked together. A check reserves an
 * amount per unit on every limit of a key at once (requests: 1, tokens: prompt +
 * requested completion tokens, usd: the estimated cost in micro-dollars); it passes only
 * if every limit passes, and a refused check charges nothing. Once the answer's usage is
 * known, `adjust` settles the difference on every tokens/usd limit the check charged.
 */
import { LimiterInputError } from './errors';
import { prepareLimits, type LimitSpec, type PreparedLimit, type Unit } from './limits';
import { keyAt, type LimiterStore, type StoreKeys } from './store';

/** Amounts of a request in the units that are not implicit (requests are always 1). */
export interface Amounts {
  /** Prompt tokens + requested (max) completion tokens; actual total tokens in `adjust`. */
  tokens?: number;
  /** Estimated cost in micro-dollars; actual cost in `adjust`. */
  usd?: number;
}

/** One limit's part of a decision. */
export interface LimitResult {
  id: string;
  unit: Unit;
  /** Whether this limit alone would admit the request. */
  allowed: boolean;
  limit: number;
  /** Left after this check (after the reservation when the request was admitted). */
  remaining: number;
  /** ms until this limit's usage is back to zero. */
  resetMs: number;
  /** 0 when this limit allowed; ms until the amount fits; null when it never can. */
  retryAfterMs: number | null;
}

/** What `adjust` needs to settle a check later: plain data (can be stored in a context). */
export interface Reservation {
  /** The key of the first limit (each charge names its own key when they differ). */
  key: string;
  /** The store that holds the charge. */
  source: string;
  /** The store's clock at the check (ms). */
  at: number;
  charges: { id: string; unit: Unit; amount: number; bucket: number; key?: string }[];
}

export interface CheckResult {
  allowed: boolean;
  /** One per limit, in configuration order. */
  limits: LimitResult[];
  /** Refused: the largest retry-after of the refusing limits (ms); null when one of
   * them can never admit this amount. Admitted: 0. */
  retryAfterMs: number | null;
  /** Admitted: what to pass to `adjust`. Refused: null (nothing was charged). */
  reservation: Reservation | null;
  /** The store that decided ('local' when a Redis fault fell back to this node's counters). */
  source: string;
}

const isAmount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export class RateLimiter {
  readonly limits: readonly PreparedLimit[];
  private readonly byId: ReadonlyMap<string, PreparedLimit>;

  /** @throws LimitConfigError when a limit is invalid. */
  constructor(specs: readonly LimitSpec[], private readonly store: LimiterStore) {
    this.limits = prepareLimits(specs);
    this.byId = new Map(this.limits.map((l) => [l.id, l]));
  }

  /**
   * Reserves the request's amounts on every limit, atomically: all of `keys` when a
   * string, else limit i on `keys[i]` (a gateway-wide limit beside a consumer's).
   * @throws LimiterInputError when a limit's unit has no amount (or a bad one);
   *   whatever the store throws (StoreUnavailableError: answer 503).
   */
  async check(keys: StoreKeys, amounts: Amounts = {}): Promise<CheckResult> {
    if (typeof keys !== 'string' && keys.length !== this.limits.length) throw new LimiterInputError('check: one key per limit');
    const wanted = this.limits.map((l) => amountFor(l.unit, amounts, 'check'));
    const r = await this.store.reserve(keys, this.limits, wanted);
    const limits: LimitResult[] = this.limits.map((l, i) => ({
      id: l.id,
      unit: l.unit,
      allowed: r.results[i].allowed,
      limit: l.limit,
      remaining: r.results[i].remaining,
      resetMs: r.results[i].resetMs,
      retryAfterMs: r.results[i].retryAfterMs,
    }));
    if (!r.allowed) {
      let retry: number | null = 0;
      for (const x of limits) if (!x.allowed) retry = retry === null || x.retryAfterMs === null ? null : Math.max(retry, x.retryAfterMs);
      return { allowed: false, limits, retryAfterMs: retry, reservation: null, source: r.source };
    }
    const key = keyAt(keys, 0);
    const charges = this.limits.map((l, i) => {
      const own = keyAt(keys, i);
      return own === key ? { id: l.id, unit: l.unit, amount: wanted[i], bucket: r.results[i].bucket } : { id: l.id, unit: l.unit, amount: wanted[i], bucket: r.results[i].bucket, key: own };
    });
    return { allowed: true, limits, retryAfterMs: 0, reservation: { key, source: r.source, at: r.now, charges }, source: r.source };
  }

  /**
   * Settles a reservation with the actual amounts: refunds (actual < reserved) or
   * charges (actual > reserved) the difference on every tokens/usd limit it charged;
   * usage never goes below zero. A unit absent from `actual` is left as reserved
   * (unknown usage: keep the estimate). Atomic over all limits.
   */
  async adjust(reservation: Reservation, actual: Amounts): Promise<void> {
    const items = [];
    for (const c of reservation.charges) {
      const limit = this.byId.get(c.id);
      if (limit === undefined || c.unit === 'requests') continue;
      const v = actual[c.unit];
      if (v === undefined) continue;
      const delta = amountFor(c.unit, actual, 'adjust') - c.amount;
      if (delta !== 0) items.push(c.key === undefined ? { limit, delta, bucket: c.bucket } : { key: c.key, limit, delta, bucket: c.bucket });
    }
    if (items.length > 0) await this.store.adjust(reservation.key, items, reservation.source);
  }
}

function amountFor(unit: Unit, amounts: Amounts, op: string): number {
  if (unit === 'requests') return 1;
  const v = amounts[unit];
  if (!isAmount(v)) throw new LimiterInputError(`${op}: ${unit} must be a non-negative integer`);
  return v;
}
