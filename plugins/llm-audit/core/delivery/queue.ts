/**
 * Delivery of serialized audit records to one sink: a bounded in-memory queue, batches
 * by count, bytes and time, retries with full-jitter backoff, an on-disk spill while the
 * sink stays down, replay in order when it is back, and a flush with a deadline.
 *
 * Order. The records form one log: the spill buffer holds its oldest part, memory the
 * newest. Memory is sent only while the spill is empty; spilling moves memory's oldest
 * records to the spill's end; the spill is replayed first. So records reach the sink in
 * `enqueue` order (one batch in flight at a time), at least once: a batch whose send
 * failed in a way the sink could not tell from success (a timeout) is sent again.
 * One exception: a sink that answers per record (`_bulk`, see sink.ts) may take the
 * later records of a batch and ask to retry an earlier one; only that one is sent
 * again, after them.
 *
 * Refusals. A batch the destination refuses as content (a non-retriable SinkError
 * without per-record outcomes: HTTP 400/413/422) is usually refused for one record, so
 * it is sent again in two halves, first half first, each split again while refused,
 * down to single records: only a record refused on its own is dropped. Each send
 * either settles records or splits a part in two, so a batch of n costs at most 2n - 1
 * sends besides retries; one bad record in n costs at most 2 ceil(log2(n)) + 1. A 413
 * (too large) is handled the same way: halves are smaller. The parts of a batch still
 * to send are kept in order, and a retriable failure of one part follows the rules of
 * a whole batch: from memory, the part is retried with backoff, and when the queue
 * gives up (`attempts_before_spill`, memory over its bound, the close deadline) every
 * part still unsent goes to the spill (empty then: memory is sent only while it is) in
 * order, to be replayed as one batch and split again there if it is still refused;
 * from the spill, the parts stay in memory across backoffs and the spill is consumed
 * once all parts are settled (a restart meanwhile replays the whole batch: at least
 * once). A sink that answers per record settles each record itself: its delivered
 * records are counted (sent or replayed), its refused ones dropped one by one, and
 * only its records to retry stay, as the first part, under the retry rules above.
 *
 * Bounds and losses, each counted in `dropped` and reported through `on_drop`:
 * - memory holds at most `memory_max_records` / `memory_max_bytes`; past that, with a
 *   spill, the pump moves memory to disk as soon as its current send attempt ends
 *   (meanwhile memory may grow to twice the bound; beyond that records are dropped,
 *   `memory_full`); without a spill, records past the bound are dropped at once;
 * - the spill's `max_bytes` (`spill_full`), a spill the disk refuses (`spill_error`);
 * - a record the destination refuses as content on its own (`refused`, see above);
 * - at `close`, memory that neither the sink nor a spill took by the deadline
 *   (`shutdown`; only without a spill or when the spill is full).
 * `enqueue` never waits: it appends to memory and at most wakes the pump.
 * A send that does not settle within `send_timeout_ms` counts as failed (the sink may
 * still deliver it: at least once).
 */
import type { AuditSink, RecordOutcome } from '../sinks/sink';
import { backoffDelay } from './backoff';
import type { DeliveryCounters, DeliveryOptions, DropReason } from './options';
import { SpillBuffer } from './spill';

export { DELIVERY_DEFAULTS, type DeliveryCounters, type DeliveryOptions, type DropReason } from './options';

interface Item {
  line: string;
  bytes: number;
  at: number;
}

/** How one send ended: `partial` when the sink answered per record (sink.ts). */
type Outcome = { kind: 'sent' } | { kind: 'refused'; why: string } | { kind: 'failed' } | { kind: 'partial'; records: readonly RecordOutcome[]; why: string };

/** A contiguous-in-order part of a batch still to send; `resend`: its records were in an earlier send. */
interface Part {
  lines: string[];
  resend: boolean;
}

/** A spilled batch being delivered: how many records `peek` returned, and the parts not yet settled. */
interface Replay {
  records: number;
  parts: Part[];
}

const OUTCOMES: ReadonlySet<unknown> = new Set<RecordOutcome>(['delivered', 'retry', 'refused']);
/** What may end a wait of the pump (see `poke`). */
type Wait = 'records' | 'urgent';

/** Longest timer Node accepts: the pump waits for an enqueue. */
const IDLE_WAIT_MS = 2 ** 31 - 1;

