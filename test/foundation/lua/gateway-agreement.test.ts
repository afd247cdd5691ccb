/**
 * The llm-gateway Lua companion and the bridge's emulation of it
 * (test/bridge/llm-gateway-lua.ts) on the same requests: gateway-pack.lua under LuaJIT
 * (harness.lua) and packRequest give the same pack; gateway-apply.lua and
 * gateway-apply's emulation make the same setter calls, log lines and kong.ctx.shared;
 * gateway-log.lua and gatewayLogEntry enqueue the same compact record (or none) with
 * the same queue settings and handler_conf; the Lua queue handler and the bridge's
 * ingestHandler answer the queue alike for 200, 503 and a refused status.
 *
 * Values are compared as Lua holds them: strings as their bytes (the harness writes
 * each byte outside ASCII as \u00XX), an empty table as `{}`.
 */
import fs = require('fs');
import http = require('http');
import os = require('os');
import path = require('path');
import { DECISION_KEY, PACK_KEY } from '../../../plugins/llm-gateway/contract';
import type { Route, Service } from '../../bridge/declarative';
import {
  compactRecord,
  gatewayApplyChunk,
  gatewayLogEntry,
  GATEWAY_LOG_REQUIRES,
  INGEST_QUEUE_CONF,
  ingestHandler,
  packRequest,
  RECORDS_DISABLED,
  type RecordContext,
} from '../../bridge/llm-gateway-lua';
import { luaRoundTrip } from '../../bridge/lua-values';
import type { Headers } from '../../bridge/request-context';
import { parseUriArgs } from '../../bridge/uri-args';
import { FACTS, IDENTITY, RATE_LIMIT_LOG, USAGE } from './ctx-values';
import { runLua, type RequestCase, type RequestResult } from './lua-harness';

const ROUTE = { id: 'route-1', name: 'chat', paths: ['/v1/chat/completions'], strip_path: false };
const SERVICE = { id: 'service-1', name: 'openai', host: 'api.openai.com', port: 443 };
const NODE_ID = 'node-1';
const PREFIX = '/usr/local/kong';

/** One request, as both sides get it. */
interface Spec {
  name: string;
  method?: string;
  path?: string;
  raw_query?: string;
  lines?: Array<[string, string]>;
  body?: string | Buffer;
  in_file?: boolean;
  shared?: Record<string, unknown>;
  status?: number;
  source?: 'service' | 'exit' | 'error';
  response_lines?: Array<[string, string]>;
  request_size?: number;
  bytes_sent?: number;
  latencies?: { kong: number; proxy: number; request: number };
  client_ip?: string;
}

const CHAT = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'héllo ✓' }] });
const SPECS: Spec[] = [
  {
    name: 'a chat POST, proxied',
    method: 'POST',
    path: '/v1/chat/completions',
    raw_query: 'api-version=2024-01&flag&x=',
    lines: [['Host', 'gw'], ['Content-Type', 'application/json'], ['Content-Length', String(Buffer.byteLength(CHAT))], ['Authorization', 'Bearer sk-1'], ['X-Note', 'café'], ['Accept', 'a'], ['Accept', 'b']],
    body: CHAT,
    shared: { llm_auth: IDENTITY, llm_guard: FACTS, llm_rate_limit: { log: RATE_LIMIT_LOG }, llm_usage: USAGE, llm_guard_placeholders: { '<EMAIL_1>': 'jane@example.com' } },
    response_lines: [['content-type', 'application/json'], ['x-ratelimit-remaining-requests', '7'], ['x-ratelimit-remaining-requests', '0']],
    request_size: 431,
    bytes_sent: 912,
    latencies: { kong: 3, proxy: 41, request: 45 },
  },
  { name: 'a GET without a body', path: '/v1/models', lines: [['Host', 'gw'], ['Proxy-Authorization', 'Basic eA==']] },
  { name: 'a body spooled to a file', method: 'POST', path: '/v1/embeddings', lines: [['Content-Length', '3000000']], in_file: true },
  { name: 'a chunked body', method: 'POST', path: '/v1/embeddings', lines: [['Transfer-Encoding', 'chunked']], body: '{"input":"x"}' },
  { name: 'Content-Length 0', method: 'POST', path: '/v1/embeddings', lines: [['Content-Length', '0']], body: '' },
  {
    name: '120 header lines, Content-Length after the 100th',
    method: 'POST',
    path: '/v1/chat/completions',
    lines: [...Array.from({ length: 120 }, (_, i) => [`x-h-${i}`, String(i)] as [string, string]), ['Content-Length', '7']],
    body: '{"a":1}',
  },
  {
    name: 'an exit (429) with the decision absent',
    method: 'POST',
    path: '/v1/chat/completions',
    lines: [['Content-Length', '2']],
    body: '{}',
    status: 429,
    source: 'exit',
    shared: { llm_auth: IDENTITY, llm_rate_limit: { log: { decision: 'reject' }, headers: { 'retry-after': 3 } } },
    latencies: { kong: 2, proxy: -1, request: 2 },
  },
];

