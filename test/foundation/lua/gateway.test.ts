/**
 * The llm-gateway Lua companion under LuaJIT (Kong's sandbox, the harness's shim and
 * doubles): kong/lua/gateway-pack.lua builds the PackedRequest, gateway-apply.lua
 * applies a GatewayDecision, gateway-log.lua builds and queues the CompactRecord and
 * its queue handler answers the queue, all as plugins/llm-gateway/contract.ts says.
 */
import { DECISION_KEY, INGEST_PATH, INGEST_QUEUE, INGEST_SOCKET, PACK_KEY, RECORD_VERSION } from '../../../plugins/llm-gateway/contract';
import { FACTS, IDENTITY, RATE_LIMIT_LOG, USAGE } from './ctx-values';
import { runLua, type RequestCase, type RequestResult } from './lua-harness';

const GATEWAY_REQUIRES = ['cjson.safe', 'kong.tools.queue', 'resty.http'];

function run(code: string, cases: Omit<RequestCase, 'kind'>[], requires: string[] = [], prefix?: string): RequestResult[] {
  return runLua(code, cases.map((c) => ({ ...c, kind: 'request' as const })), requires, { prefix }).results as RequestResult[];
}

const CHAT_BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'héllo' }] });

describe('gateway-pack.lua (pre-function access)', () => {
  const manyHeaders: Array<[string, string]> = Array.from({ length: 120 }, (_, i) => [`X-H-${i}`, String(i)]);
  // not UTF-8, and every length remainder of base64
  const BINARY = [Buffer.from([0xff]), Buffer.from([0xff, 0xfe]), Buffer.from([0xff, 0xfe, 0x00]), Buffer.from([0xc3, 0x28, 0x00, 0x41, 0x80])];
  const results = run('kong/lua/gateway-pack.lua', [
    {
      name: 'POST with a body',
      method: 'POST',
      path: '/v1/chat/completions',
      raw_query: 'api-version=1',
      request_headers: [['Host', 'gw'], ['Content-Type', 'application/json'], ['Content-Length', String(Buffer.byteLength(CHAT_BODY))], ['Authorization', 'Bearer sk-1']],
      body: CHAT_BODY,
      forwarded_ip: '203.0.113.7',
      var: { kong_request_id: 'abc123' },
    },
    { name: 'GET without a body', path: '/v1/models', request_headers: [['Host', 'gw']], body: '' },
    { name: 'body spooled to a file', method: 'POST', request_headers: [['Content-Length', '3000000']], body_in_file: true },
    { name: 'chunked body', method: 'POST', request_headers: [['Transfer-Encoding', 'chunked']], body: '{"a":1}' },
    // Content-Length after the 100th line: get_headers() does not have it, ngx.var does
    { name: '120 headers', method: 'POST', request_headers: [...manyHeaders, ['Content-Length', '7']], body: '{"a":1}' },
    { name: 'a repeated header', request_headers: [['Accept', 'a'], ['accept', 'b'], ['X-One', '1']] },
    { name: 'Content-Length: 0', method: 'POST', request_headers: [['Content-Length', '0']], body: '' },
    ...BINARY.map((b, i) => ({ name: `binary ${i}`, method: 'POST', request_headers: [['Content-Length', String(b.length)]] as Array<[string, string]>, body: b })),
  ]);
  const [post, get, inFile, chunked, many, repeated, emptyLength] = results;
  const binary = results.slice(7);

  it('packs the request as the contract documents it', () => {
    expect(post.ok).toBe(true);
    expect(post.shared[PACK_KEY]).toEqual({
      request_id: 'abc123',
      method: 'POST',
      path: '/v1/chat/completions',
      raw_query: 'api-version=1',
      headers: { host: 'gw', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(CHAT_BODY)), authorization: 'Bearer sk-1' },
      forwarded_ip: '203.0.113.7',
      body_base64: Buffer.from(CHAT_BODY, 'utf8').toString('base64'),
    });
    expect(post.body_reads).toBe(1);
    expect(post.calls).toEqual([]);
  });

  it('packs any bytes in base64 (kong-pdk decodes a MessagePack str as UTF-8)', () => {
    expect(binary.map((r) => (r.shared[PACK_KEY] as Record<string, unknown>).body_base64)).toEqual(BINARY.map((b) => b.toString('base64')));
  });

  it('does not read a request without a body', () => {
    expect(get.shared[PACK_KEY]).toEqual({ request_id: 'req-1', method: 'GET', path: '/v1/models', raw_query: '', headers: { host: 'gw' } });
    expect(get.body_reads).toBe(0);
    expect(emptyLength.body_reads).toBe(0);
    expect(emptyLength.shared[PACK_KEY]).not.toHaveProperty('body_base64');
  });

  it('marks a body nginx spooled to a file as unread', () => {
    const p = inFile.shared[PACK_KEY] as Record<string, unknown>;
    expect(p.body_unread).toBe(true);
    expect(p).not.toHaveProperty('body_base64');
  });

  it('reads a chunked body (no Content-Length)', () => {
    expect((chunked.shared[PACK_KEY] as Record<string, unknown>).body_base64).toBe(Buffer.from('{"a":1}').toString('base64'));
  });

  it('packs headers as Kong returns them: 100 lines at most; the body is still seen past them', () => {
    const p = many.shared[PACK_KEY] as Record<string, unknown>;
    const headers = p.headers as Record<string, string>;
    expect(Object.keys(headers)).toHaveLength(100);
    expect(headers['x-h-99']).toBe('99');
    expect(headers).not.toHaveProperty('x-h-100');
    expect(headers).not.toHaveProperty('content-length');
    expect(p.body_base64).toBe(Buffer.from('{"a":1}').toString('base64'));
  });

  it('packs a repeated header as a list', () => {
    expect((repeated.shared[PACK_KEY] as { headers: unknown }).headers).toEqual({ accept: ['a', 'b'], 'x-one': '1' });
  });
});

