/**
 * The one contract every limiter store meets (rate-limiter-flexible's abstract store,
 * fastify-rate-limit's `store/`): `LocalStore` (in-process), `RedisStore` (shared, one
 * Lua script) and `FaultTolerantStore` (Redis, Local when Redis fails). A store is
 * config-independent: the limits come with each call, so one store serves every
 * instance that shares its connection settings.
 */
import type { Evaluation } from './algorithms';
import type { PreparedLimit } from './limits';

/** What a store answers to `reserve`. */
export interface StoreReservation {
  /** True only if every limit allowed; then, and only then, every amount was charged. */
  allowed: boolean;
  /** One per limit, in the order given. */
  results: Evaluation[];
  /** The clock the store decided by (ms): the injected one, or Redis's TIME. */
  now: number;
  /** The store that holds the charge (`adjust` must go back to it). */
  source: string;
}

/**
 * Whose state a limit is: one key for every limit of a check, or one key per limit
 * (`keys[i]` for `limits[i]`), so a per-consumer limit and a gateway-wide one are
 * decided in one atomic step.
 */
export type StoreKeys = string | readonly string[];

/** The key of limit `i`. */
export const keyAt = (keys: StoreKeys, i: number): string => (typeof keys === 'string' ? keys : keys[i]);

/** One limit's reconciliation: `delta` = actual - reserved; `bucket` from the reservation. */
export interface AdjustItem {
  /** The limit's key when it differs from the call's. */
  key?: string;
  limit: PreparedLimit;
  delta: number;
  bucket: number;
}

export interface LimiterStore {
  /** Names the store in reservations: 'local', 'redis'. */
  readonly name: string;
  /**
   * Atomically: evaluate `amounts[i]` against `limits[i]` for its key, and charge all of
   * them if all allow, none otherwise.
   */
  reserve(keys: StoreKeys, limits: readonly PreparedLimit[], amounts: readonly number[]): Promise<StoreReservation>;
  /** Atomically apply every item's delta for its key (`item.key ?? key`; usage never below zero). */
  adjust(key: string, items: readonly AdjustItem[], source: string): Promise<void>;
}
