import fs = require('fs');
import os = require('os');
import path = require('path');
import { AuditChain } from '../../../../plugins/llm-audit/core/chain';
import { DeliveryQueue, DELIVERY_DEFAULTS } from '../../../../plugins/llm-audit/core/delivery/queue';
import {
  CLOUDWATCH_MAX_EVENT_BYTES,
  CloudWatchSink,
  defaultLogStream,
  splitEvents,
  type CloudWatchNotice,
  type CloudWatchSinkOptions,
} from '../../../../plugins/llm-audit/core/sinks/cloudwatch';
import { FakeCloudWatchLogs } from './cloudwatch-server';

const GROUP = '/kong/llm-audit';
const STREAM = 'llm-audit/node-1';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const TOKEN = 'FwoGZXIvYXdzEXAMPLESESSIONTOKEN';
const HOUR = 3600_000;
const DAY = 24 * HOUR;

/** A record as the queue hands it over: JSON text with a `time`. */
const rec = (time: number | null, extra: Record<string, unknown> = {}) => JSON.stringify({ time: time === null ? null : new Date(time).toISOString(), ...extra });
/** A record whose UTF-8 text is exactly `bytes` long. */
const recOfBytes = (time: number, bytes: number) => {
  const base = rec(time, { pad: '' });
  return rec(time, { pad: 'x'.repeat(bytes - Buffer.byteLength(base)) });
};

