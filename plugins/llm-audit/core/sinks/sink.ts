/**
 * The one contract every audit sink meets, so the delivery queue (delivery/queue.ts)
 * can drive any of them: a batch is a list of records already serialized as JSON
 * (one record each, no newline), in the order they must arrive.
 *
 * `send` resolves only once the sink has the whole batch (written and, per its policy,
 * synced; or acknowledged by the remote), and rejects otherwise: the queue then retries
 * the SAME batch, so a sink may see a batch twice after a failure it could not tell
 * apart from a success (a timeout): delivery is at least once, in order.
 * A `SinkError` with `retriable: false` means the destination refused the content
 * itself (HTTP 400/413/422): retrying the same batch cannot help. The queue then sends
 * the batch again in halves, down to single records, so that only the records the
 * destination refuses on their own are dropped (counted `refused`).
 * A sink whose destination answers per record (Elasticsearch/OpenSearch `_bulk`) sets
 * `records` on the SinkError: one `RecordOutcome` per record of the batch, in batch
 * order. The queue then counts the `delivered` ones as sent, drops the `refused` ones
 * one by one and retries only the `retry` ones (not the whole batch, whose delivered
 * part would otherwise be sent again). Without `records`, `retriable` speaks for the
 * whole batch, as for every other sink.
 * Sinks never put record contents or credentials in error messages.
 */

/** What a destination did with one record of a batch it answered per record. */
export type RecordOutcome = 'delivered' | 'retry' | 'refused';

export interface AuditSink {
  /** For counters and logs: the sink's kind and configured name, never a URL with credentials. */
  readonly name: string;
  /** Most records one `send` accepts (the destination's own limit); undefined: no limit. */
  readonly max_batch_records?: number;
  send(batch: readonly string[]): Promise<void>;
  /** Releases files and sockets; pending sends finish first. */
  close(): Promise<void>;
}

export class SinkError extends Error {
  override readonly name = 'SinkError';
  constructor(
    message: string,
    readonly retriable: boolean,
    /** HTTP status when the destination answered. */
    readonly status: number | null = null,
    /** Per record of the batch, in its order, when the destination answered per record. */
    readonly records: readonly RecordOutcome[] | null = null,
  ) {
    super(message);
  }
}

/** UTF-8 bytes of a batch written as JSON lines (each record plus "\n"). */
export function batchBytes(batch: readonly string[]): number {
  let n = 0;
  for (const r of batch) n += Buffer.byteLength(r, 'utf8') + 1;
  return n;
}