describe('gateway-apply.lua (post-function access, first chunk)', () => {
  const decision = {
    plugin_id: 'gw-1',
    ingest: true,
    shared: { llm_auth: IDENTITY, llm_guard: FACTS, llm_rate_limit: { allowed: true, log: RATE_LIMIT_LOG }, llm_guard_placeholders: { '<EMAIL_1>': 'a@b.c' } },
    upstream_headers: { authorization: 'Bearer sk-upstream', 'api-key': [], 'x-n': ['1', '2'] },
    raw_query: 'a=1',
    body: '{"model":"gpt-4o-mini"}',
    response_headers: { 'x-gateway': 'yes' },
    logs: [['warn', 'stage warned'], ['info', 'stage info'], ['notice', 'n'], ['err', 'e']] as Array<[string, string]>,
  };
  const pack = { method: 'POST', path: '/v1/chat/completions', headers: {}, body_base64: 'eyJtb2RlbCI6ImdwdC00byJ9' };
  const [full, none, bad, noPack] = run('kong/lua/gateway-apply.lua', [
    { name: 'a full decision', shared: { [DECISION_KEY]: decision, [PACK_KEY]: pack } },
    { name: 'no decision', shared: { [PACK_KEY]: pack, llm_auth: 'kept' } },
    {
      name: 'bad shapes',
      shared: {
        [DECISION_KEY]: {
          plugin_id: 'gw-1',
          ingest: true,
          shared: { llm_ok: 1, other: 2, 5: 'numeric key', [DECISION_KEY]: 'overwrite?', [PACK_KEY]: 'overwrite?' } as Record<string, number | string>,
          upstream_headers: { good: 'v', 'x-inject': 'a\r\nb: c', nested: { a: 'b' } as unknown as string, list: ['ok', 3] as unknown as string[], empty: [] },
          raw_query: 42 as unknown as string,
          body: { not: 'a string' } as unknown as string,
          response_headers: 'x' as unknown as Record<string, string>,
          logs: [['debug', 'no'], ['err', 5], 'x', ['warn', 'yes'], ['crit', 'no']] as unknown as Array<[string, string]>,
        },
        [PACK_KEY]: pack,
      },
    },
    { name: 'empty members, no pack', shared: { [DECISION_KEY]: { plugin_id: 'gw-1', ingest: false, shared: {}, upstream_headers: {}, response_headers: {}, logs: [] } } },
  ]);

  it('applies every member in contract order', () => {
    expect(full.ok).toBe(true);
    expect(full.calls.map((c) => c.fn)).toEqual(['service.request.set_headers', 'service.request.set_raw_query', 'service.request.set_raw_body', 'response.set_headers']);
    expect(full.calls[0].arg).toEqual({ authorization: 'Bearer sk-upstream', 'api-key': {}, 'x-n': ['1', '2'] });
    expect(full.calls[1].arg).toBe('a=1');
    expect(full.calls[2].arg).toBe('{"model":"gpt-4o-mini"}');
    expect(full.calls[3].arg).toEqual({ 'x-gateway': 'yes' });
    expect(full.logs).toEqual(['warn: stage warned', 'info: stage info', 'notice: n', 'err: e']);
  });

  it('copies the llm_ members into kong.ctx.shared', () => {
    expect(full.shared.llm_auth).toEqual(IDENTITY);
    expect(full.shared.llm_guard).toEqual(FACTS);
    expect(full.shared.llm_rate_limit).toEqual({ allowed: true, log: RATE_LIMIT_LOG });
    // the gateway's stages publish it as llm-guard does; the log chunk never ships it
    expect(full.shared.llm_guard_placeholders).toEqual({ '<EMAIL_1>': 'a@b.c' });
  });

  it('drops the packed body and the decision body, keeps the pack', () => {
    expect(full.shared[PACK_KEY]).toEqual({ method: 'POST', path: '/v1/chat/completions', headers: {} });
    expect(full.shared[DECISION_KEY]).not.toHaveProperty('body');
    expect((full.shared[DECISION_KEY] as Record<string, unknown>).plugin_id).toBe('gw-1');
    expect(none.shared[PACK_KEY]).not.toHaveProperty('body_base64');
  });

  it('does nothing else without a decision', () => {
    expect(none.ok).toBe(true);
    expect(none.calls).toEqual([]);
    expect(none.logs).toEqual([]);
    expect(none.shared.llm_auth).toBe('kept');
  });

  it('skips bad shapes and non-llm_ keys, never raises', () => {
    expect(bad.ok).toBe(true);
    expect(bad.shared.llm_ok).toBe(1);
    expect(bad.shared).not.toHaveProperty('other');
    expect(bad.shared).not.toHaveProperty('5');
    expect(typeof bad.shared[DECISION_KEY]).toBe('object');
    expect(typeof bad.shared[PACK_KEY]).toBe('object');
    // only the good headers are set, the rest logged by name and type, never by value
    expect(bad.calls).toEqual([{ fn: 'service.request.set_headers', arg: { good: 'v', empty: {} } }]);
    expect(bad.logs.filter((l) => l.startsWith('warn:'))).toEqual(['warn: yes']);
    expect(bad.logs.join('\n')).not.toContain('a\r\nb');
    for (const what of ['x-inject', 'nested', 'list', 'raw_query', 'body', 'response_headers']) {
      expect(bad.logs.some((l) => l.startsWith('err:') && l.includes(what))).toBe(true);
    }
    expect(bad.logs.filter((l) => /decision log entry \d skipped/.test(l))).toHaveLength(4);
  });

  it('skips empty header tables without a call', () => {
    expect(noPack.ok).toBe(true);
    expect(noPack.calls).toEqual([]);
    expect(noPack.logs).toEqual([]);
  });
});

