/** A sink for the delivery tests: records what it received, fails while `down`. */
import { SinkError, type AuditSink } from '../../../../plugins/llm-audit/core/sinks/sink';

export class TestSink implements AuditSink {
  readonly name = 'test';
  readonly batches: string[][] = [];
  down = false;
  /** Batches containing a record for which this returns true are refused as content. */
  refuse: (line: string) => boolean = () => false;
  calls = 0;
  /** Goes down by itself once it has received this many records. */
  downAfterRecords = Infinity;
  /** Time each send takes, so records arrive while a backlog replays. */
  delayMs = 0;
  closed = false;

  async send(batch: readonly string[]): Promise<void> {
    this.calls++;
    await new Promise((r) => (this.delayMs > 0 ? setTimeout(r, this.delayMs) : setImmediate(r)));
    if (this.down) throw new SinkError('test: down', true);
    if (batch.some(this.refuse)) throw new SinkError('test: refused', false, 400);
    this.batches.push([...batch]);
    if (this.received.length >= this.downAfterRecords) this.down = true;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Every record received, in order. */
  get received(): string[] {
    return this.batches.flat();
  }
}

export const line = (i: number): string => JSON.stringify({ i, pad: 'p'.repeat(20) });
export const lineNumber = (l: string): number => JSON.parse(l).i;

/** Resolves once `cond` holds (polling), or rejects after `ms`. */
export async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