function headerMap(lines: Array<[string, string]>): Headers {
  const h: Headers = new Map();
  for (const [n, v] of lines) {
    const k = n.toLowerCase();
    h.set(k, [...(h.get(k) ?? []), v]);
  }
  return h;
}

const STARTED_AT = 1764489600123;

/** The request as the bridge holds it (a RequestContext's fields the chunks read). */
function bridgeCtx(s: Spec, shared: Record<string, unknown>): RecordContext & Parameters<typeof packRequest>[0] {
  return {
    id: 'req-1',
    startedAt: STARTED_AT,
    clientIp: s.client_ip ?? '10.0.0.1',
    route: { entity: ROUTE } as unknown as Route,
    service: { entity: SERVICE } as unknown as Service,
    shared,
    requestSize: s.request_size ?? 100,
    bytesSent: s.bytes_sent ?? 200,
    latencies: s.latencies ?? { kong: 1, proxy: 5, request: 12 },
    request: {
      method: s.method ?? 'GET',
      path: s.path ?? '/',
      rawQuery: s.raw_query ?? '',
      headers: headerMap(s.lines ?? []),
      body: s.body === undefined ? Buffer.alloc(0) : Buffer.from(s.body),
      bodyInFile: s.in_file ?? false,
    },
    response: { status: s.status ?? 200, headers: headerMap(s.response_lines ?? []), source: s.source ?? 'service' },
  };
}

/** The same request as a harness case. */
function luaCase(s: Spec, shared: Record<string, unknown>): RequestCase {
  const lat = s.latencies ?? { kong: 1, proxy: 5, request: 12 };
  const proxied = (s.source ?? 'service') === 'service';
  const responseHeaders: Record<string, string | string[]> = {};
  for (const [k, v] of headerMap(s.response_lines ?? [])) responseHeaders[k] = v.length === 1 ? v[0] : v;
  return {
    kind: 'request',
    name: s.name,
    method: s.method ?? 'GET',
    path: s.path ?? '/',
    raw_query: s.raw_query ?? '',
    query: parseUriArgs(s.raw_query ?? '') as RequestCase['query'],
    request_headers: s.lines ?? [],
    body: s.in_file ? undefined : s.body,
    body_in_file: s.in_file,
    forwarded_ip: s.client_ip ?? '10.0.0.1',
    status: s.status ?? 200,
    source: s.source ?? 'service',
    response_headers: responseHeaders,
    var: { request_length: String(s.request_size ?? 100), bytes_sent: String(s.bytes_sent ?? 200), request_time: String(lat.request / 1000) },
    ngx_ctx: proxied ? { KONG_PROCESSING_START: STARTED_AT, KONG_PROXY_LATENCY: lat.kong, KONG_WAITING_TIME: lat.proxy } : { KONG_PROCESSING_START: STARTED_AT, KONG_RESPONSE_LATENCY: lat.kong },
    route: ROUTE as unknown as RequestCase['route'],
    service: SERVICE as unknown as RequestCase['service'],
    node_id: NODE_ID,
    shared: shared as RequestCase['shared'],
  };
}

/** A bridge value as the harness prints the Lua one: strings as their UTF-8 bytes (latin1), empty tables `{}`. */
function asLua(v: unknown): unknown {
  if (typeof v === 'string') return Buffer.from(v, 'utf8').toString('latin1');
  if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1');
  if (Array.isArray(v)) return v.length ? v.map(asLua) : {};
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [asLua(k) as string, asLua(x)]));
  return v;
}
/** The harness's output with empty tables as `{}` (it writes them so already). */
function fromLua(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? v.map(fromLua) : {};
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromLua(x)]));
  return v;
}

