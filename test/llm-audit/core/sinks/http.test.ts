import { HttpSink, type HttpSinkOptions } from '../../../../plugins/llm-audit/core/sinks/http';
import { AuditChain } from '../../../../plugins/llm-audit/core/chain';
import { Recorder } from './recorder';

const KEY = Buffer.alloc(32, 1);

describe('HttpSink', () => {
  const srv = new Recorder();
  const sinks: HttpSink[] = [];
  beforeAll(() => srv.start());
  afterAll(() => srv.stop());
  beforeEach(() => {
    srv.requests.length = 0;
    srv.answer = () => ({ status: 200, body: '{}' });
  });
  afterEach(async () => {
    for (const s of sinks.splice(0)) await s.close();
  });
  const sink = (o: Partial<HttpSinkOptions> & Pick<HttpSinkOptions, 'preset'>, path = '/in') => {
    const s = new HttpSink({ url: `${srv.url}${path}`, timeout_ms: 2000, ...o });
    sinks.push(s);
    return s;
  };

  const chain = new AuditChain({ key: KEY, key_id: 'k1', state: { chain_id: 'ab'.repeat(16), next_seq: 7, prev_mac: 'cd'.repeat(32) } });
  const r1 = JSON.stringify(chain.seal({ time: '2026-01-02T03:04:05.500Z', request_id: 'a' }));
  const r2 = JSON.stringify(chain.seal({ time: null, request_id: 'b' }));

  it('elasticsearch: _bulk NDJSON of create actions with an id per sealed record, gzipped, with the auth header', async () => {
    srv.answer = () => ({ status: 200, body: JSON.stringify({ errors: false, items: [] }) });
    await sink({ preset: 'elasticsearch', index: 'llm-audit-v1', auth_value: 'ApiKey c2VjcmV0' }, '/_bulk').send([r1, r2]);
    const [req] = srv.requests;
    expect(req.method).toBe('POST');
    // only what the verdict reads: a per-item answer for 500 records fits the answer cap
    expect(req.url).toBe('/_bulk?filter_path=errors%2Citems.*.status%2Citems.*.error.type');
    expect(req.headers).toMatchObject({ 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip', authorization: 'ApiKey c2VjcmV0' });
    const id = 'ab'.repeat(16);
    expect(req.body).toBe(
      `{"create":{"_index":"llm-audit-v1","_id":"${id}-7"}}\n${r1}\n{"create":{"_index":"llm-audit-v1","_id":"${id}-8"}}\n${r2}\n`,
    );
  });

  it('elasticsearch: items already created (409, a retried batch) count as delivered; a mapping error is not retried; a 429 item is', async () => {
    const items = (...st: number[]) => JSON.stringify({ errors: true, items: st.map((status) => ({ create: { status } })) });
    srv.answer = () => ({ status: 200, body: items(201, 409) });
    await expect(sink({ preset: 'opensearch' }).send([r1, r2])).resolves.toBeUndefined();
    srv.answer = () => ({ status: 200, body: items(201, 400) });
    await expect(sink({ preset: 'opensearch' }).send([r1, r2])).rejects.toMatchObject({ retriable: false, message: 'http:opensearch: _bulk: 1 of 2 items failed (first status 400)' });
    srv.answer = () => ({ status: 200, body: items(429, 400) });
    await expect(sink({ preset: 'elasticsearch' }).send([r1, r2])).rejects.toMatchObject({ retriable: true });
  });

  it('elasticsearch: a per-item answer gives one outcome per record, in order, with the error type and never its reason', async () => {
    const answer = {
      errors: true,
      items: [
        { create: { status: 201 } },
        { create: { status: 400, error: { type: 'mapper_parsing_exception', reason: "failed to parse field [usage] with value 'secret-ish'" } } },
        { create: { status: 409, error: { type: 'version_conflict_engine_exception', reason: 'already exists' } } },
        { create: { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } } },
        { create: { status: 503 } },
        { create: {} },
      ],
    };
    srv.answer = () => ({ status: 200, body: JSON.stringify(answer) });
    const err = await sink({ preset: 'elasticsearch' }).send([r1, r2, r1, r2, r1, r2]).catch((e) => e);
    expect(err).toMatchObject({
      retriable: true,
      status: 200,
      records: ['delivered', 'refused', 'delivered', 'retry', 'retry', 'retry'],
      message: 'http:elasticsearch: _bulk: 4 of 6 items failed (first status 400 mapper_parsing_exception)',
    });
    expect(err.message).not.toContain('secret-ish');
    // items that cannot be matched to the records (another count): a verdict on the whole batch only
    srv.answer = () => ({ status: 200, body: JSON.stringify({ errors: true, items: answer.items.slice(0, 2) }) });
    expect(await sink({ preset: 'elasticsearch' }).send([r1, r2, r1]).catch((e) => e)).toMatchObject({ retriable: false, records: null });
  });

  it('elasticsearch: keeps a filter_path the URL sets, and reads a _bulk answer larger than 64 KiB whole', async () => {
    const n = 600;
    const big = JSON.stringify({ errors: true, items: Array.from({ length: n }, (_, k) => ({ create: { _index: 'llm-audit', _id: `${'ab'.repeat(32)}-${k}`, result: 'created', _shards: { total: 2, successful: 1, failed: 0 }, status: k === n - 1 ? 400 : 201 } })) });
    expect(big.length).toBeGreaterThan(64 * 1024);
    srv.answer = () => ({ status: 200, body: big });
    const err = await sink({ preset: 'opensearch' }, '/_bulk?filter_path=items').send(Array.from({ length: n }, () => r1)).catch((e) => e);
    expect(srv.requests[0].url).toBe('/_bulk?filter_path=items');
    expect(err.records).toHaveLength(n);
    expect(err.records.filter((o: string) => o === 'refused')).toHaveLength(1);
    expect(err.records[n - 1]).toBe('refused');
  });

  it('splunk_hec: concatenated events with epoch time and metadata, the token in Authorization', async () => {
    await sink({ preset: 'splunk_hec', auth_value: 'Splunk 0000-hec-token', sourcetype: 'llm:audit', splunk_index: 'main', gzip: false }).send([r1, r2]);
    const [req] = srv.requests;
    expect(req.headers['content-encoding']).toBeUndefined();
    expect(req.headers).toMatchObject({ 'content-type': 'application/json', authorization: 'Splunk 0000-hec-token' });
    expect(req.body).toBe(`{"time":1767323045.5,"index":"main","sourcetype":"llm:audit","event":${r1}}\n{"index":"main","sourcetype":"llm:audit","event":${r2}}`);
  });

  it('datadog: a JSON array of log entries with the record as message, the key in DD-API-KEY, at most 1000 a batch', async () => {
    const s = sink({ preset: 'datadog', auth_value: 'dd-key', service: 'gw', ddtags: 'env:test' });
    expect(s.max_batch_records).toBe(1000);
    srv.answer = () => ({ status: 202, body: '{}' });
    await s.send([r1]);
    const [req] = srv.requests;
    expect(req.headers['dd-api-key']).toBe('dd-key');
    expect(req.headers.authorization).toBeUndefined();
    expect(JSON.parse(req.body)).toEqual([{ ddsource: 'kong-llm-audit', service: 'gw', ddtags: 'env:test', message: r1 }]);
  });

  it('json_array: the records as one array, custom headers kept, a custom auth header name', async () => {
    await sink({ preset: 'json_array', headers: { 'x-source': 'kong' }, auth_header: 'X-Token', auth_value: 't0k' }).send([r1, r2]);
    const [req] = srv.requests;
    expect(req.body).toBe(`[${r1},${r2}]`);
    expect(req.headers).toMatchObject({ 'x-source': 'kong', 'x-token': 't0k', 'content-encoding': 'gzip' });
    expect(JSON.parse(req.body)).toHaveLength(2);
  });

  it('classifies statuses: content refused is not retried, the rest is', async () => {
    for (const [status, retriable] of [[400, false], [413, false], [422, false], [401, true], [404, true], [429, true], [503, true]] as const) {
      srv.answer = () => ({ status, body: 'secret-echo' });
      const err = await sink({ preset: 'json_array', auth_value: 'Bearer hunter2' }).send([r1]).catch((e) => e);
      expect(err).toMatchObject({ name: 'SinkError', retriable, status, message: `http:json_array: HTTP ${status}` });
      expect(String(err.message)).not.toMatch(/hunter2|secret-echo/);
    }
  });

  it('gives up after timeout_ms and on a refused connection, retriably', async () => {
    srv.answer = () => ({ status: 200, delayMs: 500 });
    await expect(sink({ preset: 'json_array', timeout_ms: 100 }).send([r1])).rejects.toMatchObject({ retriable: true, message: 'http:json_array: no answer within 100 ms' });
    const closed = new HttpSink({ url: 'http://127.0.0.1:1/x', preset: 'json_array', timeout_ms: 1000 });
    await expect(closed.send([r1])).rejects.toMatchObject({ retriable: true, message: 'http:json_array: request failed (ECONNREFUSED)' });
    await closed.close();
  });

  it('refuses a URL with credentials in it', () => {
    expect(() => new HttpSink({ url: 'https://u:p@es.example/_bulk', preset: 'elasticsearch', timeout_ms: 1 })).toThrow(/must not carry credentials/);
  });
});

describe('HttpSink config', () => {
  it('refuses a header that is not valid HTTP, naming the header and never the value', () => {
    const bad = () => new HttpSink({ url: 'http://127.0.0.1:9/x', preset: 'json_array', timeout_ms: 1, auth_value: 'Bearer sk-secret\r\nX: y' });
    expect(bad).toThrow('http:json_array: header authorization is not a valid HTTP header');
    expect(() => new HttpSink({ url: 'http://127.0.0.1:9/x', preset: 'json_array', timeout_ms: 1, headers: { 'bad name': 'v' } })).toThrow(/header \(unprintable\)/);
  });
});
