/**
 * In-process store: Maps in this process, which Kong shares across the node's workers
 * (one plugin server per node), so it limits per node. Atomic by construction: a
 * reserve runs synchronously, no other check interleaves.
 *
 * Memory is bounded two ways:
 * - idle expiry: an entry is dropped once its usage has drained to zero (its
 *   `expiresAt`), which changes no decision: an empty state and no state decide alike;
 * - a cap on entries (`maxEntries`, one per key and limit): past it the least recently
 *   used entry is dropped even if not empty, which forgets usage (that key may be
 *   admitted early). Size it above the number of keys active within one window.
 */
import {
  reported, swAdjust, swCommit, swEvaluate, swExpiresAt, tbAdjust, tbCommit, tbEvaluate, tbExpiresAt,
  type Verdict, type SlidingWindowState, type TokenBucketState,
} from './algorithms';
import { LimitConfigError } from './errors';
import type { PreparedLimit } from './limits';
import { keyAt, type AdjustItem, type LimiterStore, type StoreKeys, type StoreReservation } from './store';

export const DEFAULT_MAX_ENTRIES = 100_000;
/** Oldest entries looked at per call for expiry: keeps the sweep O(1) per request. */
const SWEEP_PER_CALL = 4;

interface Entry {
  sw?: SlidingWindowState;
  tb?: TokenBucketState;
  expiresAt: number;
}

export interface LocalStoreOptions {
  /** Clock in ms; default Date.now. */
  now?: () => number;
  /** Most entries (key x limit) kept; default 100,000. */
  maxEntries?: number;
}

export class LocalStore implements LimiterStore {
  readonly name = 'local';
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly maxEntries: number;
  /** Live entries dropped to stay under the cap (a sign `maxEntries` is too small). */
  evictions = 0;

  constructor(options: LocalStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 1) throw new LimitConfigError('maxEntries must be a positive integer');
  }

  /** Entries held (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  reserve(keys: StoreKeys, limits: readonly PreparedLimit[], amounts: readonly number[]): Promise<StoreReservation> {
    return Promise.resolve(this.reserveSync(keys, limits, amounts));
  }

  /** `reserve` without the promise. */
  reserveSync(keys: StoreKeys, limits: readonly PreparedLimit[], amounts: readonly number[]): StoreReservation {
    const now = this.now();
    this.sweep(now);
    const entries = limits.map((l, i) => this.entry(keyAt(keys, i), l, now));
    const verdicts: Verdict[] = limits.map((l, i) =>
      l.algorithm === 'sliding_window' ? swEvaluate(entries[i].sw!, l, now, amounts[i]) : tbEvaluate(entries[i].tb, l, now, amounts[i]),
    );
    const allowed = verdicts.every((r) => r.allowed);
    if (allowed) {
      limits.forEach((l, i) => {
        const e = entries[i];
        if (l.algorithm === 'sliding_window') swCommit(e.sw!, verdicts[i].bucket, amounts[i]);
        else e.tb = tbCommit(e.tb, l, now, amounts[i]);
      });
    }
    limits.forEach((l, i) => this.settle(keyAt(keys, i), l, entries[i], now));
    return { allowed, results: verdicts.map((v) => reported(v, allowed)), now, source: this.name };
  }

  adjust(key: string, items: readonly AdjustItem[]): Promise<void> {
    const now = this.now();
    for (const { key: own, limit: l, delta, bucket } of items) {
      const k = own ?? key;
      const e = this.entry(k, l, now);
      if (l.algorithm === 'sliding_window') swAdjust(e.sw!, l, now, bucket, delta);
      else e.tb = tbAdjust(e.tb, l, now, delta);
      this.settle(k, l, e, now);
    }
    return Promise.resolve();
  }

  /** Drops every entry that has drained (also done a few entries at a time per call). */
  sweep(now: number = this.now(), limit = SWEEP_PER_CALL): void {
    let seen = 0;
    for (const [k, e] of this.entries) {
      if (seen++ >= limit) break;
      if (e.expiresAt <= now) this.entries.delete(k);
    }
  }

  /** The live entry (moved to the most recently used end), or a new empty one. */
  private entry(key: string, l: PreparedLimit, now: number): Entry {
    const k = `${key}\0${l.stateName}`;
    let e = this.entries.get(k);
    if (e !== undefined) this.entries.delete(k);
    if (e === undefined || e.expiresAt <= now) e = l.algorithm === 'sliding_window' ? { sw: { buckets: new Map() }, expiresAt: now } : { expiresAt: now };
    this.entries.set(k, e);
    return e;
  }

  /** Recomputes expiry; forgets an empty state; enforces the cap. */
  private settle(key: string, l: PreparedLimit, e: Entry, now: number): void {
    e.expiresAt = l.algorithm === 'sliding_window' ? swExpiresAt(e.sw!, l, now) : e.tb ? tbExpiresAt(e.tb, l) : now;
    if (e.expiresAt <= now) this.entries.delete(`${key}\0${l.stateName}`);
    while (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value!);
      this.evictions++;
    }
  }
}
