/**
 * llm-gateway's Lua companion in the bridge, on real requests through the probe
 * fixture plugin (test/fixtures/plugin-servers/probe, priority 1000):
 * - pre-function (priority 1000000) packs the request before any other plugin runs;
 * - post-function applies a decision in access (gateway-apply first) and, in the
 *   request's log phase, queues a compact record that the bridge's kong.tools.queue
 *   POSTs to <prefix>/llm-gateway-ingest.sock (a server this test starts there);
 * - round trips per request: HandleEvent calls and PDK calls per plugin;
 * - KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES without the log chunk's modules: one error
 *   line per worker, no record.
 * What each chunk does value by value is pinned by lua/gateway-agreement.test.ts.
 */
import { IngestStub } from '../support/ingest-stub';
import fs = require('fs');
import path = require('path');
import { DECISION_KEY, PACK_KEY } from '../../plugins/llm-gateway/contract';
import { guardChunk, readLuaSources } from '../../scripts/gen-kong-lua';
import { roundTrips, type RequestTrace } from '../bridge/gateway';
import { REPO_ROOT } from '../bridge/kong-settings';
import { RECORDS_DISABLED } from '../bridge/llm-gateway-lua';
import { luaRoundTrip } from '../bridge/lua-values';
import { parsePreFunction } from '../bridge/pre-function';
import { bridgeWithYml, type BridgeWith } from '../support/bridge-with';

const KONG_ENV = path.join(REPO_ROOT, 'test', 'fixtures', 'kong.env');
const REQUIRES = 'cjson.safe,kong.tools.queue,resty.http';
const src = readLuaSources();

/** A kong.yml (JSON is YAML): one route with the probe, the pre-function and our post-function. */
function yml(): string {
  return JSON.stringify({
    _format_version: '3.0',
    services: [
      {
        name: 'openai',
        url: 'http://127.0.0.1:1',
        routes: [
          {
            name: 'chat',
            paths: ['/v1/chat/completions'],
            strip_path: false,
            plugins: [
              { name: 'probe' },
              { name: 'pre-function', config: { access: [src['gateway-pack.lua']] } },
              {
                name: 'post-function',
                config: {
                  access: [src['gateway-apply.lua'], guardChunk(src['bypass-guard.lua'], ['probe']), src['usage-encoding.lua']],
                  header_filter: [src['serialize-values.lua'], src['ratelimit-headers.lua']],
                  body_filter: [src['usage-capture.lua']],
                  log: [src['gateway-log.lua']],
                },
              },
            ],
          },
        ],
      },
    ],
  });
}

const IDENTITY = { consumer: 'alice', tenant: 'acme', credential_id: 'k1', auth_method: 'api_key', scopes: ['openai:chat'] };
const CHAT = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });

