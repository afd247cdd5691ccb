/**
 * A shared store (Redis) with a failure policy (`fault_tolerant`, as Kong's
 * rate-limiting): when the primary errors or does not answer within `timeoutMs`,
 * - fault tolerant: the check is decided by the fallback (a LocalStore: per-node
 *   limits instead of cluster-wide, better than none or than refusing everything);
 * - not fault tolerant: it throws StoreUnavailableError (the adapter answers 503).
 * Either way `onFault` hears of it, at most once per `reportIntervalMs` (with the
 * count of faults it did not report), and `onRecover` once the primary answers again.
 *
 * A check never waits past `timeoutMs` (the client's own command timeout should be the
 * same or shorter; this timer is the guarantee). After a fault the primary is left
 * alone for `retryAfterMs`, so a hung Redis costs one timeout per interval, not one
 * per request; the next check after that tries it again: recovery is automatic.
 * A timed-out reserve may still land in Redis later: it then over-counts (refuses
 * early), never over-admits.
 */
import { StoreTimeoutError, StoreUnavailableError } from './errors';
import type { PreparedLimit } from './limits';
import type { AdjustItem, LimiterStore, StoreKeys, StoreReservation } from './store';

export const DEFAULT_STORE_TIMEOUT_MS = 250;
export const DEFAULT_REPORT_INTERVAL_MS = 30_000;
export const DEFAULT_RETRY_AFTER_MS = 1000;

export interface FaultReport {
  /** The error that made this fault (a StoreTimeoutError on a timeout). */
  error: unknown;
  /** Faults since the last report that were not reported. */
  suppressed: number;
}

export interface FaultTolerantStoreOptions {
  primary: LimiterStore;
  fallback: LimiterStore;
  faultTolerant: boolean;
  /** Longest a call waits for the primary; default 250 ms. */
  timeoutMs?: number;
  /** Least time between two `onFault` calls; default 30 s. */
  reportIntervalMs?: number;
  /** How long the primary is skipped after a fault; default 1 s. */
  retryAfterMs?: number;
  onFault?: (report: FaultReport) => void;
  onRecover?: () => void;
  /** Clock in ms (the one the fallback uses, too); default Date.now. */
  now?: () => number;
}

export class FaultTolerantStore implements LimiterStore {
  readonly name = 'fault-tolerant';
  private readonly o: Required<Omit<FaultTolerantStoreOptions, 'onFault' | 'onRecover'>> & Pick<FaultTolerantStoreOptions, 'onFault' | 'onRecover'>;
  /** The primary is skipped until then (0: healthy). */
  private downUntil = 0;
  private lastReport = -Infinity;
  private suppressed = 0;
  private down = false;

  constructor(options: FaultTolerantStoreOptions) {
    this.o = {
      timeoutMs: DEFAULT_STORE_TIMEOUT_MS,
      reportIntervalMs: DEFAULT_REPORT_INTERVAL_MS,
      retryAfterMs: DEFAULT_RETRY_AFTER_MS,
      now: Date.now,
      ...options,
    };
  }

  /** True while the primary is considered down (for metrics and tests). */
  get degraded(): boolean {
    return this.down;
  }

  async reserve(keys: StoreKeys, limits: readonly PreparedLimit[], amounts: readonly number[]): Promise<StoreReservation> {
    return this.guarded(
      () => this.o.primary.reserve(keys, limits, amounts),
      () => this.o.fallback.reserve(keys, limits, amounts),
    );
  }

  /** Goes back to the store that made the reservation; a fallback charge stays local. */
  async adjust(key: string, items: readonly AdjustItem[], source: string): Promise<void> {
    if (source === this.o.fallback.name) return this.o.fallback.adjust(key, items, source);
    // A lost reconciliation leaves the estimate charged: nothing to fall back to.
    return this.guarded(
      () => this.o.primary.adjust(key, items, source),
      () => Promise.resolve(),
    );
  }

  private async guarded<T>(primary: () => Promise<T>, fallback: () => Promise<T>): Promise<T> {
    if (this.o.now() < this.downUntil) return this.failover(fallback, undefined);
    try {
      const value = await withTimeout(primary(), this.o.timeoutMs);
      if (this.down) {
        this.down = false;
        this.o.onRecover?.();
      }
      this.downUntil = 0;
      return value;
    } catch (err) {
      this.down = true;
      this.downUntil = this.o.now() + this.o.retryAfterMs;
      return this.failover(fallback, err);
    }
  }

  /** `err` undefined: the primary was skipped (already known down), nothing new to report. */
  private failover<T>(fallback: () => Promise<T>, err: unknown): Promise<T> {
    if (err !== undefined) this.report(err);
    if (this.o.faultTolerant) return fallback();
    return Promise.reject(new StoreUnavailableError('the rate-limit store is unavailable', err));
  }

  private report(error: unknown): void {
    const now = this.o.now();
    if (now - this.lastReport < this.o.reportIntervalMs) {
      this.suppressed++;
      return;
    }
    this.lastReport = now;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    try {
      this.o.onFault?.({ error, suppressed });
    } catch {
      // A reporting callback must not change the decision.
    }
  }
}

/** `p`, or a StoreTimeoutError after `ms` (the timer never keeps the process alive). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreTimeoutError(ms)), ms);
    timer.unref();
  });
  p.catch(() => undefined); // a late rejection after the timeout is not unhandled
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