function run(file: string, cases: RequestCase[], requires: string[] = []): RequestResult[] {
  return runLua(`kong/lua/${file}`, cases, requires, { prefix: PREFIX }).results as RequestResult[];
}

describe('gateway-pack.lua and the bridge agree', () => {
  const results = run('gateway-pack.lua', SPECS.map((s) => luaCase(s, {})));
  it.each(SPECS.map((s, i) => [s.name, i] as const))('%s', (_name, i) => {
    const lua = results[i];
    expect(lua.ok).toBe(true);
    const ts = packRequest(bridgeCtx(SPECS[i], {}));
    expect(asLua(ts)).toEqual(fromLua(lua.shared[PACK_KEY]));
  });
});

describe('gateway-apply.lua and the bridge agree', () => {
  const pack = { request_id: 'req-1', method: 'POST', path: '/v1/chat/completions', headers: { host: 'gw' }, body: '{"model":"x"}' };
  const decisions: Array<[string, Record<string, unknown>]> = [
    [
      'a full decision',
      {
        [DECISION_KEY]: {
          plugin_id: 'p-1',
          ingest: true,
          shared: { llm_auth: IDENTITY, llm_guard: FACTS, llm_rate_limit: { headers: { 'x-ratelimit-limit-requests': 10 } }, llm_guard_placeholders: { '<EMAIL_1>': 'a@b.c' }, other: 1, llm_gateway: 'no' },
          upstream_headers: { authorization: 'Bearer upstream', 'api-key': [], 'x-tenant': 'acme', 'x-many': ['a', 'b'] },
          raw_query: 'a=1',
          body: '{"model":"gpt-4o-mini","stream_options":{"include_usage":true}}',
          response_headers: { 'x-ratelimit-remaining-requests': 7, 'x-llm-flag': true },
          logs: [['info', 'llm-auth: alice'], ['warn', 'llm-guard: pii'], ['notice', 'n'], ['err', 'e']],
        },
        [PACK_KEY]: pack,
      },
    ],
    ['no decision', { [PACK_KEY]: pack, llm_auth: 'kept' }],
    [
      'members of the wrong type and bad entries',
      {
        [DECISION_KEY]: {
          plugin_id: 'p-1',
          ingest: true,
          shared: 'x',
          upstream_headers: { 'x-bad': 'a\r\nb', 'x-ok': '1' },
          raw_query: 3,
          body: { a: 1 },
          response_headers: { 'x-list': ['a', 5] },
          logs: [['debug', 'nope'], ['err', 'kept'], 'x'],
        },
        [PACK_KEY]: pack,
      },
    ],
    ['empty header tables, logs not a table', { [DECISION_KEY]: { plugin_id: 'p', ingest: true, shared: {}, upstream_headers: {}, response_headers: {}, logs: 'x' } }],
  ];
  const results = run('gateway-apply.lua', decisions.map(([name, shared]) => luaCase({ name }, shared)));

  it.each(decisions.map(([name], i) => [name, i] as const))('%s', (_name, i) => {
    const lua = results[i];
    expect(lua.ok).toBe(true);
    // kong.ctx.shared as the bridge holds what a JS plugin set (lua-values.ts)
    const shared = luaRoundTrip(decisions[i][1]) as Record<string, unknown>;
    const calls: Array<{ fn: string; arg: unknown }> = [];
    const logs: string[] = [];
    const exit = gatewayApplyChunk(
      { shared },
      (method, args) => calls.push({ fn: method.replace(/^kong\./, ''), arg: args[0] }),
      (level, line) => logs.push(`${level}: ${line}`),
    );
    expect(asLua(calls)).toEqual(fromLua(lua.calls));
    expect(logs).toEqual(lua.logs);
    expect(asLua(shared)).toEqual(fromLua(lua.shared));
    expect(exit).toEqual(lua.exited === undefined || lua.exited === null ? null : { ...lua.exited, headers: { ...lua.exited.headers } });
    // fails closed exactly when something bound upstream was skipped
    expect(exit !== null).toBe(decisions[i][0] === 'members of the wrong type and bad entries');
  });
});

