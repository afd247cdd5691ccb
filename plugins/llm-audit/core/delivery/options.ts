/**
 * The settings, defaults and counters of a delivery queue (queue.ts), apart so an
 * adapter can build its config and read counters without the machinery.
 */
import type { SpillOptions } from './spill';

export type DropReason = 'memory_full' | 'spill_full' | 'spill_error' | 'refused' | 'shutdown';

export interface DeliveryOptions {
  batch_max_records: number;
  batch_max_bytes: number;
  /** A partial batch waits at most this long after its oldest record arrived. */
  batch_max_wait_ms: number;
  memory_max_records: number;
  memory_max_bytes: number;
  retry_initial_ms: number;
  retry_max_ms: number;
  /** Failed sends of one batch from memory before it spills (with a spill). */
  attempts_before_spill: number;
  /** Longer than the sink's own timeout (an HTTP sink's `timeout_ms`): this is the backstop. */
  send_timeout_ms: number;
  /** null: no disk buffer (records past the memory bound are dropped). */
  spill: SpillOptions | null;
  on_drop?: (count: number, reason: DropReason) => void;
  /** A send failed or the spill could not be opened; the message has no record content. */
  on_error?: (message: string) => void;
  random?: () => number;
}

/**
 * Defaults for the adapter's config: batches as large as Elasticsearch and Splunk
 * take comfortably (1 MiB), a second at most before a partial batch leaves, ~10 s of
 * a busy gateway's records in memory, retries from 200 ms up to 30 s between tries.
 */
export const DELIVERY_DEFAULTS: Readonly<Omit<DeliveryOptions, 'spill' | 'on_drop' | 'on_error' | 'random'>> = {
  batch_max_records: 500,
  batch_max_bytes: 1 << 20,
  batch_max_wait_ms: 1000,
  memory_max_records: 10_000,
  memory_max_bytes: 32 << 20,
  retry_initial_ms: 200,
  retry_max_ms: 30_000,
  attempts_before_spill: 3,
  send_timeout_ms: 30_000,
};

/** Records, except the depths (records now in memory / on disk). */
export interface DeliveryCounters {
  queued: number;
  /** Delivered straight from memory. */
  sent: number;
  /** Records sent again after a failed attempt: a retriable failure, a refused batch
   * sent again in halves, the items a per-record answer asked to retry. */
  retried: number;
  spilled: number;
  dropped: number;
  /** Delivered from the spill. */
  replayed: number;
  memory_depth: number;
  spill_depth: number;
}