describe('CloudWatchSink against a CloudWatch Logs JSON endpoint', () => {
  const aws = new FakeCloudWatchLogs();
  const sinks: CloudWatchSink[] = [];
  beforeAll(() => aws.start());
  afterAll(() => aws.stop());
  beforeEach(() => aws.reset());
  afterEach(async () => {
    for (const s of sinks.splice(0)) await s.close();
  });
  const withStream = () => aws.groups.set(GROUP, new Map([[STREAM, []]]));
  const sink = (o: Partial<CloudWatchSinkOptions> = {}) => {
    const s = new CloudWatchSink({
      region: 'eu-west-1',
      log_group: GROUP,
      log_stream: STREAM,
      endpoint: aws.url,
      credentials: { access_key_id: 'AKIDEXAMPLE', secret_access_key: SECRET, session_token: TOKEN },
      timeout_ms: 2000,
      ...o,
    });
    sinks.push(s);
    return s;
  };

  it('puts the records as events sorted by their time, signed with the configured key, in one call', async () => {
    withStream();
    const t = Date.now() - HOUR;
    const a = rec(t + 2000, { request_id: 'a' });
    const b = rec(t, { request_id: 'b' });
    const c = rec(t + 1000, { request_id: 'c' });
    await sink().send([a, b, c]);
    expect(aws.calls.map((x) => x.op)).toEqual(['PutLogEvents']);
    const [call] = aws.calls;
    expect(call.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(call.headers['x-amz-target']).toBe('Logs_20140328.PutLogEvents');
    expect(call.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/logs\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/);
    expect(call.headers['x-amz-security-token']).toBe(TOKEN);
    expect(JSON.stringify(call)).not.toContain(SECRET);
    expect(call.body).toEqual({
      logGroupName: GROUP,
      logStreamName: STREAM,
      logEvents: [
        { timestamp: t, message: b },
        { timestamp: t + 1000, message: c },
        { timestamp: t + 2000, message: a },
      ],
    });
    expect(aws.events(GROUP, STREAM).map((e) => e.message)).toEqual([b, c, a]);
  });

  it('keeps queue order among records of one time, and stamps a record without a time with the time of sending', async () => {
    withStream();
    const now = Date.now();
    const t = now - 5000;
    const s = sink({ now: () => now });
    await s.send([rec(t, { i: 1 }), rec(null, { i: 2 }), rec(t, { i: 3 }), 'not json']);
    expect(aws.events(GROUP, STREAM)).toEqual([
      { timestamp: t, message: rec(t, { i: 1 }) },
      { timestamp: t, message: rec(t, { i: 3 }) },
      { timestamp: now, message: rec(null, { i: 2 }) },
      { timestamp: now, message: 'not json' },
    ]);
    expect(s.counters().restamped).toBe(0);
  });

  it('creates the missing stream on ResourceNotFoundException and puts again', async () => {
    aws.groups.set(GROUP, new Map());
    const r = rec(Date.now());
    await sink().send([r]);
    expect(aws.calls.map((x) => x.op)).toEqual(['PutLogEvents', 'CreateLogStream', 'PutLogEvents']);
    expect(aws.calls[1].body).toEqual({ logGroupName: GROUP, logStreamName: STREAM });
    expect(aws.events(GROUP, STREAM).map((e) => e.message)).toEqual([r]);
  });

  it('creates the missing group too with create_log_group, and fails retriably without it', async () => {
    const r = rec(Date.now());
    const err = await sink().send([r]).catch((e) => e);
    expect(err).toMatchObject({ name: 'SinkError', retriable: true, status: 400, message: 'cloudwatch: CreateLogStream failed (HTTP 400 ResourceNotFoundException)' });
    expect(aws.calls.map((x) => x.op)).toEqual(['PutLogEvents', 'CreateLogStream']);
    aws.calls.length = 0;
    await sink({ create_log_group: true }).send([r]);
    expect(aws.calls.map((x) => x.op)).toEqual(['PutLogEvents', 'CreateLogStream', 'CreateLogGroup', 'CreateLogStream', 'PutLogEvents']);
    expect(aws.events(GROUP, STREAM).map((e) => e.message)).toEqual([r]);
  });

  it('takes a stream that another node created meanwhile (ResourceAlreadyExistsException)', async () => {
    aws.groups.set(GROUP, new Map());
    let first = true;
    // the first put fails as if the stream were missing, though it exists by the time we create it
    aws.fail = (c) => {
      if (c.op !== 'PutLogEvents' || !first) return null;
      first = false;
      aws.groups.get(GROUP)!.set(STREAM, []);
      return { status: 400, type: 'ResourceNotFoundException' };
    };
    await sink().send([rec(Date.now())]);
    expect(aws.calls.map((x) => x.op)).toEqual(['PutLogEvents', 'CreateLogStream', 'PutLogEvents']);
    expect(aws.events(GROUP, STREAM)).toHaveLength(1);
  });

  it('splits at 10,000 events a call', async () => {
    withStream();
    const t = Date.now() - HOUR;
    const batch = Array.from({ length: 10_001 }, (_, i) => rec(t + i, { i }));
    const s = sink();
    expect(s.max_batch_records).toBe(10_000);
    await s.send(batch);
    expect(aws.puts().map((p) => p.length)).toEqual([10_000, 1]);
    expect(aws.events(GROUP, STREAM).map((e) => e.message)).toEqual(batch);
  });

  it('splits at 1,048,576 bytes counting 26 a event: four largest events fill a call exactly, a fifth starts the next', async () => {
    withStream();
    const t = Date.now() - HOUR;
    const max = CLOUDWATCH_MAX_EVENT_BYTES - 26; // 262,118: 4 × (262,118 + 26) = 1,048,576
    const batch = Array.from({ length: 5 }, (_, i) => recOfBytes(t + i, max));
    expect(batch.map((r) => Buffer.byteLength(r))).toEqual(Array(5).fill(max));
    await sink().send(batch);
    expect(aws.puts().map((p) => p.length)).toEqual([4, 1]);
    expect(aws.events(GROUP, STREAM).map((e) => e.message)).toEqual(batch);
  });

  it('splits where the events of one call would span 24 hours or more', async () => {
    withStream();
    const t = Date.now() - 3 * DAY;
    const batch = [rec(t), rec(t + DAY - 1), rec(t + DAY), rec(t + 2 * DAY - 1)];
    await sink().send(batch);
    expect(aws.puts().map((p) => p.map((e) => e.timestamp - t))).toEqual([[0, DAY - 1], [DAY, 2 * DAY - 1]]);
  });

  it('splitEvents honours the three limits together', () => {
    const ev = (timestamp: number, bytes: number) => ({ timestamp, bytes });
    expect(splitEvents([])).toEqual([]);
    expect(splitEvents([ev(0, 1_048_550), ev(0, 0)]).map((c) => c.length)).toEqual([1, 1]);
    expect(splitEvents([ev(0, 1_048_524), ev(0, 0)]).map((c) => c.length)).toEqual([2]);
    expect(splitEvents([ev(0, 1), ev(DAY - 1, 1), ev(DAY, 1)]).map((c) => c.length)).toEqual([2, 1]);
  });

  it('cuts a record too large for one event to a JSON stub that keeps its chain link and hash, counted', async () => {
    withStream();
    const chain = new AuditChain({ key: Buffer.alloc(32, 1), key_id: 'k1' });
    const t = Date.now() - HOUR;
    const big = JSON.stringify(chain.seal({ time: new Date(t).toISOString(), request_id: 'big', note: '"é'.repeat(100_000) }));
    const small = rec(t + 1);
    const notices: [CloudWatchNotice, number][] = [];
    const s = sink({ on_notice: (n, c) => notices.push([n, c]) });
    await s.send([big, small]);
    const [stored, next] = aws.events(GROUP, STREAM);
    expect(next.message).toBe(small);
    expect(stored.timestamp).toBe(t);
    expect(Buffer.byteLength(stored.message) + 26).toBeLessThanOrEqual(CLOUDWATCH_MAX_EVENT_BYTES);
    expect(Buffer.byteLength(stored.message) + 26).toBeGreaterThan(CLOUDWATCH_MAX_EVENT_BYTES - 16);
    const stub = JSON.parse(stored.message);
    const original = JSON.parse(big);
    expect(stub).toMatchObject({ llm_audit_truncated: { original_bytes: Buffer.byteLength(big) }, chain: original.chain, request_id: 'big', time: original.time });
    expect(stub.llm_audit_truncated.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(big.startsWith(stub.head)).toBe(true);
    expect(s.counters()).toMatchObject({ truncated: 1 });
    expect(notices).toEqual([['truncated', 1]]);
  });

  it("with oversize 'reject' leaves such a record out, counted, and sends the rest", async () => {
    withStream();
    const t = Date.now() - HOUR;
    const s = sink({ oversize: 'reject' });
    await s.send([recOfBytes(t, CLOUDWATCH_MAX_EVENT_BYTES - 25), rec(t)]);
    expect(aws.events(GROUP, STREAM).map((e) => e.message)).toEqual([rec(t)]);
    expect(s.counters()).toMatchObject({ rejected_oversize: 1, truncated: 0 });
    await s.send([recOfBytes(t, CLOUDWATCH_MAX_EVENT_BYTES)]);
    expect(aws.puts()).toHaveLength(1); // nothing left to put: no call
  });

  it('stamps a record older than 14 days with the time of sending (its time field unchanged), counted', async () => {
    withStream();
    const now = Date.now();
    const old = rec(now - 20 * DAY);
    const s = sink({ now: () => now });
    await s.send([old]);
    expect(aws.events(GROUP, STREAM)).toEqual([{ timestamp: now, message: old }]);
    expect(s.counters()).toMatchObject({ restamped: 1 });
  });

  it("sends events the service rejected (the group's retention) once more, stamped now", async () => {
    withStream();
    aws.retentionMs = 10 * HOUR;
    const now = Date.now();
    const old = rec(now - 20 * HOUR);
    const fresh = rec(now - HOUR);
    const s = sink({ now: () => now });
    await s.send([old, fresh]);
    expect(aws.puts().map((p) => p.map((e) => e.message))).toEqual([[old, fresh], [old]]);
    expect(aws.events(GROUP, STREAM)).toEqual([
      { timestamp: now - HOUR, message: fresh },
      { timestamp: now, message: old },
    ]);
    expect(s.counters()).toMatchObject({ restamped: 1, rejected_by_service: 0 });
  });

  it('rejects on a 5xx or throttling after one attempt (the queue retries), naming the status and code only', async () => {
    withStream();
    for (const [status, type] of [[503, 'ServiceUnavailableException'], [400, 'ThrottlingException'], [500, 'InternalFailure']] as const) {
      aws.calls.length = 0;
      aws.fail = () => ({ status, type });
      const err = await sink().send([rec(Date.now())]).catch((e) => e);
      expect(err).toMatchObject({ name: 'SinkError', retriable: true, status, message: `cloudwatch: PutLogEvents failed (HTTP ${status} ${type})` });
      expect(aws.calls).toHaveLength(1);
      expect(String(err.message)).not.toMatch(/secret|AKID|FwoG/);
    }
    expect(aws.events(GROUP, STREAM)).toEqual([]);
  });

  it('does not retry content the service calls invalid', async () => {
    withStream();
    aws.fail = () => ({ status: 400, type: 'InvalidParameterException' });
    await expect(sink().send([rec(Date.now())])).rejects.toMatchObject({ retriable: false, status: 400 });
  });

  it('gives up after timeout_ms, and on a refused connection, retriably', async () => {
    withStream();
    aws.fail = () => ({ status: 503, type: 'ServiceUnavailableException', delayMs: 1000 });
    await expect(sink({ timeout_ms: 100 }).send([rec(Date.now())])).rejects.toMatchObject({ retriable: true, message: 'cloudwatch: PutLogEvents: no answer within 100 ms' });
    const closed = sink({ endpoint: 'http://127.0.0.1:1' });
    await expect(closed.send([rec(Date.now())])).rejects.toMatchObject({ retriable: true, message: 'cloudwatch: PutLogEvents failed (request failed (ECONNREFUSED))' });
  });

  it('through the delivery queue, a throttled then recovered endpoint receives every record exactly once, in order', async () => {
    withStream();
    let failures = 3;
    aws.fail = (c) => (c.op === 'PutLogEvents' && failures-- > 0 ? { status: 400, type: 'ThrottlingException' } : null);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-cw-'));
    try {
      const q = new DeliveryQueue(sink(), { ...DELIVERY_DEFAULTS, batch_max_records: 25, batch_max_wait_ms: 5, retry_initial_ms: 5, retry_max_ms: 20, spill: { dir, max_bytes: 1 << 20, segment_bytes: 8192 } });
      const t = Date.now() - HOUR;
      const N = 200;
      for (let i = 0; i < N; i++) q.enqueue(rec(t + i, { i }));
      const counters = await q.close(10_000);
      expect(aws.events(GROUP, STREAM).map((e) => JSON.parse(e.message).i)).toEqual(Array.from({ length: N }, (_, i) => i));
      expect(counters).toMatchObject({ queued: N, dropped: 0, memory_depth: 0, spill_depth: 0 });
      expect(counters.retried).toBeGreaterThan(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('CloudWatchSink config', () => {
  const base: CloudWatchSinkOptions = { region: 'us-east-1', log_group: GROUP, timeout_ms: 1000, endpoint: 'http://127.0.0.1:9' };

  it('names the default stream after the node id, or the host, without : or *', () => {
    expect(defaultLogStream('node:1*')).toBe('llm-audit/node_1_');
    expect(defaultLogStream(null)).toBe(`llm-audit/${os.hostname().replace(/[:*]/g, '_')}`);
    const s = new CloudWatchSink({ ...base, node_id: '5f1c-node' });
    expect(s.log_stream).toBe('llm-audit/5f1c-node');
    void s.close();
  });

  it('refuses bad names, half credentials and an endpoint with credentials, never echoing a secret', () => {
    expect(() => new CloudWatchSink({ ...base, log_group: 'bad group' })).toThrow('cloudwatch: log_group must be');
    expect(() => new CloudWatchSink({ ...base, log_stream: 'a:b' })).toThrow('cloudwatch: log_stream must be');
    expect(() => new CloudWatchSink({ ...base, region: '' })).toThrow('cloudwatch: region is required');
    expect(() => new CloudWatchSink({ ...base, max_attempts: 0 })).toThrow('cloudwatch: max_attempts');
    const half = () => new CloudWatchSink({ ...base, credentials: { access_key_id: '', secret_access_key: SECRET } });
    expect(half).toThrow('cloudwatch: credentials need access_key_id and secret_access_key');
    expect(() => new CloudWatchSink({ ...base, endpoint: `https://AKID:${encodeURIComponent(SECRET)}@logs.example` })).toThrow('cloudwatch: endpoint must not carry credentials');
    for (const f of [half, () => new CloudWatchSink({ ...base, endpoint: `https://AKID:${encodeURIComponent(SECRET)}@logs.example` })]) {
      try {
        f();
      } catch (e) {
        expect(String((e as Error).message)).not.toContain(SECRET);
      }
    }
  });
});