describe('llm-gateway Lua companion in the bridge', () => {
  let gw: BridgeWith;
  let ingest: IngestStub;
  /** kong.ctx.shared as the probe's first PDK call found it. */
  let seenAtProbe: Record<string, unknown> | null = null;
  /** Published at the probe's first PDK call, as llm-gateway would. */
  let decision: Record<string, unknown> | null = null;

  beforeAll(async () => {
    gw = await bridgeWithYml(yml(), {
      kongEnvFile: KONG_ENV,
      kongEnv: { KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES: REQUIRES },
      onPdkCall: (call, ctx) => {
        if (call.plugin !== 'probe' || call.phase !== 'access' || seenAtProbe) return;
        seenAtProbe = JSON.parse(JSON.stringify(ctx.shared)) as Record<string, unknown>;
        if (decision) ctx.shared[DECISION_KEY] = luaRoundTrip(decision);
      },
    });
    ingest = new IngestStub(gw.bridge.ingestSocket);
    await ingest.start();
  });
  afterAll(async () => {
    await ingest?.stop();
    await gw?.close();
  });
  beforeEach(async () => {
    await gw.bridge.drainIngestQueue(15000);
    seenAtProbe = null;
    decision = null;
    gw.mock.reset();
  });

  const post = (headers: Record<string, string> = {}) =>
    fetch(`${gw.bridge.url}/v1/chat/completions?api-version=1`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-client', 'content-type': 'application/json', ...headers },
      body: CHAT,
    });
  const last = (): RequestTrace => gw.bridge.traces[gw.bridge.traces.length - 1];

  it('the ingest socket is in the prefix the plugin servers get as --kong-prefix', () => {
    expect(path.dirname(gw.bridge.ingestSocket)).toBe(gw.bridge.kongPrefix);
    expect(path.basename(gw.bridge.ingestSocket)).toBe('llm-gateway-ingest.sock');
    expect(fs.existsSync(path.join(gw.bridge.kongPrefix, 'probe.socket'))).toBe(true);
  });

  it('packs the request in pre-function before the first plugin runs, applies the decision, ships one record', async () => {
    decision = {
      plugin_id: 'gw-1',
      ingest: true,
      shared: { llm_auth: IDENTITY, llm_guard_placeholders: { '<EMAIL_1>': 'a@b.c' } },
      upstream_headers: { 'x-applied': 'yes', authorization: 'Bearer upstream' },
      response_headers: { 'x-gateway': 'on' },
      logs: [['notice', 'llm-gateway: decided']],
    };
    const before = gw.bridge.ingest.enqueued;
    const res = await post();
    await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get('x-gateway')).toBe('on');

    // the pack was there at the probe's first PDK call (pre-function 1000000 > probe 1000)
    const pack = seenAtProbe![PACK_KEY] as Record<string, unknown>;
    expect(pack).toMatchObject({ method: 'POST', path: '/v1/chat/completions', raw_query: 'api-version=1', forwarded_ip: '127.0.0.1', request_id: last().id });
    expect(Buffer.from(pack.body_base64 as string, 'base64').toString('utf8')).toBe(CHAT);
    expect((pack.headers as Record<string, string>).authorization).toBe('Bearer sk-client');

    // gateway-apply: headers upstream, shared copied, body dropped from the pack, log line
    const [upstream] = gw.mock.requests;
    expect(upstream.headers['x-applied']).toBe('yes');
    expect(upstream.headers.authorization).toBe('Bearer upstream');
    expect(last().shared.llm_auth).toEqual(IDENTITY);
    expect((last().shared[PACK_KEY] as Record<string, unknown>).body_base64).toBeUndefined();
    expect(gw.bridge.logs).toContainEqual({ level: 'notice', plugin: 'post-function', message: 'llm-gateway: decided' });

    // gateway-log: one record queued in the log phase, POSTed within the coalescing delay
    await gw.bridge.drainIngestQueue(15000);
    expect(gw.bridge.ingest.enqueued - before).toBe(1);
    const record = ingest.delivered().find((r) => r.request_id === last().id)!;
    expect(record).toMatchObject({
      v: 1,
      method: 'POST',
      uri: '/v1/chat/completions?api-version=1',
      querystring: { 'api-version': '1' },
      status: 200,
      source: 'upstream',
      plugin_id: 'gw-1',
      client_ip: '127.0.0.1',
      route: { name: 'chat' },
      service: { name: 'openai' },
      shared: { llm_auth: IDENTITY },
    });
    expect((record.request_headers as Record<string, string>).authorization).toBe('REDACTED');
    expect(record.shared).not.toHaveProperty('llm_guard_placeholders');
    // the serialize-values chunk still logged what was published (Kong's own log plugins)
    expect((last().logged as { llm?: { identity?: unknown } }).llm?.identity).toEqual(IDENTITY);
  });

  it('counts round trips per request and per plugin: HandleEvent per phase, PDK calls', async () => {
    const res = await post();
    await res.text();
    await gw.bridge.drainLogPhase();
    // the probe: access (get_headers, ctx.shared.set, set_header) and a log phase with no call
    expect(roundTrips(last(), 'probe')).toEqual({ events: 2, logEvents: 1, pdkCalls: 3 });
    expect(last().events).toEqual([{ plugin: 'probe', phase: 'access' }, { plugin: 'probe', phase: 'log' }]);
    // pre- and post-function are Lua: no round trip
    expect(roundTrips(last())).toEqual({ events: 2, logEvents: 1, pdkCalls: 3 });
  });

  it('ships a record without plugin_id when the request was answered before a decision (an exit)', async () => {
    const res = await post({ 'x-probe-exit': '429' });
    await res.text();
    expect(res.status).toBe(429);
    await gw.bridge.drainIngestQueue(15000);
    const record = ingest.delivered().find((r) => r.request_id === last().id)!;
    expect(record).toMatchObject({ status: 429, source: 'kong' });
    expect(record).not.toHaveProperty('plugin_id');
  });

  it('ships nothing when the decision says ingest: false', async () => {
    decision = { plugin_id: 'gw-1', ingest: false, shared: {} };
    const before = gw.bridge.ingest.enqueued;
    await (await post()).text();
    await gw.bridge.drainIngestQueue(15000);
    expect(gw.bridge.ingest.enqueued).toBe(before);
  });

  it('keeps records queued while the ingest is down and delivers them when it is back', async () => {
    await ingest.stop();
    const failures = gw.bridge.ingest.handlerFailures;
    await (await post()).text();
    const id = last().id;
    await new Promise((r) => setTimeout(r, 1300));
    expect(gw.bridge.ingest.handlerFailures).toBeGreaterThan(failures);
    await ingest.start();
    await gw.bridge.drainIngestQueue(15000);
    expect(ingest.delivered().some((r) => r.request_id === id)).toBe(true);
    expect(gw.bridge.ingest.dropped).toBe(0);
  });
});

describe('llm-gateway Lua companion without its sandbox requires', () => {
  it('logs one error line per worker and ships nothing', async () => {
    const gw = await bridgeWithYml(yml(), { kongEnvFile: KONG_ENV, kongEnv: { KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES: 'cjson.safe' }, workers: 2 });
    try {
      for (let i = 0; i < 4; i++) await (await fetch(`${gw.bridge.url}/v1/chat/completions`, { method: 'POST', body: CHAT })).text();
      await gw.bridge.drainIngestQueue(5000);
      expect(gw.bridge.logs.filter((l) => l.message === RECORDS_DISABLED)).toHaveLength(2);
      expect(gw.bridge.ingest.enqueued).toBe(0);
    } finally {
      await gw.close();
    }
  });
});

describe('pre-function config', () => {
  it('refuses a chunk that differs from kong/lua/gateway-pack.lua, an unknown chunk, another phase', () => {
    expect(() => parsePreFunction({ access: [src['gateway-pack.lua']] })).not.toThrow();
    expect(() => parsePreFunction({ access: [src['gateway-pack.lua'] + '\n-- edited'] })).toThrow(/differs from kong\/lua\/gateway-pack.lua/);
    expect(() => parsePreFunction({ access: ['kong.log.err("x")'] })).toThrow(/does not know/);
    expect(() => parsePreFunction({ access: [src['gateway-pack.lua']], log: ['x'] })).toThrow(/does not emulate `log`/);
  });
});