export class DeliveryQueue {
  private readonly memory: Item[] = [];
  private memoryBytes = 0;
  private spill: SpillBuffer | null = null;
  private sinkDown = false;
  /** Failed replays in a row. */
  private failures = 0;
  private closing = false;
  /** flush() asked: send without waiting for a full batch until memory is empty. */
  private flushing = false;
  /** Records taken from memory whose send (or spill, after failures) has not ended yet. */
  private inFlight = 0;
  private deadline = Infinity;
  private waiting: { kind: Wait; wake: () => void } | null = null;
  private readonly done: Promise<void>;
  /** Resolves when close()'s deadline passes: a send still in flight then is cut short
   * (its batch spilled), so a shutdown never waits a send's own timeout. */
  private readonly deadlineHit: Promise<void>;
  private hitDeadline: () => void = () => undefined;
  /** The spilled batch in delivery, kept across backoffs (see Refusals). */
  private replaying: Replay | null = null;
  private readonly c = { queued: 0, sent: 0, retried: 0, spilled: 0, dropped: 0, replayed: 0 };

  constructor(
    private readonly sink: AuditSink,
    private readonly opts: DeliveryOptions,
  ) {
    this.deadlineHit = new Promise((resolve) => (this.hitDeadline = resolve));
    this.done = this.run().catch((e) => this.report(`delivery to ${sink.name} stopped: ${(e as Error).message}`));
  }

  /** Queues one record (its JSON text). Never waits, never throws. */
  enqueue(line: string): void {
    const bytes = Buffer.byteLength(line, 'utf8') + 1;
    const over = this.memory.length >= this.opts.memory_max_records || this.memoryBytes + bytes > this.opts.memory_max_bytes;
    const hardOver = this.memory.length >= 2 * this.opts.memory_max_records || this.memoryBytes + bytes > 2 * this.opts.memory_max_bytes;
    if (this.closing || (over && (this.opts.spill === null || hardOver))) {
      this.drop(1, this.closing ? 'shutdown' : 'memory_full');
      return;
    }
    const wasEmpty = this.memory.length === 0;
    this.memory.push({ line, bytes, at: Date.now() });
    this.memoryBytes += bytes;
    this.c.queued++;
    if (over) this.poke('urgent');
    else if (wasEmpty || this.memory.length >= this.batchRecords() || this.memoryBytes >= this.opts.batch_max_bytes) this.poke('records');
  }

  /**
   * Sends what is in memory now rather than waiting up to batch_max_wait_ms for the
   * batch to fill: for a caller that waits for these records to be written
   * (llm-gateway's ingest answers Kong's queue only then). A sink that is down keeps
   * its backoff; the records then go to the disk buffer as usual.
   */
  flush(): void {
    if (this.memory.length === 0) return;
    this.flushing = true;
    this.poke('records');
  }

  counters(): DeliveryCounters {
    return { ...this.c, memory_depth: this.memory.length, spill_depth: this.spill?.records ?? 0 };
  }

  /**
   * Records queued so far that reached the sink, the disk buffer or a counted drop:
   * every record before them has too (first in, first out). A caller that must know
   * its records are safe waits for this to pass `queued` as it was when it enqueued.
   */
  finished(): number {
    return this.c.queued - this.memory.length - this.inFlight;
  }

  /**
   * Stops taking records, delivers what it can until `deadline_ms` from now, spills
   * the rest (or counts it dropped), closes the sink. Resolves with the final counters.
   */
  async close(deadline_ms: number): Promise<DeliveryCounters> {
    this.closing = true;
    this.deadline = Date.now() + Math.max(0, deadline_ms);
    setTimeout(this.hitDeadline, Math.max(0, deadline_ms)).unref();
    this.poke('urgent');
    await this.done;
    await this.sink.close().catch(() => undefined);
    return this.counters();
  }

  private batchRecords(): number {
    return Math.max(1, Math.min(this.opts.batch_max_records, this.sink.max_batch_records ?? Infinity));
  }

  private drop(n: number, reason: DropReason): void {
    if (n <= 0) return;
    this.c.dropped += n;
    try {
      this.opts.on_drop?.(n, reason);
    } catch {
      // the caller's callback must not break enqueue (which never throws) or the pump
    }
  }

  private report(message: string): void {
    try {
      this.opts.on_error?.(message);
    } catch {
      // as in drop
    }
  }

  /**
   * Wakes the pump. `records` (new records, a full batch) ends only a wait for records;
   * `urgent` (memory over its bound, close) ends any wait, a retry backoff included:
   * otherwise every record arriving while a sink is down would cut its backoff short.
   */
  private poke(kind: Wait): void {
    if (this.waiting === null || (kind === 'records' && this.waiting.kind !== 'records')) return;
    const w = this.waiting;
    this.waiting = null;
    w.wake();
  }

