/**
 * The delivery queue and the real HTTP sink against a local server that refuses
 * content: a refused batch is split down to the record the server refuses on its own,
 * and a `_bulk` answer is settled per item (only the retriable items sent again).
 */
import fs = require('fs');
import os = require('os');
import path = require('path');
import { DeliveryQueue, DELIVERY_DEFAULTS, type DeliveryOptions, type DropReason } from '../../../../plugins/llm-audit/core/delivery/queue';
import { HttpSink } from '../../../../plugins/llm-audit/core/sinks/http';
import { Recorder, type Received } from '../sinks/recorder';
import { line, until } from './test-sink';

const sequence = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
/** The record numbers of a json_array body. */
const numbers = (req: Received): number[] => (JSON.parse(req.body) as { i: number }[]).map((r) => r.i);

describe('DeliveryQueue with HttpSink, content refused', () => {
  const srv = new Recorder();
  let dir: string;
  const drops: [number, DropReason][] = [];
  const errors: string[] = [];
  const sinks: HttpSink[] = [];
  beforeAll(() => srv.start());
  afterAll(() => srv.stop());
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-refusals-'));
    srv.requests.length = 0;
    drops.length = 0;
    errors.length = 0;
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const queue = (preset: 'json_array' | 'elasticsearch', over: Partial<DeliveryOptions> = {}) => {
    const sink = new HttpSink({ url: `${srv.url}/${preset === 'json_array' ? 'logs' : '_bulk'}`, preset, timeout_ms: 2000, gzip: false });
    sinks.push(sink);
    return new DeliveryQueue(sink, {
      ...DELIVERY_DEFAULTS,
      batch_max_records: 100,
      // all 100 records of a test are enqueued before the pump runs: one batch
      batch_max_wait_ms: 1000,
      retry_initial_ms: 5,
      retry_max_ms: 20,
      attempts_before_spill: 5,
      spill: { dir: path.join(dir, 'spill'), max_bytes: 1 << 20, segment_bytes: 1 << 20 },
      on_drop: (n, reason) => drops.push([n, reason]),
      on_error: (m) => errors.push(m),
      ...over,
    });
  };

  it('a batch of 100 with one poisoned record: the 99 others arrive once, in order, and exactly 1 is dropped', async () => {
    const POISON = 37;
    const accepted: number[] = [];
    srv.answer = (req) => {
      const got = numbers(req);
      if (got.includes(POISON)) return { status: 400, body: '{"error":"bad record"}' };
      accepted.push(...got);
      return { status: 200, body: '{}' };
    };
    const q = queue('json_array');
    for (const i of sequence(100)) q.enqueue(line(i));
    await until(() => drops.length > 0 && accepted.length === 99);
    const counters = await q.close(1000);

    expect(accepted).toEqual(sequence(100).filter((i) => i !== POISON));
    const sizes = srv.requests.map((r) => numbers(r).length);
    expect(sizes[0]).toBe(100);
    // halves down to the record: 100, 50, 25, 25, 13, 7, 6, 3, 3, 2, 1, then the parts after it, 12 and 50
    expect(sizes).toEqual([100, 50, 25, 25, 13, 7, 6, 3, 3, 2, 1, 12, 50]);
    const resent = sizes.reduce((a, b) => a + b, 0) - 100;
    expect(counters).toEqual({ queued: 100, sent: 99, retried: resent, spilled: 0, dropped: 1, replayed: 0, memory_depth: 0, spill_depth: 0 });
    expect(drops).toEqual([[1, 'refused']]);
    // reported without its content
    expect(errors).toEqual(['http:json_array refused a record, dropped: http:json_array: HTTP 400']);
  });

  it('a 413 is split the same way: smaller halves pass, nothing is dropped', async () => {
    const accepted: number[] = [];
    srv.answer = (req) => {
      if (numbers(req).length > 20) return { status: 413, body: '' };
      accepted.push(...numbers(req));
      return { status: 200, body: '{}' };
    };
    const q = queue('json_array');
    for (const i of sequence(100)) q.enqueue(line(i));
    await until(() => accepted.length === 100);
    const counters = await q.close(1000);
    expect(accepted).toEqual(sequence(100));
    // 100 → 50 + 50 → four parts of 25 → eight of 13 or 12: 1 + 2 + 4 + 8 sends
    expect(srv.requests).toHaveLength(15);
    expect(counters).toMatchObject({ queued: 100, sent: 100, dropped: 0, retried: 300 });
    expect(drops).toEqual([]);
  });

  it('a retriable failure while splitting spills the unsent parts in order; the replay splits again and consumes the batch once', async () => {
    const POISON = 37;
    const accepted: number[] = [];
    let n = 0;
    // request 1 refused (the poison), 2 and 3 down (memory gives up: attempts_before_spill 2),
    // 4 the replay refused, 5 and 6 down again; while 5 is answered 50 newer records
    // arrive, which go to the spill's tail (the segment the replay reads) after 6
    let q: DeliveryQueue;
    srv.answer = (req) => {
      n++;
      if (n === 5) for (const i of sequence(50, 100)) q.enqueue(line(i));
      if (n === 2 || n === 3 || n === 5 || n === 6) return { status: 503, body: '' };
      const got = numbers(req);
      if (got.includes(POISON)) return { status: 400, body: '' };
      accepted.push(...got);
      return { status: 200, body: '{}' };
    };
    q = queue('json_array', { attempts_before_spill: 2 });
    for (const i of sequence(100)) q.enqueue(line(i));
    await until(() => accepted.length >= 149 && q.counters().spill_depth === 0);
    const counters = await q.close(1000);
    expect(accepted).toEqual(sequence(150).filter((i) => i !== POISON));
    expect(counters).toMatchObject({ queued: 150, sent: 0, spilled: 150, replayed: 149, dropped: 1, memory_depth: 0, spill_depth: 0 });
    expect(drops).toEqual([[1, 'refused']]);
    // the spilled remainder was sent as one batch again: the 100, then its first half (down)
    expect(srv.requests.slice(0, 6).map((r) => numbers(r).length)).toEqual([100, 50, 50, 100, 50, 50]);
  });

  it('_bulk with mixed item statuses: the good items are indexed once, only the retriable ones are sent again, the refused ones dropped one by one', async () => {
    const rec = (i: number) => JSON.stringify({ i, chain: { chain_id: 'c0ffee', seq: i } });
    const REFUSED = new Set([10, 55]);
    /** Items answered 429/503 this many more times before they pass. */
    const flaky = new Map([[3, 1], [40, 1], [77, 1], [20, 2]]);
    /** Documents indexed, by _id, and how often each was answered 409 (already there). */
    const indexed = new Map<string, number>();
    const order: number[] = [];
    srv.answer = (req) => {
      const lines = req.body.split('\n').filter((l) => l !== '');
      const items = [];
      for (let k = 0; k < lines.length; k += 2) {
        const id = (JSON.parse(lines[k]) as { create: { _id: string } }).create._id;
        const i = (JSON.parse(lines[k + 1]) as { i: number }).i;
        const left = flaky.get(i) ?? 0;
        if (REFUSED.has(i)) items.push({ create: { status: 400, error: { type: 'mapper_parsing_exception' } } });
        else if (left > 0) {
          flaky.set(i, left - 1);
          items.push({ create: { status: i === 20 ? 503 : 429, error: { type: 'es_rejected_execution_exception' } } });
        } else if (indexed.has(id)) {
          indexed.set(id, indexed.get(id)! + 1);
          items.push({ create: { status: 409, error: { type: 'version_conflict_engine_exception' } } });
        } else {
          indexed.set(id, 0);
          order.push(i);
          items.push({ create: { status: 201 } });
        }
      }
      return { status: 200, body: JSON.stringify({ errors: items.some((it) => it.create.status !== 201), items }) };
    };
    const q = queue('elasticsearch');
    for (const i of sequence(100)) q.enqueue(rec(i));
    await until(() => indexed.size === 98);
    const counters = await q.close(1000);

    const good = sequence(100).filter((i) => !REFUSED.has(i));
    expect([...indexed.keys()].sort()).toEqual(good.map((i) => `c0ffee-${i}`).sort());
    expect([...indexed.values()].every((conflicts) => conflicts === 0)).toBe(true); // none sent twice
    // the batch, then only its retriable items (in order), then the one still failing
    const sent = srv.requests.map((r) =>
      r.body
        .split('\n')
        .filter((l, k) => l !== '' && k % 2 === 1)
        .map((l) => (JSON.parse(l) as { i: number }).i),
    );
    expect(sent).toEqual([sequence(100), [3, 20, 40, 77], [20]]);
    expect(order).toEqual([...good.filter((i) => ![3, 20, 40, 77].includes(i)), 3, 40, 77, 20]);
    expect(counters).toEqual({ queued: 100, sent: 98, retried: 5, spilled: 0, dropped: 2, replayed: 0, memory_depth: 0, spill_depth: 0 });
    expect(drops).toEqual([[2, 'refused']]);
    expect(errors).toContain('http:elasticsearch refused 2 of 100 records, dropped: http:elasticsearch: _bulk: 6 of 100 items failed (first status 429 es_rejected_execution_exception)');
  });

  afterAll(async () => {
    for (const s of sinks) await s.close();
  });
});
