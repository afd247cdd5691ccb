/**
 * What a JS plugin receives from Kong for each PDK call, end to end through the
 * real plugin server (the pdk-script fixture runs the calls a request names). Each
 * test names the Kong 3.10 source it pins.
 *
 * Runs against the bridge, or against a real Kong when KONG_PROXY_URL and
 * MOCK_OPENAI_URL are set (test/README.md: scripts/kong-host.sh with
 * test/fixtures/kong.pdk.env); tests that read the bridge's logs or traces are
 * bridge-only.
 */
import fs = require('fs');
import os = require('os');
import path = require('path');
import { KongBridge } from '../bridge/gateway';
import { REPO_ROOT } from '../bridge/kong-settings';
import { REMOTE_KONG } from '../support/gateway';
import { rawRequest } from '../support/raw-http';
import { startUpstream, type RecordedRequest, type UpstreamMock } from '../support/upstream';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
type Step = [string, ...unknown[]];
type Result = { type: string; value: unknown };

describe('PDK values across the RPC (pdk-script fixture, real plugin server)', () => {
  let upstream: UpstreamMock;
  let bridge: KongBridge;
  let url: string;
  let dir = '';
  let recorded: RecordedRequest[] = [];
  /** The upstream's view of what was proxied so far in this test. */
  const mock = {
    get requests() {
      return recorded;
    },
  };
  const refresh = async () => {
    recorded = await upstream.recorded();
  };

  beforeAll(async () => {
    upstream = await startUpstream();
    if (REMOTE_KONG) {
      url = REMOTE_KONG;
      return;
    }
    // kong.pdk.yml names the compose host of the mock, as scripts/kong-host.sh maps it
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pdk-rpc-'));
    const yml = fs.readFileSync(path.join(FIXTURES, 'kong.pdk.yml'), 'utf8').split('http://mock-openai:8080').join(upstream.url);
    fs.writeFileSync(path.join(dir, 'kong.yml'), yml);
    bridge = await KongBridge.start({ kongYml: path.join(dir, 'kong.yml'), kongEnvFile: path.join(FIXTURES, 'kong.pdk.env') });
    url = bridge.url;
  });
  afterAll(async () => {
    await bridge?.stop();
    await upstream?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    await upstream.reset();
    recorded = [];
  });

  const script = (steps: Step[], respond = true) => Buffer.from(JSON.stringify({ steps, respond })).toString('base64');

  /** Runs the steps in access and returns what the plugin got back from each. */
  async function run(steps: Step[], init: { path?: string; headers?: Record<string, string> } = {}): Promise<Result[]> {
    const headers = { ...init.headers, 'x-pdk-script': script(steps) };
    const res = await fetch(url + (init.path ?? '/v1/models'), { headers: headers as Record<string, string> });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`status ${res.status}: ${text}`);
    return JSON.parse(text) as Result[];
  }

  /** Runs the steps in access, then proxies: returns the client's response and the upstream's view. */
  async function proxied(steps: Step[], init: { path?: string; headers?: Record<string, string> } = {}) {
    const res = await fetch(url + (init.path ?? '/v1/models'), { headers: { ...init.headers, 'x-pdk-script': script(steps, false) } });
    const body = await res.text();
    await refresh();
    return { res, body, upstream: mock.requests.at(-1) };
  }

  describe('getters (mp_rpc.lua: a nil result is a Step without Data)', () => {
    it('resolve to undefined, not null, when Kong has nothing to return', async () => {
      const results = await run([
        ['kong.request.get_header', 'x-absent'],
        ['kong.ctx.shared.get', 'missing'],
        ['kong.client.get_consumer'],
        ['kong.client.get_credential'],
        ['kong.request.get_query_arg', 'absent'],
      ]);
      expect(results.map((r) => r.type)).toEqual(['undefined', 'undefined', 'undefined', 'undefined', 'undefined']);
    });

    it('give a query flag as [] and an empty value as [""] (fix_mmap), get_query_arg a flag as true', async () => {
      const [query, flag, empty] = await run([['kong.request.get_query'], ['kong.request.get_query_arg', 'b'], ['kong.request.get_query_arg', 'c']], { path: '/v1/models?a=1&b&c=&a=2&d=x+y%21' });
      expect(query.value).toEqual({ a: ['1', '2'], b: [], c: [''], d: ['x y!'] });
      expect(flag).toEqual({ type: 'boolean', value: true });
      expect(empty).toEqual({ type: 'string', value: '' });
    });

    it('give an empty query as an empty map', async () => {
      const [query] = await run([['kong.request.get_query']]);
      expect(query).toEqual({ type: 'object', value: {} });
    });

    it('keep "__proto__" as a plain key in header and query maps (Lua tables have no prototype)', async () => {
      const pid = bridge?.servers.get('pdk-script')!.pid;
      const res = await rawRequest(url, 'GET', '/v1/models?__proto__=x&constructor=y', [
        ['__proto__', 'h'],
        ['x-pdk-script', script([['kong.request.get_headers'], ['kong.request.get_query']])],
      ]);
      expect(res.status).toBe(200);
      const [headers, query] = JSON.parse(res.body) as Result[];
      expect(Object.getOwnPropertyDescriptor(headers.value, '__proto__')?.value).toEqual(['h']);
      expect(query.value).toEqual(JSON.parse('{"__proto__":["x"],"constructor":["y"]}'));
      if (bridge) expect(bridge.servers.get('pdk-script')!.pid).toBe(pid);
    });

    it('read request headers case-insensitively, "_" matching "-" (kong/tools/http.lua get_header)', async () => {
      const results = await run([['kong.request.get_header', 'X-Mixed-Case'], ['kong.request.get_header', 'x_mixed_case']], { headers: { 'x-mixed-case': 'v' } });
      expect(results.map((r) => r.value)).toEqual(['v', 'v']);
    });

    it('pass non-ASCII header values as the UTF-8 text the client sent', async () => {
      const value = Buffer.from('é✓', 'utf8').toString('latin1');
      const [r] = await run([['kong.request.get_header', 'x-text']], { headers: { 'x-text': value } });
      expect(r.value).toBe('é✓');
    });

    it('refuse max_headers out of range with Kong\'s message (kong/pdk/request.lua get_headers)', async () => {
      await expect(run([['kong.request.get_headers', 0]])).rejects.toThrow(/status 500/);
      if (bridge) expect(bridge.logs.some((l) => l.message.includes('max_headers must be >= 1'))).toBe(true);
      await expect(run([['kong.request.get_headers', 1001]])).rejects.toThrow(/status 500/);
      if (bridge) expect(bridge.logs.some((l) => l.message.includes('max_headers must be <= 1000'))).toBe(true);
    });

    it('cut get_headers at 100 header lines by default', async () => {
      const many = Object.fromEntries(Array.from({ length: 120 }, (_, i) => [`x-h${i}`, String(i)]));
      const [h] = await run([['kong.request.get_headers']], { headers: many });
      expect(Object.keys(h.value as object)).toHaveLength(100);
    });
  });

  describe('service.request header setters (kong/pdk/private/checks.lua)', () => {
    it('send "" as a blank header, remove with [] or clear_header, and stringify numbers and booleans', async () => {
      const { res, upstream } = await proxied(
        [
          ['kong.service.request.set_header', 'x-empty', ''],
          ['kong.service.request.set_headers', { 'x-gone': [], 'x-list': ['a', 'b'], 'x-num': 42, 'x-bool': true, 'x-null': null }],
          ['kong.service.request.clear_header', 'x-cleared'],
          ['kong.service.request.add_header', 'x-added', 'two'],
        ],
        { headers: { 'x-gone': 'client', 'x-cleared': 'client', 'x-null': 'kept', 'x-added': 'one' } },
      );
      expect(res.status).toBe(200);
      expect(upstream!.headers).toHaveProperty('x-empty', ''); // sent: nginx passes " ", Node trims it
      expect(upstream!.headers['x-gone']).toBeUndefined();
      expect(upstream!.headers['x-cleared']).toBeUndefined();
      expect(upstream!.headers['x-list']).toBe('a, b');
      expect(upstream!.headers['x-num']).toBe('42');
      expect(upstream!.headers['x-bool']).toBe('true');
      expect(upstream!.headers['x-null']).toBe('kept'); // a nil value is no entry at all
      expect(upstream!.headers['x-added']).toBe('one, two');
    });

    it('raise on a list holding a non-string, before setting anything: Kong\'s 500, nothing upstream', async () => {
      const res = await fetch(url + '/v1/models', {
        headers: { accept: 'application/json', 'x-pdk-script': script([['kong.service.request.set_headers', { 'a-first': 'x', 'z-bad': ['ok', 42] }]], false) },
      });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ message: 'An unexpected error occurred', request_id: expect.any(String) });
      await refresh();
      expect(mock.requests).toHaveLength(0);
      if (bridge) expect(bridge.logs.some((l) => l.message.includes('invalid header value in array "z-bad": got number, expected string'))).toBe(true);
    });

    it('set_query sends the arguments sorted, lists repeated, values escaped (make_ordered_args)', async () => {
      const { upstream } = await proxied([['kong.service.request.set_query', { z: '1', a: 'x y', b: ['2', '3'], f: true }]], { path: '/v1/models?old=1' });
      expect(upstream!.query).toBe('a=x%20y&b=2&b=3&f&z=1');
    });

    it('set_raw_query and set_method are what later reads see (one nginx request)', async () => {
      const [, method, , query] = await run([
        ['kong.service.request.set_method', 'POST'],
        ['kong.request.get_method'],
        ['kong.service.request.set_raw_query', 'x=1'],
        ['kong.request.get_raw_query'],
      ]);
      expect(method.value).toBe('POST');
      expect(query.value).toBe('x=1');
    });
  });

  describe('response headers set in access (kong/pdk/response.lua set_header)', () => {
    it('reach the client merged with the upstream\'s of the same name, ours first', async () => {
      const { res, upstream } = await proxied([
        ['kong.response.set_header', 'x-request-id', 'ours'],
        ['kong.response.set_header', 'x-only-ours', ''],
      ]);
      expect(res.headers.get('x-request-id')).toBe(`ours, ${upstream!.requestId}`);
      expect(res.headers.has('x-only-ours')).toBe(true); // "" is sent as a blank value
    });

    it('cannot read the response in access: response getters raise (header_body_log phases)', async () => {
      await expect(run([['kong.response.get_status']])).rejects.toThrow(/status 500/);
      if (bridge) expect(bridge.logs.some((l) => l.message.includes('function cannot be called in access phase (only in: response'))).toBe(true);
    });
  });

  describe('kong.response.exit and kong.response.error (response.lua send, error_handlers.lua)', () => {
    const exit = (args: unknown[], headers: Record<string, string> = {}) =>
      fetch(url + '/v1/models', { headers: { ...headers, 'x-pdk-script': script([['kong.response.exit', ...args]]) } });

    it('encodes a table body with cjson: empty arrays and objects as {}, a hole as null, nil members gone', async () => {
      const res = await exit([200, { a: [], b: {}, c: [1, null, 3], d: null, url: 'https://x/y' }]);
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      const text = await res.text();
      // Lua's key order is a hash order: compare the parsed value, and the raw pieces
      expect(JSON.parse(text)).toEqual({ a: {}, b: {}, c: [1, null, 3], url: 'https://x/y' });
      expect(text).toContain('"a":{}');
      expect(text).toContain('"url":"https://x/y"');
    });

    it('answers exit(500) without a body with Kong\'s own error page, by Accept', async () => {
      const json = await exit([500], { accept: 'application/json' });
      const id = json.headers.get('x-kong-request-id');
      expect(await json.json()).toEqual({ message: 'An unexpected error occurred', request_id: expect.any(String) });
      expect(id === null || id.length > 0).toBe(true);
      // no Accept and no Content-Type: error_default_type, text/plain (fetch would send Accept: */*)
      const plain = await rawRequest(url, 'GET', '/v1/models', [['x-pdk-script', script([['kong.response.exit', 500]])]]);
      expect(plain.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(plain.body).toMatch(/^An unexpected error occurred\nrequest_id: \S+\n$/);
    });

    it('sends no Content-Length with 204', async () => {
      const res = await exit([204]);
      expect(res.status).toBe(204);
      expect(res.headers.get('content-length')).toBeNull();
    });

    it('keeps response headers set earlier in access, exit headers replacing the same names', async () => {
      const res = await fetch(url + '/v1/models', {
        headers: { 'x-pdk-script': script([['kong.response.set_header', 'x-a', '1'], ['kong.response.set_header', 'x-b', '1'], ['kong.response.exit', 429, 'slow down', { 'x-b': '2' }]]) },
      });
      expect(res.status).toBe(429);
      expect(res.headers.get('x-a')).toBe('1');
      expect(res.headers.get('x-b')).toBe('2');
      expect(await res.text()).toBe('slow down');
    });

    it('kong.response.error: the default message for the status, JSON unless Accept asks otherwise', async () => {
      const json = await fetch(url + '/v1/models', { headers: { 'x-pdk-script': script([['kong.response.error', 403]]) } });
      expect(json.status).toBe(403);
      expect(await json.json()).toEqual({ message: 'Forbidden', request_id: expect.any(String) });
      const plain = await fetch(url + '/v1/models', { headers: { accept: 'text/plain', 'x-pdk-script': script([['kong.response.error', 429, 'Too many']]) } });
      expect(await plain.text()).toMatch(/^Too many\nrequest_id: /);
    });

    it('kong.response.error refuses a status below 400', async () => {
      const res = await fetch(url + '/v1/models', { headers: { 'x-pdk-script': script([['kong.response.error', 302]]) } });
      expect(res.status).toBe(500);
      if (bridge) expect(bridge.logs.some((l) => l.message.includes('code must be a number between 400 and 599'))).toBe(true);
    });
  });

  describe('the log phase runs in a timer (plugin.lua build_phases)', () => {
    /** Runs the steps in the log phase; returns what reached the log URL, in order. */
    async function logResults(steps: Step[]): Promise<Result[]> {
      await fetch(url + '/v1/models', { headers: { 'x-pdk-log-script': Buffer.from(JSON.stringify({ steps })).toString('base64') } });
      await bridge?.drainLogPhase();
      // a real Kong runs the timer after the response: wait for the posts
      let posts: RecordedRequest[] = [];
      for (let i = 0; i < 20; i++) {
        posts = (await upstream.recorded()).filter((r) => r.path === '/__pdk_log');
        if (posts.length >= steps.length) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return posts.map((p) => p.json as Result & { i: number }).sort((a, b) => a.i - b.i).map(({ type, value }) => ({ type, value }));
    }

    it('answers the saved data for the overridden getters and ngx.ctx readers', async () => {
      const results = await logResults([['kong.request.get_header', 'x-pdk-log-script'], ['kong.response.get_status'], ['kong.client.get_consumer'], ['kong.ctx.shared.get', 'none']]);
      expect(results.map((r) => r.type)).toEqual(['string', 'number', 'undefined', 'undefined']);
      expect(results[1].value).toBe(200);
    });

    it('raises for the request APIs, which have no request in a timer (the phase ends there)', async () => {
      const results = await logResults([['kong.response.get_status'], ['kong.request.get_method'], ['kong.response.get_status']]);
      expect(results).toHaveLength(1);
      if (bridge) expect(bridge.logs.some((l) => l.message.includes('kong.request.get_method: no request found'))).toBe(true);
    });

    it('serialize(): whole route and service entities, workspace, upstream_status as a string, querystring {} when empty', async () => {
      const [s] = await logResults([['kong.log.serialize']]);
      const log = JSON.parse(s.value as string);
      expect(log.route).toMatchObject({ name: 'script', protocols: ['http', 'https'], strip_path: false, preserve_host: false, regex_priority: 0, path_handling: 'v0', https_redirect_status_code: 426, request_buffering: true, response_buffering: true });
      expect(log.service).toMatchObject({ name: 'upstream', retries: 5, connect_timeout: 60000, write_timeout: 60000, read_timeout: 60000, enabled: true });
      expect(log).toMatchObject({ workspace: expect.any(String), workspace_name: 'default', upstream_status: '200', source: 'upstream' });
      expect(log.request.querystring).toEqual({});
      expect(log.request.url).toMatch(/\/v1\/models$/);
      expect(log.request.headers['x-pdk-log-script']).toEqual(expect.any(String));
    });
  });
});