  /** Waits `ms` or until poked (see `poke`); cut short once closing. An idle wait does not keep the process alive. */
  private sleep(ms: number, kind: Wait, idle = false): Promise<void> {
    if (this.closing) ms = Math.min(ms, Math.max(0, this.deadline - Date.now()));
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiting = null;
        resolve();
      }, ms);
      if (idle) t.unref();
      this.waiting = {
        kind,
        wake: () => {
          clearTimeout(t);
          resolve();
        },
      };
    });
  }

  private overMemory(): boolean {
    return this.memory.length > this.opts.memory_max_records || this.memoryBytes > this.opts.memory_max_bytes;
  }

  private pastDeadline(): boolean {
    return this.closing && Date.now() >= this.deadline;
  }

  private take(maxRecords: number, maxBytes: number): Item[] {
    let n = 0;
    let bytes = 0;
    while (n < this.memory.length && n < maxRecords && (n === 0 || bytes + this.memory[n].bytes <= maxBytes)) bytes += this.memory[n++].bytes;
    const items = this.memory.splice(0, n);
    this.memoryBytes -= bytes;
    return items;
  }

  private async run(): Promise<void> {
    if (this.opts.spill) {
      try {
        this.spill = await SpillBuffer.open(this.opts.spill);
      } catch (e) {
        this.report(`spill for ${this.sink.name} unusable (${(e as NodeJS.ErrnoException).code ?? 'error'}): records past twice the memory bound will be dropped`);
      }
    }
    for (;;) {
      try {
        if ((await this.step()) === 'stop') break;
      } catch (e) {
        // the spill could not be read or its cursor written: report, back off, go on (close still ends it)
        this.report(`spill for ${this.sink.name} failed (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
        this.failures++;
        await this.sleep(this.backoff(this.failures), 'urgent');
      }
    }
    if (this.memory.length > 0) this.drop(this.take(Infinity, Infinity).length, 'shutdown');
  }

  private backoff(retry: number): number {
    return backoffDelay({ initial_ms: this.opts.retry_initial_ms, max_ms: this.opts.retry_max_ms }, retry, this.opts.random);
  }

  /** One move of the pump: spill memory, replay a batch, wait, or send a batch from memory. */
  private async step(): Promise<'continue' | 'stop'> {
    const spill = this.spill;
    if (spill && this.memory.length > 0 && (this.sinkDown || this.overMemory() || this.pastDeadline())) {
      const items = this.take(Infinity, Infinity);
      this.inFlight += items.length;
      try {
        await this.spillItems(items);
      } finally {
        this.inFlight -= items.length;
      }
      return 'continue';
    }
    if (this.pastDeadline()) return 'stop';
    if (spill && spill.records > 0) {
      await this.replayOnce(spill);
      return 'continue';
    }
    if (this.memory.length === 0) {
      this.flushing = false;
      if (this.closing) return 'stop';
      await this.sleep(IDLE_WAIT_MS, 'records', true);
      return 'continue';
    }
    const waited = Date.now() - this.memory[0].at;
    const full = this.flushing || this.memory.length >= this.batchRecords() || this.memoryBytes >= this.opts.batch_max_bytes;
    if (!full && !this.closing && waited < this.opts.batch_max_wait_ms) {
      await this.sleep(this.opts.batch_max_wait_ms - waited, 'records');
      return 'continue';
    }
    await this.deliverFromMemory(this.take(this.batchRecords(), this.opts.batch_max_bytes));
    return 'continue';
  }

  /** The spill's oldest batch: sent (split while refused) and consumed, or backed off from. */
  private async replayOnce(spill: SpillBuffer): Promise<void> {
    if (this.replaying === null) {
      const batch = await spill.peek(this.batchRecords(), this.opts.batch_max_bytes);
      if (batch.length === 0) return; // only a torn line was left: the count is reset
      this.replaying = { records: batch.length, parts: [{ lines: batch, resend: this.failures > 0 }] };
    }
    const r = this.replaying;
    while (r.parts.length > 0) {
      if ((await this.sendPart(r.parts, (n) => (this.c.replayed += n))) === 'failed') {
        this.failures++;
        // the sink stays down: newer records go to disk instead of waiting in memory
        if (this.failures >= this.opts.attempts_before_spill) this.sinkDown = true;
        await this.sleep(this.backoff(this.failures), 'urgent');
        return;
      }
      this.failures = 0;
      this.sinkDown = false;
    }
    this.replaying = null;
    await spill.consume(r.records);
  }

  /** One batch taken from memory: sent (split while refused), spilled (at the head: the spill is empty), or dropped. */
  private async deliverFromMemory(items: Item[]): Promise<void> {
    this.inFlight += items.length;
    try {
      await this.deliverTaken(items);
    } finally {
      this.inFlight -= items.length;
    }
  }

  private async deliverTaken(items: Item[]): Promise<void> {
    const parts: Part[] = [{ lines: items.map((i) => i.line), resend: false }];
    // failed sends in a row; a send that settles records resets it
    let failed = 0;
    while (parts.length > 0) {
      if ((await this.sendPart(parts, (n) => (this.c.sent += n))) === 'settled') {
        failed = 0;
        continue;
      }
      failed++;
      const giveUp = this.pastDeadline() || (this.spill !== null && (failed >= this.opts.attempts_before_spill || this.overMemory()));
      if (giveUp) {
        const rest = parts.flatMap((p) => p.lines);
        if (this.spill) {
          this.sinkDown = true;
          await this.spillLines(rest);
        } else this.drop(rest.length, 'shutdown');
        return;
      }
      await this.sleep(this.backoff(failed), 'urgent');
    }
  }

  /**
   * Sends `parts[0]` once and updates `parts`: a part sent, or whose records the sink
   * settled one by one, is removed (`delivered` counts what arrived); a refused part
   * of several records is replaced by its two halves, a refused single record dropped;
   * the records to retry stay first. `failed` means a retriable failure (the caller
   * backs off): nothing was settled, or a per-record answer asked for some retries.
   */
  private async sendPart(parts: Part[], delivered: (n: number) => void): Promise<'settled' | 'failed'> {
    const part = parts[0];
    const outcome = await this.send(part.lines, part.resend);
    switch (outcome.kind) {
      case 'sent':
        delivered(part.lines.length);
        parts.shift();
        return 'settled';
      case 'failed':
        part.resend = true;
        return 'failed';
      case 'refused': {
        if (part.lines.length > 1) {
          const half = Math.ceil(part.lines.length / 2);
          parts.splice(0, 1, { lines: part.lines.slice(0, half), resend: true }, { lines: part.lines.slice(half), resend: true });
        } else {
          parts.shift();
          this.report(`${this.sink.name} refused a record, dropped: ${outcome.why}`);
          this.drop(1, 'refused');
        }
        return 'settled';
      }
      case 'partial': {
        const retry = part.lines.filter((_, k) => outcome.records[k] === 'retry');
        const refused = outcome.records.filter((o) => o === 'refused').length;
        delivered(outcome.records.filter((o) => o === 'delivered').length);
        if (refused > 0) {
          this.report(`${this.sink.name} refused ${refused} of ${part.lines.length} records, dropped: ${outcome.why}`);
          this.drop(refused, 'refused');
        }
        if (retry.length === 0) {
          parts.shift();
          return 'settled';
        }
        this.report(`send to ${this.sink.name}: ${retry.length} of ${part.lines.length} records to retry: ${outcome.why}`);
        parts[0] = { lines: retry, resend: true };
        return 'failed';
      }
    }
  }

  private spillItems(items: Item[]): Promise<void> {
    return this.spillLines(items.map((i) => i.line));
  }

  private async spillLines(lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    try {
      const { written, dropped } = await this.spill!.append(lines);
      this.c.spilled += written;
      this.drop(dropped, 'spill_full');
    } catch (e) {
      this.report(`spill for ${this.sink.name} failed (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
      this.drop(lines.length, 'spill_error');
    }
  }

  private async send(batch: readonly string[], retry: boolean): Promise<Outcome> {
    if (retry) this.c.retried += batch.length;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.opts.send_timeout_ms} ms`)), this.opts.send_timeout_ms);
      });
      const cut = this.deadlineHit.then(() => Promise.reject(new Error('shutdown deadline')));
      cut.catch(() => undefined); // a send that ends first leaves it unobserved
      await Promise.race([Promise.resolve().then(() => this.sink.send(batch)), timeout, cut]);
      return { kind: 'sent' };
    } catch (e) {
      const err = e as { retriable?: unknown; message?: unknown; records?: unknown };
      const why = String(err.message ?? 'error');
      const records = err.records;
      // per-record outcomes only when they match the batch one to one; else the error speaks for the whole batch
      if (Array.isArray(records) && records.length === batch.length && records.every((o) => OUTCOMES.has(o))) {
        return { kind: 'partial', records: records as RecordOutcome[], why };
      }
      if (err.retriable === false) return { kind: 'refused', why };
      this.report(`send to ${this.sink.name} failed: ${why}`);
      return { kind: 'failed' };
    } finally {
      clearTimeout(timer);
    }
  }
}