describe('gateway-log.lua and the bridge agree', () => {
  const decision = { plugin_id: 'gw-plugin-1', ingest: true, shared: {} };
  const cases: Array<[Spec, Record<string, unknown>]> = [
    ...SPECS.map((s) => [s, { ...(s.shared ?? {}), [PACK_KEY]: { method: s.method ?? 'GET' }, ...(s.source === 'exit' ? {} : { [DECISION_KEY]: decision }) }] as [Spec, Record<string, unknown>]),
    [{ name: 'ingest false' }, { [PACK_KEY]: { method: 'GET' }, [DECISION_KEY]: { ...decision, ingest: false } }],
    [{ name: 'not a gateway route (no pack)' }, { [DECISION_KEY]: decision }],
    [{ name: 'a deep and odd shared value' }, { [PACK_KEY]: { method: 'GET' }, llm_guard: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } }, list: [1, 'two', true], empty: [] }, llm_usage: { total_tokens: 1.5 } }],
  ];
  const results = run('gateway-log.lua', cases.map(([s, shared]) => luaCase(s, shared)), GATEWAY_LOG_REQUIRES);

  it.each(cases.map(([s], i) => [s.name, i] as const))('%s', (_name, i) => {
    const [spec, shared] = cases[i];
    const lua = results[i];
    expect(lua.ok).toBe(true);
    const ctx = bridgeCtx(spec, luaRoundTrip(shared) as Record<string, unknown>);
    const entry = gatewayLogEntry(ctx, NODE_ID);
    if (entry === null) {
      expect(lua.enqueued).toEqual([]);
      return;
    }
    expect(lua.enqueued).toHaveLength(1);
    const [queued] = lua.enqueued;
    expect(asLua(JSON.parse(entry))).toEqual(fromLua(queued.decoded));
    // the record the bridge builds is the one it encodes (cjson writes an empty table as {})
    expect(JSON.parse(entry)).toMatchObject({ request_id: compactRecord(ctx, NODE_ID).request_id });
    expect(queued.queue_conf).toEqual(INGEST_QUEUE_CONF);
    expect(queued.handler_conf).toEqual({ socket: `unix:${PREFIX}/llm-gateway-ingest.sock` });
    expect(lua.logs).toEqual([]);
  });

  it('without the modules it requires: one error line per worker, nothing queued (the bridge logs the same line)', () => {
    const [first, second] = run('gateway-log.lua', [luaCase({ name: 'a' }, { [PACK_KEY]: { method: 'GET' } }), luaCase({ name: 'b' }, { [PACK_KEY]: { method: 'GET' } })], ['cjson.safe']);
    expect(first.enqueued).toEqual([]);
    expect(first.logs).toEqual([`err: ${RECORDS_DISABLED}`]);
    expect(second.logs).toEqual([]);
  });
});

describe("gateway-log.lua's queue handler and the bridge's ingestHandler answer the queue alike", () => {
  const statuses = [200, 503, 400, 500];
  let dir: string;
  let server: http.Server;
  const answers: number[] = [];
  const bodies: unknown[] = [];

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ingest-'));
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        res.writeHead(answers.shift() ?? 200);
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(path.join(dir, 'ingest.sock'), resolve));
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it.each(statuses)('status %i', async (status) => {
    const [lua] = run(
      'gateway-log.lua',
      [{ ...luaCase(SPECS[0], { [PACK_KEY]: { method: 'POST' }, llm_auth: IDENTITY }), flush: [{ status, answer: '{}' }] }],
      GATEWAY_LOG_REQUIRES,
    );
    const [flush] = lua.flushes;
    const entries = lua.enqueued.map((e) => e.entry as string);
    const logs: string[] = [];
    answers.push(status);
    const [ok, err] = await ingestHandler(path.join(dir, 'ingest.sock'), (level, m) => logs.push(`${level}: ${m}`))(null, entries);
    expect(ok === true).toBe(flush.ok === true);
    expect(err ?? null).toEqual(flush.err ?? null);
    expect(logs).toEqual(flush.logs);
    expect(bodies.at(-1)).toEqual(flush.batch);
  });
});