describe('gateway-log.lua (post-function log)', () => {
  const PREFIX = '/tmp/kong-prefix';
  const decision = { plugin_id: 'gw-1', ingest: true, shared: {} };
  const base: Omit<RequestCase, 'kind' | 'name'> = {
    method: 'POST',
    path: '/v1/chat/completions',
    raw_query: 'x=1',
    query: { x: '1' },
    request_headers: [['Host', 'gw'], ['Authorization', 'Bearer sk-client'], ['Proxy-Authorization', 'Basic x'], ['Content-Type', 'application/json']],
    status: 201,
    response_headers: { 'content-type': 'application/json' },
    var: { kong_request_id: 'rid-1', request_length: '512', bytes_sent: '1024', request_time: '0.250', remote_addr: '198.51.100.2' },
    start_time: 1700000000.5,
    ngx_ctx: { KONG_PROXY_LATENCY: 3, KONG_WAITING_TIME: 200 },
    route: { id: 'route-1', name: 'chat', paths: ['/v1/chat/completions'] },
    service: { id: 'svc-1', name: 'openai', host: 'api.openai.com' },
    node_id: 'node-7',
  };
  const fullShared = {
    [PACK_KEY]: { method: 'POST', path: '/v1/chat/completions', headers: {} },
    [DECISION_KEY]: decision,
    llm_auth: IDENTITY,
    llm_guard: { ...FACTS, weird: { deep: { er: { and: { deeper: { still: { gone: 1 } } } } } } },
    llm_rate_limit: { allowed: true, log: RATE_LIMIT_LOG },
    llm_usage: USAGE,
    llm_response_guard: { answer_check: { findings: { email: 1 }, blocked: false } },
    llm_guard_placeholders: { '<EMAIL_1>': 'alice@example.com' },
    llm_other: { not: 'shipped' },
  };
  const results = run(
    'kong/lua/gateway-log.lua',
    [
      { ...base, name: 'a gateway request', shared: fullShared },
      { ...base, name: 'ingest false', shared: { ...fullShared, [DECISION_KEY]: { ...decision, ingest: false } } },
      { ...base, name: 'no pack (not a gateway route)', shared: { [DECISION_KEY]: decision, llm_auth: IDENTITY } },
      {
        ...base,
        name: 'llm-gateway answered itself (no decision)',
        status: 401,
        source: 'exit',
        ngx_ctx: { KONG_RESPONSE_LATENCY: 2, KONG_PROCESSING_START: 1700000000400 },
        var: { request_time: '0.002' },
        request_headers: { host: 'gw' },
        route: undefined,
        service: undefined,
        shared: { [PACK_KEY]: { method: 'GET' } },
      },
      {
        ...base,
        name: 'queue handler answers',
        shared: fullShared,
        flush: [{ status: 200 }, { status: 503 }, { connect_error: 'connection refused' }, { request_error: 'timeout' }, { status: 400, answer: '{"error":"bad"}' }, { status: 500 }],
      },
    ],
    GATEWAY_REQUIRES,
    PREFIX,
  );
  const [full, noIngest, noPack, exited, flushed] = results;

  it('builds the contract record', () => {
    expect(full.ok).toBe(true);
    expect(full.logs).toEqual([]);
    expect(full.enqueued).toHaveLength(1);
    const rec = full.enqueued[0].decoded!;
    expect(rec).toEqual({
      v: RECORD_VERSION,
      request_id: 'rid-1',
      started_at: 1700000000500,
      node_id: 'node-7',
      method: 'POST',
      uri: '/v1/chat/completions?x=1',
      querystring: { x: '1' },
      request_headers: { host: 'gw', authorization: 'REDACTED', 'proxy-authorization': 'REDACTED', 'content-type': 'application/json' },
      request_size: 512,
      status: 201,
      response_headers: { 'content-type': 'application/json' },
      response_size: 1024,
      source: 'upstream',
      latencies: { kong: 3, proxy: 200, request: 250 },
      route: { id: 'route-1', name: 'chat' },
      service: { id: 'svc-1', name: 'openai' },
      client_ip: '198.51.100.2',
      shared: {
        llm_auth: IDENTITY,
        // depth-limited as serialize-values.lua's `plain`: the 7th level is dropped
        llm_guard: { ...FACTS, weird: { deep: { er: { and: { deeper: {} } } } } },
        llm_rate_limit: { allowed: true, log: RATE_LIMIT_LOG },
        llm_usage: USAGE,
        llm_response_guard: { answer_check: { findings: { email: 1 }, blocked: false } },
      },
      plugin_id: 'gw-1',
    });
    // the entry is the JSON string itself
    expect(typeof full.enqueued[0].entry).toBe('string');
  });

  it('never ships the placeholders or the client credential', () => {
    const entry = full.enqueued[0].entry as string;
    expect(entry).not.toContain('alice@example.com');
    expect(entry).not.toContain('llm_guard_placeholders');
    expect(entry).not.toContain('sk-client');
    expect(entry).not.toContain('llm_other');
  });

  it('queues with INGEST_QUEUE settings and the ingest socket in the Kong prefix', () => {
    const { queue_conf, handler_conf } = full.enqueued[0];
    expect(queue_conf).toEqual({ ...INGEST_QUEUE, log_tag: 'llm-gateway-log' });
    expect(handler_conf).toEqual({ socket: `unix:${PREFIX}/${INGEST_SOCKET}` });
  });

  it('ships nothing when the decision says ingest: false, or off gateway routes', () => {
    expect(noIngest.ok).toBe(true);
    expect(noIngest.enqueued).toEqual([]);
    expect(noPack.ok).toBe(true);
    expect(noPack.enqueued).toEqual([]);
  });

  it('reports a request llm-gateway answered itself, without plugin_id', () => {
    expect(exited.ok).toBe(true);
    const rec = exited.enqueued[0].decoded!;
    expect(rec).not.toHaveProperty('plugin_id');
    expect(rec).not.toHaveProperty('route');
    expect(rec).not.toHaveProperty('service');
    expect(rec.source).toBe('kong');
    expect(rec.status).toBe(401);
    expect(rec.started_at).toBe(1700000000400);
    expect(rec.latencies).toEqual({ kong: 2, proxy: -1, request: 2 });
    expect(rec.shared).toEqual({});
  });

  it('the queue handler: 200 true; 503, connect and request errors false (retried); other statuses true, logged', () => {
    const f = flushed.flushes;
    expect(f.map((x) => x.ok)).toEqual([true, false, false, false, true, true]);
    expect(f.every((x) => x.raised === undefined)).toBe(true);
    expect(f[1].err).toContain('503');
    expect(f[2].err).toContain('connection refused');
    expect(f[3].err).toContain('timeout');
    expect(f[0].logs).toEqual([]);
    expect(f[4].logs.join('\n')).toMatch(/^err: .*status 400/);
    expect(f[5].logs.join('\n')).toMatch(/^err: .*status 500/);
    // the POST: one JSON array of the queued records, over the unix socket, connection reused
    const calls = f[0].http.map((c) => c.fn);
    expect(calls).toEqual(['set_timeouts', 'connect', 'request', 'set_keepalive']);
    expect(f[0].http[1].arg).toEqual({ host: `unix:${PREFIX}/${INGEST_SOCKET}` });
    const req = f[0].http[2].arg as { method: string; path: string; headers: Record<string, string>; body: string };
    expect(req.method).toBe('POST');
    expect(req.path).toBe(INGEST_PATH);
    expect(req.headers['Content-Type']).toBe('application/json');
    expect(req.headers.Host).toBeDefined();
    expect(f[0].batch).toEqual([flushed.enqueued[0].decoded]);
    expect(req.body).toBe(`[${flushed.enqueued[0].entry as string}]`);
    // no keepalive on a connection that failed
    expect(f[2].http.map((c) => c.fn)).toEqual(['set_timeouts', 'connect']);
    expect(f[3].http.map((c) => c.fn)).toEqual(['set_timeouts', 'connect', 'request', 'close']);
  });

  it('without the sandbox requires: one error line, nothing shipped, never raises', () => {
    const [a, b] = run('kong/lua/gateway-log.lua', [
      { ...base, name: 'first', shared: fullShared },
      { ...base, name: 'second', shared: fullShared },
    ], ['cjson.safe']);
    expect(a.ok && b.ok).toBe(true);
    expect(a.enqueued).toEqual([]);
    expect(a.logs).toHaveLength(1);
    expect(a.logs[0]).toMatch(/^err: .*untrusted_lua_sandbox_requires/);
    expect(b.logs).toEqual([]);
  });
});
