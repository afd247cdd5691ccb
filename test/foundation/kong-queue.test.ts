/**
 * The bridge's model of kong/tools/queue.lua (test/bridge/kong-queue.ts) with
 * gateway-log.lua's handler (llm-gateway-lua.ts ingestHandler), against a small HTTP
 * server on a unix socket started here: batching by max_batch_size, the coalescing
 * delay, retries with exponential backoff and the give-up after max_retry_time, the
 * oldest entries dropped at max_entries, statuses other than 200/503 dropped.
 */
import fs = require('fs');
import os = require('os');
import path = require('path');
import { KongQueues, newQueueCounters, type QueueConf, type QueueCounters } from '../bridge/kong-queue';
import { ingestHandler } from '../bridge/llm-gateway-lua';
import { IngestStub } from '../support/ingest-stub';

const CONF: QueueConf = {
  name: 'test-ingest',
  log_tag: 'test',
  max_batch_size: 3,
  max_coalescing_delay: 0.3,
  max_entries: 100,
  max_retry_time: 5,
  initial_retry_delay: 0.05,
  max_retry_delay: 0.2,
  concurrency_limit: 1,
};

describe('kong/tools/queue.lua model with the ingest handler', () => {
  let dir: string;
  let ingest: IngestStub;
  let counters: QueueCounters;
  let logs: string[];
  let queues: KongQueues;
  const enqueue = (n: number, conf: QueueConf = CONF) => {
    const send = ingestHandler(ingest.socket, (level, m) => logs.push(`${level}: ${m}`));
    return queues.enqueue(conf, send, { socket: `unix:${ingest.socket}` }, JSON.stringify({ n }));
  };

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'queue-'));
    ingest = new IngestStub(path.join(dir, 'ingest.sock'));
    await ingest.start();
    counters = newQueueCounters();
    logs = [];
    queues = new KongQueues(counters, (level, m) => logs.push(`${level}: ${m}`));
  });
  afterEach(async () => {
    // what gateway-log.lua's handler sends: POST /v1/records, a JSON array
    for (const r of ingest.received) expect([r.method, r.url, r.contentType]).toEqual(['POST', '/v1/records', 'application/json']);
    await queues.stop();
    await ingest.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends batches of max_batch_size, one handler call at a time, the rest after the coalescing delay', async () => {
    const t0 = Date.now();
    for (let n = 1; n <= 7; n++) expect(enqueue(n)).toEqual([true]);
    await queues.idle();
    expect(ingest.received.map((r) => r.records.length)).toEqual([3, 3, 1]);
    expect(ingest.delivered()).toEqual([1, 2, 3, 4, 5, 6, 7].map((n) => ({ n })));
    // full batches go at once; the last one waited for its batch to fill (0.3 s, less 0.05)
    expect(ingest.received[1].at - t0).toBeLessThan(250);
    expect(ingest.received[2].at - ingest.received[1].at).toBeGreaterThanOrEqual(240);
    expect(counters).toMatchObject({ enqueued: 7, handlerCalls: 3, batchesSent: 3, entriesSent: 7, handlerFailures: 0, droppedFull: 0, droppedRetry: 0 });
  });

  it('coalesces the entries that arrive within max_coalescing_delay of the first into one batch', async () => {
    const t0 = Date.now();
    enqueue(1);
    await new Promise((r) => setTimeout(r, 100));
    enqueue(2);
    await queues.idle();
    expect(ingest.received.map((r) => r.records)).toEqual([[{ n: 1 }, { n: 2 }]]);
    expect(ingest.received[0].at - t0).toBeGreaterThanOrEqual(240);
    // the queue is gone once empty (queue.lua deletes it): the next entry makes a new one
    expect(queues.busy).toBe(false);
    enqueue(3);
    await queues.idle();
    expect(ingest.delivered()).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('retries a 503 after initial_retry_delay, doubling, capped by max_retry_delay', async () => {
    ingest.statuses = [503, 503, 503, 503];
    enqueue(1, { ...CONF, max_batch_size: 1 });
    await queues.idle();
    expect(ingest.received.map((r) => r.status)).toEqual([503, 503, 503, 503, 200]);
    const gaps = ingest.received.slice(1).map((r, i) => r.at - ingest.received[i].at);
    // 0.05, 0.1, 0.2, then capped at 0.2 (max_retry_delay)
    const expected = [50, 100, 200, 200];
    gaps.forEach((g, i) => {
      expect(g).toBeGreaterThanOrEqual(expected[i] - 5);
      expect(g).toBeLessThan(expected[i] + 150);
    });
    expect(counters).toMatchObject({ handlerCalls: 5, handlerFailures: 4, batchesSent: 1, droppedRetry: 0 });
    expect(logs.filter((l) => l.startsWith('warn:'))).toEqual(Array(4).fill('warn: [test] queue test-ingest: handler could not process entries: the ingest answered 503'));
  });

  it('gives a batch up after max_retry_time, with an error line', async () => {
    ingest.statuses = Array(100).fill(503);
    enqueue(1, { ...CONF, max_retry_time: 0.15, max_coalescing_delay: 0.1 });
    enqueue(2, { ...CONF, max_retry_time: 0.15, max_coalescing_delay: 0.1 });
    await queues.idle();
    expect(counters).toMatchObject({ batchesSent: 0, droppedRetry: 2 });
    expect(counters.handlerFailures).toBeGreaterThanOrEqual(3);
    expect(logs).toContain('err: [test] queue test-ingest: could not send entries due to max_retry_time exceeded. 2 queue entries were lost');
  });

  it('drops a batch the ingest refuses (not 200 or 503) with an error line, without retrying', async () => {
    ingest.statuses = [400];
    enqueue(1, { ...CONF, max_batch_size: 1 });
    enqueue(2, { ...CONF, max_batch_size: 1 });
    await queues.idle();
    expect(ingest.received.map((r) => r.status)).toEqual([400, 200]);
    expect(counters).toMatchObject({ handlerCalls: 2, handlerFailures: 0 });
    expect(logs).toContain('err: llm-gateway ingest refused a batch of 1 records: status 400; dropped (sending it again would get the same answer)');
  });

  it('retries while nothing listens on the socket, and delivers once the ingest is back (a plugin-server restart)', async () => {
    await ingest.stop();
    enqueue(1, { ...CONF, max_batch_size: 1 });
    await new Promise((r) => setTimeout(r, 300));
    expect(counters.handlerFailures).toBeGreaterThanOrEqual(2);
    expect(logs.some((l) => /handler could not process entries: connecting to unix:.*ingest\.sock: connect E(NOENT|CONNREFUSED)/.test(l))).toBe(true);
    await ingest.start();
    await queues.idle();
    expect(ingest.delivered()).toEqual([{ n: 1 }]);
  });

  it('drops the oldest waiting entries at max_entries while a batch is being retried', async () => {
    const conf = { ...CONF, max_batch_size: 1, max_entries: 3, initial_retry_delay: 0.1, max_retry_delay: 0.1 };
    ingest.statuses = [503, 503];
    enqueue(1, conf);
    // let the timer take entry 1 into its batch and fail once
    await new Promise((r) => setTimeout(r, 50));
    expect(ingest.received.length).toBe(1);
    for (let n = 2; n <= 7; n++) expect(enqueue(n, conf)).toEqual([true]);
    // 80 % of 3 waiting: one warning; then 2, 3, 4 dropped to make room for 5, 6, 7
    expect(logs.filter((l) => l.includes('queue full, dropping old entries until processing is successful again'))).toHaveLength(3);
    expect(logs.filter((l) => l.includes('queue at 80% capacity'))).toHaveLength(1);
    await queues.idle();
    expect(ingest.delivered()).toEqual([1, 5, 6, 7].map((n) => ({ n })));
    expect(counters).toMatchObject({ enqueued: 7, droppedFull: 3, entriesSent: 4 });
    expect(logs).toContain('info: [test] queue test-ingest: queue resumed processing');
  });
});
