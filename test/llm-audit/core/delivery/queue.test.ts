import fs = require('fs');
import os = require('os');
import path = require('path');
import { DeliveryQueue, type DeliveryOptions, type DropReason } from '../../../../plugins/llm-audit/core/delivery/queue';
import { line, lineNumber, TestSink, until } from './test-sink';

const LINE_BYTES = Buffer.byteLength(line(0)) + 1;

describe('DeliveryQueue', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-queue-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const drops: [number, DropReason][] = [];
  beforeEach(() => (drops.length = 0));
  const options = (over: Partial<DeliveryOptions> = {}): DeliveryOptions => ({
    batch_max_records: 50,
    batch_max_bytes: 1 << 20,
    batch_max_wait_ms: 20,
    memory_max_records: 10_000,
    memory_max_bytes: 64 << 20,
    retry_initial_ms: 2,
    retry_max_ms: 20,
    attempts_before_spill: 2,
    send_timeout_ms: 1000,
    spill: { dir: path.join(dir, 'spill'), max_bytes: 64 << 20, segment_bytes: 4096 },
    on_drop: (n, reason) => drops.push([n, reason]),
    ...over,
  });
  const sequence = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

  it('delivers in order in batches bounded by count and bytes', async () => {
    const sink = new TestSink();
    const q = new DeliveryQueue(sink, options({ batch_max_records: 7, batch_max_bytes: 5 * LINE_BYTES }));
    for (const i of sequence(200)) q.enqueue(line(i));
    await until(() => sink.received.length === 200);
    expect(sink.received.map(lineNumber)).toEqual(sequence(200));
    expect(Math.max(...sink.batches.map((b) => b.length))).toBe(5);
    expect(await q.close(1000)).toEqual({ queued: 200, sent: 200, retried: 0, spilled: 0, dropped: 0, replayed: 0, memory_depth: 0, spill_depth: 0 });
    expect(sink.closed).toBe(true);
  });

  it('holds a partial batch at most batch_max_wait_ms', async () => {
    const sink = new TestSink();
    const q = new DeliveryQueue(sink, options({ batch_max_wait_ms: 80 }));
    const t0 = Date.now();
    q.enqueue(line(1));
    q.enqueue(line(2));
    await until(() => sink.received.length === 2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(75);
    expect(sink.batches).toEqual([[line(1), line(2)]]);
    await q.close(100);
  });

  it('sends a partial batch at once when flushed, then waits for full batches again', async () => {
    const sink = new TestSink();
    const q = new DeliveryQueue(sink, options({ batch_max_wait_ms: 60_000 }));
    q.enqueue(line(1));
    q.enqueue(line(2));
    await new Promise((r) => setTimeout(r, 30));
    expect(sink.received).toHaveLength(0);
    q.flush();
    await until(() => sink.received.length === 2);
    expect(sink.batches).toEqual([[line(1), line(2)]]);
    q.enqueue(line(3));
    await new Promise((r) => setTimeout(r, 50));
    expect(sink.received).toHaveLength(2);
    await q.close(100);
  });

  it('counts a record finished only once the sink has it, not while its send is in flight', async () => {
    let release: () => void = () => undefined;
    const sent: string[] = [];
    const slow = {
      name: 'slow',
      send: (batch: readonly string[]) =>
        new Promise<void>((resolve) => {
          release = () => {
            sent.push(...batch);
            resolve();
          };
        }),
      close: async () => undefined,
    };
    const q = new DeliveryQueue(slow, options({ batch_max_wait_ms: 0 }));
    q.enqueue(line(1));
    await new Promise((r) => setTimeout(r, 30)); // taken from memory, its send pending
    expect(q.counters().memory_depth).toBe(0);
    expect(q.finished()).toBe(0);
    release();
    await until(() => q.finished() === 1);
    expect(sent).toEqual([line(1)]);
    await q.close(100);
  });

  it('on close, cuts a send still in flight at the deadline and keeps its batch and the rest on disk', async () => {
    const hang = { name: 'hang', send: () => new Promise<void>(() => undefined), close: async () => undefined };
    // a send's own timeout far past the deadline: only the deadline can end it
    const q = new DeliveryQueue(hang, options({ send_timeout_ms: 60_000, batch_max_wait_ms: 0, batch_max_records: 10 }));
    for (const i of sequence(100)) q.enqueue(line(i));
    await new Promise((r) => setTimeout(r, 50)); // the first batch is in flight
    const t0 = Date.now();
    const c = await q.close(300);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(c).toMatchObject({ queued: 100, spilled: 100, dropped: 0, memory_depth: 0, spill_depth: 100 });
    // a new queue on the same directory (the next process) delivers all of them, in order
    const sink = new TestSink();
    const next = new DeliveryQueue(sink, options());
    await until(() => sink.received.length === 100);
    expect(sink.received.map(lineNumber)).toEqual(sequence(100));
    await next.close(1000);
  });

  it('never waits in enqueue, even when the sink never answers', async () => {
    const hang = { name: 'hang', send: () => new Promise<void>(() => undefined), close: async () => undefined };
    const q = new DeliveryQueue(hang, options({ spill: null, send_timeout_ms: 50, batch_max_wait_ms: 0 }));
    const t0 = process.hrtime.bigint();
    for (const i of sequence(1000)) expect(q.enqueue(line(i))).toBeUndefined();
    expect(Number(process.hrtime.bigint() - t0) / 1e6).toBeLessThan(500);
    expect(q.counters().queued).toBe(1000);
    await q.close(0);
  });

  it('spills while the sink is down and, once it is back, delivers every record exactly once and in order', async () => {
    const sink = new TestSink();
    sink.down = true;
    const q = new DeliveryQueue(sink, options());
    let next = 0;
    const produce = async (n: number) => {
      for (let k = 0; k < n; k++) {
        q.enqueue(line(next++));
        if (k % 25 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    };
    await produce(1500);
    await until(() => q.counters().spilled > 1000);
    sink.delayMs = 2;
    sink.down = false;
    await until(() => q.counters().replayed > 0);
    await produce(500); // arrives while the backlog replays
    expect(q.counters().spill_depth).toBeGreaterThan(0);
    await until(() => sink.received.length >= 2000);
    const counters = await q.close(2000);
    const got = sink.received.map(lineNumber);
    expect(got).toEqual(sequence(2000));
    expect(counters).toMatchObject({ queued: 2000, dropped: 0, memory_depth: 0, spill_depth: 0 });
    expect(counters.sent + counters.replayed).toBe(2000);
    expect(counters.replayed).toBeGreaterThan(1000);
    expect(counters.retried).toBeGreaterThan(0);
    expect(fs.readdirSync(path.join(dir, 'spill')).filter((f) => f.startsWith('seg-'))).toEqual([]);
  });

  it('keeps its retry backoff while records keep arriving for a sink that is down', async () => {
    const sink = new TestSink();
    sink.down = true;
    const q = new DeliveryQueue(sink, options({ spill: null, batch_max_records: 1, retry_initial_ms: 100, retry_max_ms: 100, random: () => 0.99 }));
    const end = Date.now() + 300;
    for (let i = 0; Date.now() < end; i++) {
      q.enqueue(line(i));
      await new Promise((r) => setTimeout(r, 1));
    }
    // the first try, then one retry per ~99 ms: about 4 in 300 ms, not one per record
    expect(sink.calls).toBeLessThanOrEqual(6);
    await q.close(0);
  });

  it('counts exactly the records the spill cap cannot hold, and reports them', async () => {
    const sink = new TestSink();
    sink.down = true;
    const q = new DeliveryQueue(sink, options({ attempts_before_spill: 1, batch_max_records: 5, spill: { dir: path.join(dir, 'spill'), max_bytes: 10 * LINE_BYTES, segment_bytes: 4 * LINE_BYTES } }));
    for (const i of sequence(30)) q.enqueue(line(i));
    await until(() => q.counters().dropped === 20);
    const counters = await q.close(50);
    expect(counters).toMatchObject({ queued: 30, spilled: 10, dropped: 20, sent: 0, replayed: 0, spill_depth: 10 });
    expect(drops).toEqual([[20, 'spill_full']]);
  });

  it('replays after a restart what the previous process spilled, before anything new', async () => {
    const down = new TestSink();
    down.down = true;
    const first = new DeliveryQueue(down, options());
    for (const i of sequence(120)) first.enqueue(line(i));
    const c1 = await first.close(100);
    expect(c1).toMatchObject({ queued: 120, spilled: 120, dropped: 0, spill_depth: 120 });

    const up = new TestSink();
    const second = new DeliveryQueue(up, options());
    for (const i of sequence(30, 120)) second.enqueue(line(i));
    await until(() => up.received.length === 150);
    const c2 = await second.close(1000);
    expect(up.received.map(lineNumber)).toEqual(sequence(150));
    expect(c2).toMatchObject({ queued: 30, replayed: 120, sent: 30, dropped: 0, spill_depth: 0 });
  });

  it('resumes a replay from the persisted cursor, not from the start', async () => {
    const down = new TestSink();
    down.down = true;
    const first = new DeliveryQueue(down, options());
    for (const i of sequence(100)) first.enqueue(line(i));
    await first.close(100);
    // a second process delivers part of the backlog, then goes down and stops
    const partial = new TestSink();
    partial.downAfterRecords = 30;
    const second = new DeliveryQueue(partial, options({ batch_max_records: 10 }));
    await until(() => partial.down);
    await second.close(50);
    const delivered = partial.received.length;
    expect(delivered).toBe(30);
    const third = new TestSink();
    const q3 = new DeliveryQueue(third, options());
    await until(() => third.received.length === 100 - delivered);
    await q3.close(500);
    expect([...partial.received, ...third.received].map(lineNumber)).toEqual(sequence(100));
  });

  it('without a spill, drops past the memory bound at once and what is left at the deadline', async () => {
    const sink = new TestSink();
    sink.down = true;
    const q = new DeliveryQueue(sink, options({ spill: null, memory_max_records: 10 }));
    for (const i of sequence(25)) q.enqueue(line(i));
    expect(q.counters()).toMatchObject({ queued: 10, dropped: 15 });
    const counters = await q.close(30);
    expect(counters).toMatchObject({ queued: 10, dropped: 25, sent: 0 });
    const byReason = (r: DropReason) => drops.filter(([, why]) => why === r).reduce((a, [n]) => a + n, 0);
    expect(byReason('memory_full')).toBe(15);
    expect(byReason('shutdown')).toBe(10);
  });

  it('keeps counting and never throws from enqueue when a callback throws', async () => {
    const sink = new TestSink();
    sink.down = true;
    const boom = () => {
      throw new Error('callback failed');
    };
    const q = new DeliveryQueue(sink, options({ spill: null, memory_max_records: 2, on_drop: boom, on_error: boom }));
    for (const i of sequence(5)) expect(() => q.enqueue(line(i))).not.toThrow();
    expect(q.counters()).toMatchObject({ queued: 2, dropped: 3 });
    expect(await q.close(20)).toMatchObject({ dropped: 5 });
  });

  it('drops only the record the destination refuses as content, splitting its batch, and goes on', async () => {
    const sink = new TestSink();
    sink.refuse = (l) => lineNumber(l) === 3;
    const errors: string[] = [];
    const q = new DeliveryQueue(sink, options({ batch_max_records: 2, batch_max_wait_ms: 0, on_error: (m) => errors.push(m) }));
    for (const i of sequence(6)) q.enqueue(line(i));
    await until(() => sink.received.length === 5);
    const counters = await q.close(100);
    expect(sink.received.map(lineNumber)).toEqual([0, 1, 2, 4, 5]);
    // [2, 3] refused, then [2] and [3] sent again: 2 records resent
    expect(counters).toMatchObject({ sent: 5, dropped: 1, retried: 2 });
    expect(drops).toEqual([[1, 'refused']]);
    expect(errors).toEqual(['test refused a record, dropped: test: refused']);
  });

  it('splits a refused spilled batch too, and consumes it once every part is settled', async () => {
    const sink = new TestSink();
    sink.down = true;
    sink.refuse = (l) => [5, 17].includes(lineNumber(l));
    const q = new DeliveryQueue(sink, options({ batch_max_records: 40, batch_max_wait_ms: 0, attempts_before_spill: 1 }));
    for (const i of sequence(30)) q.enqueue(line(i));
    await until(() => q.counters().spilled === 30);
    sink.down = false;
    await until(() => q.counters().spill_depth === 0);
    const counters = await q.close(1000);
    expect(sink.received.map(lineNumber)).toEqual(sequence(30).filter((i) => i !== 5 && i !== 17));
    expect(counters).toMatchObject({ queued: 30, replayed: 28, sent: 0, dropped: 2, spill_depth: 0 });
    expect(drops).toEqual([[1, 'refused'], [1, 'refused']]);
  });

  it('flushes at close without waiting for a partial batch, and refuses records after close', async () => {
    const sink = new TestSink();
    const q = new DeliveryQueue(sink, options({ batch_max_wait_ms: 60_000 }));
    for (const i of sequence(3)) q.enqueue(line(i));
    const t0 = Date.now();
    const closing = q.close(5000);
    q.enqueue(line(99));
    const counters = await closing;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(sink.received.map(lineNumber)).toEqual([0, 1, 2]);
    expect(counters).toMatchObject({ queued: 3, sent: 3, dropped: 1 });
    expect(drops).toEqual([[1, 'shutdown']]);
  });
});
