/**
 * The limiter core's failures, one class per cause. Messages name the limit or the
 * option at fault, never a key (a key may be a consumer id or an API key's hash).
 */

/** A limit or store option that cannot work; thrown at construction, so a bad config
 * fails `StartInstance` instead of every request. */
export class LimitConfigError extends Error {
  override readonly name = 'LimitConfigError';
}

/** A check or adjust called with an amount that is missing, negative or not an integer
 * (a caller bug, never a client's fault). */
export class LimiterInputError extends Error {
  override readonly name = 'LimiterInputError';
}

/**
 * The shared store did not answer (error or timeout) and the limiter is not fault
 * tolerant: the adapter answers 503. `cause` is the store's error, to log through
 * `safeError`.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
  }
}

/** A store operation that took longer than its timeout (the operation may still land). */
export class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`store did not answer within ${timeoutMs} ms`);
  }
}
