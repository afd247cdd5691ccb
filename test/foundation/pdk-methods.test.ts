/**
 * The bridge's PDK methods called directly, for the edge values of each (types,
 * empty values, phases, limits) as Kong 3.10's source handles them. The names in
 * each describe are the Kong files; test/README.md's audit table points here.
 */
import { cjsonEncode } from '../bridge/cjson';
import type { Route } from '../bridge/declarative';
import { normalizeMultiHeader, validateHeader, validateHeaders } from '../bridge/kong-checks';
import { errorPageBody, pdkErrorBody, responseType } from '../bridge/kong-errors';
import { callPdk, IMPLEMENTED_PDK_METHODS, NotModelled, PDK_METHODS } from '../bridge/pdk';
import { KongLuaError, newRequestContext, type Phase, type RequestContext } from '../bridge/request-context';
import { escapePath, normalizePath, orderedArgs, parseUriArgs } from '../bridge/uri-args';
import fs = require('fs');
import path = require('path');
import { REPO_ROOT } from '../bridge/kong-settings';

const SERVICE = { id: 's', name: 'svc', protocol: 'http', host: 'up', port: 80, path: null, read_timeout: 60000, entity: { id: 's' } };
const ROUTE = { id: 'r', name: 'r', paths: ['/'], methods: null, strip_path: false, preserve_host: false, service: SERVICE, entity: { id: 'r' } } as unknown as Route;
const CONSUMER_ID = '5f2c9e4a-1b7d-4c3e-9a6f-0d8b2e4c6a10';

function ctxWith(phase: Phase = 'access', headers: Array<[string, string[]]> = [], rawQuery = ''): RequestContext {
  const ctx = newRequestContext({
    id: 'rid',
    startedAt: 1,
    clientIp: '127.0.0.1',
    route: ROUTE,
    request: { method: 'GET', scheme: 'http', host: 'h', port: 8000, path: '/p', rawQuery, headers: new Map(headers), body: Buffer.from('b'), bodyInFile: false },
  });
  ctx.phase = phase;
  return ctx;
}

const logs: string[] = [];
const host = { consumers: [{ id: CONSUMER_ID, username: 'alice', custom_id: null }], nodeId: 'node', log: (level: string, _p: string, m: string) => logs.push(`${level}:${m}`) };
const call = (ctx: RequestContext, method: string, ...args: unknown[]) => callPdk({ plugin: 't', ctx, host }, method, args);

describe('kong/pdk/private/checks.lua', () => {
  it('validate_header: names must be strings, values strings, numbers, booleans or lists of strings', () => {
    expect(() => validateHeader(1, 'v')).toThrow('invalid header name "1": got number, expected string');
    expect(() => validateHeader('x', null)).toThrow('invalid header value for "x": got nil, expected array of string, string, number or boolean');
    expect(() => validateHeader('x', ['a', 1])).toThrow('invalid header value in array "x": got number, expected string');
    expect(() => validateHeader('x', { not: 'a list' })).not.toThrow(); // ipairs sees nothing in a map
    expect(() => validateHeader('x', ['a', null, 1])).not.toThrow(); // ipairs stops at the nil
  });

  it('validate_headers: a table; nil values are no entries; checks every entry', () => {
    expect(() => validateHeaders('x')).toThrow('headers must be a table');
    expect(validateHeaders({ a: null, b: 'v' })).toEqual([['b', 'v']]);
    expect(() => validateHeaders({ a: 'ok', b: ['x', 1] })).toThrow('invalid header value in array "b": got number, expected string');
  });

  it('normalize_multi_header: "" is " ", numbers and booleans as Lua prints them, [] stays empty', () => {
    expect(normalizeMultiHeader('')).toEqual([' ']);
    expect(normalizeMultiHeader(['', 'a'])).toEqual([' ', 'a']);
    expect(normalizeMultiHeader(42)).toEqual(['42']);
    expect(normalizeMultiHeader(1.5)).toEqual(['1.5']);
    expect(normalizeMultiHeader(1e21)).toEqual(['1e+21']);
    expect(normalizeMultiHeader(false)).toEqual(['false']);
    expect(normalizeMultiHeader([])).toEqual([]);
    expect(normalizeMultiHeader({ a: 'b' })).toEqual([]);
  });
});

describe('kong/pdk/private/phases.lua and the log timer', () => {
  it('every method is refused outside its phases with Kong\'s message', () => {
    expect(() => call(ctxWith('access'), 'kong.response.get_status')).toThrow('function cannot be called in access phase (only in: response, header_filter, body_filter, log, error, admin_api)');
    expect(() => call(ctxWith('rewrite'), 'kong.client.authenticate', { id: 'c' }, null)).toThrow('function cannot be called in rewrite phase (only in: access)');
    expect(() => call(ctxWith('rewrite'), 'kong.router.get_route')).toThrow(/rewrite phase/);
    expect(() => call(ctxWith('access'), 'kong.log.serialize')).toThrow('function cannot be called in access phase (only in: log)');
    expect(() => call(ctxWith('response'), 'kong.response.set_raw_body', 'x')).toThrow('function cannot be called in response phase (only in: body_filter)');
    expect(() => call(ctxWith('log'), 'kong.service.request.set_header', 'a', 'b')).toThrow(/log phase/);
  });

  it('in the log timer, request APIs raise and ngx.ctx readers answer from its clone', () => {
    const ctx = ctxWith('log');
    ctx.saved = { serialize: '{}', requestHeaders: new Map([['x-a', ['1']]]), responseHeaders: new Map(), status: 201 };
    expect(() => call(ctx, 'kong.request.get_method')).toThrow('no request found');
    expect(() => call(ctx, 'kong.client.get_ip')).toThrow('no request found');
    expect(call(ctx, 'kong.request.get_header', 'X-A')).toBe('1');
    expect(call(ctx, 'kong.response.get_status')).toBe(201);
    expect(call(ctx, 'kong.router.get_route')).toEqual({ id: 'r' });
    expect(call(ctx, 'kong.log.serialize')).toBe('{}');
  });

  it('a method the bridge does not model raises instead of guessing', () => {
    expect(() => call(ctxWith(), 'kong.nginx.get_var', 'x')).toThrow(NotModelled);
    expect(() => call(ctxWith(), 'kong.response.exit', 401)).toThrow(/not modelled by the bridge: kong.response.exit\(401\) without a body/);
    expect(() => call(ctxWith(), 'kong.service.request.set_header', 'Host', 'x')).toThrow(NotModelled);
  });

  it('test/README.md audits every method the bridge answers, and only those', () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'test', 'README.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| `(kong\.[a-z_.]+)` \|/gm)].map((m) => m[1]);
    expect([...rows].sort()).toEqual([...IMPLEMENTED_PDK_METHODS].sort());
  });

  it('every implemented method names its Kong source and phases', () => {
    for (const m of IMPLEMENTED_PDK_METHODS) {
      expect(PDK_METHODS[m].source).toMatch(/kong\/|plugin\.lua/);
      expect(PDK_METHODS[m].phases).toBeTruthy();
    }
  });
});

describe('kong/pdk/request.lua', () => {
  it('get_header: a string name, first value, nil as null (sent as a Step without Data)', () => {
    const ctx = ctxWith('access', [['x-a', ['1', '2']]]);
    expect(call(ctx, 'kong.request.get_header', 'X_A')).toBe('1');
    expect(call(ctx, 'kong.request.get_header', 'absent')).toBeNull();
    expect(() => call(ctx, 'kong.request.get_header', 5)).toThrow('header name must be a string');
  });

  it('get_headers/get_query: max between 1 and 1000, a number', () => {
    const ctx = ctxWith();
    expect(() => call(ctx, 'kong.request.get_headers', 'x')).toThrow('max_headers must be a number');
    expect(() => call(ctx, 'kong.request.get_query', 0)).toThrow('max_args must be >= 1');
    expect(() => call(ctx, 'kong.request.get_query', 1001)).toThrow('max_args must be <= 1000');
  });

  it('get_query keeps at most 100 arguments by default, more when asked', () => {
    const raw = Array.from({ length: 150 }, (_, i) => `a${i}=${i}`).join('&');
    expect(Object.keys(call(ctxWith('access', [], raw), 'kong.request.get_query') as object)).toHaveLength(100);
    expect(Object.keys(call(ctxWith('access', [], raw), 'kong.request.get_query', 1000) as object)).toHaveLength(150);
  });

  it('get_raw_body of a body spooled to a file ends the phase (fix_raw of nil)', () => {
    const ctx = ctxWith();
    ctx.request.bodyInFile = true;
    expect(() => call(ctx, 'kong.request.get_raw_body')).toThrow(KongLuaError);
  });
});

describe('the plain getters (kong/pdk/request.lua, response.lua, client.lua, router.lua, node.lua)', () => {
  it('answer what nginx holds for the request', () => {
    const ctx = ctxWith();
    expect(call(ctx, 'kong.request.get_scheme')).toBe('http');
    expect(call(ctx, 'kong.request.get_host')).toBe('h');
    expect(call(ctx, 'kong.request.get_port')).toBe(8000);
    expect(call(ctx, 'kong.request.get_start_time')).toBe(1);
    expect(call(ctx, 'kong.client.get_ip')).toBe('127.0.0.1');
    expect(call(ctx, 'kong.client.get_forwarded_ip')).toBe('127.0.0.1');
    expect(call(ctx, 'kong.router.get_service')).toEqual({ id: 's' });
    expect(call(ctx, 'kong.node.get_id')).toBe('node');
    expect(call(ctx, 'kong.node.get_hostname')).toBe('bridge');
  });

  it('get_source: "exit" after exit or response.error, "error" after a Lua error, "service" when proxied', () => {
    const ctx = ctxWith('response');
    expect(call(ctx, 'kong.response.get_source')).toBe('service');
    ctx.response.source = 'exit';
    expect(call(ctx, 'kong.response.get_source')).toBe('exit');
    expect(() => call(ctxWith('access'), 'kong.response.get_source')).toThrow(/access phase/);
    expect(() => call(ctxWith('response'), 'kong.response.get_raw_body')).toThrow('function cannot be called in response phase (only in: body_filter)');
  });

  it('every log level is there and none is phase-bound', () => {
    for (const level of ['debug', 'info', 'notice', 'warn', 'err', 'crit', 'alert', 'emerg']) {
      call(ctxWith('log'), `kong.log.${level}`, level);
      expect(logs.at(-1)).toBe(`${level}:${level}`);
    }
  });
});

describe('kong/pdk/service/request.lua', () => {
  it('set_path: a string starting with "/", escaped as kong/tools/uri.lua escape does', () => {
    const ctx = ctxWith();
    expect(() => call(ctx, 'kong.service.request.set_path', 5)).toThrow('path must be a string');
    expect(() => call(ctx, 'kong.service.request.set_path', 'v1')).toThrow('path must start with /');
    call(ctx, 'kong.service.request.set_path', '/a b/é?%');
    expect(ctx.upstream.path).toBe('/a%20b/%C3%A9?%');
    expect(escapePath("/!#$&'()*+,/:;=?@[]~-_.")).toBe("/!#$&'()*+,/:;=?@[]~-_.");
  });

  it('set_method: only the methods nginx knows, upper case', () => {
    expect(() => call(ctxWith(), 'kong.service.request.set_method', 'get')).toThrow('invalid method: get');
    expect(() => call(ctxWith(), 'kong.service.request.set_method', 1)).toThrow('method must be a string');
  });

  it('set_raw_query, set_raw_body, clear_header: type checks with Kong\'s messages', () => {
    expect(() => call(ctxWith(), 'kong.service.request.set_raw_query', 1)).toThrow('query must be a string');
    expect(() => call(ctxWith(), 'kong.service.request.set_raw_body', 1)).toThrow('body must be a string');
    expect(() => call(ctxWith(), 'kong.service.request.clear_header', 1)).toThrow('header must be a string');
    expect(() => call(ctxWith(), 'kong.service.request.set_headers', 'x')).toThrow('headers must be a table');
  });

  it('set_query: keys must be strings; false adds nothing; other values raise', () => {
    expect(orderedArgs({ b: false, a: '1' })).toBe('&a=1');
    expect(orderedArgs({})).toBe('');
    expect(() => orderedArgs(['x'])).toThrow('arg keys must be strings');
    expect(orderedArgs({ a: { nested: 1 } })).toBe(''); // a map has no list part: nothing to encode
    expect(() => orderedArgs({ a: [['x']] })).toThrow('attempt to use table as query arg value');
    expect(orderedArgs({ 'a b': 'é' })).toBe('a%20b=%C3%A9');
  });

  it('set_header(":authority") on a non-gRPC request sets nothing (Kong returns nil, err)', () => {
    const ctx = ctxWith();
    expect(call(ctx, 'kong.service.request.set_header', ':authority', 'x')).toBeNull();
    expect(ctx.request.headers.has(':authority')).toBe(false);
  });
});

describe('kong/pdk/response.lua', () => {
  it('set_status and exit check the status; exit checks body and headers types', () => {
    expect(() => call(ctxWith(), 'kong.response.set_status', '200')).toThrow('code must be a number');
    expect(() => call(ctxWith(), 'kong.response.exit', 99)).toThrow('code must be a number between 100 and 599');
    expect(() => call(ctxWith(), 'kong.response.exit', 200, 5)).toThrow('body must be a nil, string or table');
    expect(() => call(ctxWith(), 'kong.response.exit', 200, 'x', 'h')).toThrow('headers must be a nil or table');
    expect(() => call(ctxWith(), 'kong.response.error', 500, 5)).toThrow('message must be a nil, a string or a table');
  });

  it('set_header ignores Transfer-Encoding with a warning; clear_header needs a string', () => {
    const ctx = ctxWith();
    call(ctx, 'kong.response.set_header', 'Transfer-Encoding', 'chunked');
    expect(ctx.response.headers.has('transfer-encoding')).toBe(false);
    expect(logs.some((l) => l.includes('manually setting Transfer-Encoding. Ignored.'))).toBe(true);
    expect(() => call(ctx, 'kong.response.clear_header', 1)).toThrow('header name must be a string');
  });

  it('an exit in access is delayed with the headers set so far, Content-Length set', () => {
    const ctx = ctxWith();
    call(ctx, 'kong.response.set_header', 'x-a', '1');
    call(ctx, 'kong.response.exit', 403, { error: { param: null } }, { 'X-B': ['2', ''] });
    expect(ctx.delayedResponse!.headers.get('x-a')).toEqual(['1']);
    expect(ctx.delayedResponse!.headers.get('x-b')).toEqual(['2', ' ']);
    expect(ctx.delayedResponse!.body!.toString()).toBe('{"error":{}}'); // param: null is gone in Lua, {} by cjson
    expect(ctx.delayedResponse!.headers.get('content-length')).toEqual(['12']);
  });
});

describe('kong/pdk/service/response.lua', () => {
  it('get_headers is {} when buffered (a table with only __index), get_header still finds the value', () => {
    const ctx = ctxWith('response');
    ctx.buffered = true;
    ctx.serviceResponse = { status: 200, headers: new Map([['x-up', ['1']]]), body: Buffer.from('b') };
    expect(call(ctx, 'kong.service.response.get_headers')).toEqual({});
    expect(call(ctx, 'kong.service.response.get_header', 'X-Up')).toBe('1');
    expect(call(ctx, 'kong.service.response.get_raw_body')).toEqual(Buffer.from('b'));
    expect(() => call(ctxWith('access'), 'kong.service.response.get_status')).toThrow(/access phase/);
  });
});

describe('kong/pdk/client.lua', () => {
  it('load_consumer: a string id; a uuid looked up by id, else by username when asked', () => {
    const ctx = ctxWith();
    expect(() => call(ctx, 'kong.client.load_consumer', null)).toThrow('consumer_id must be a string');
    expect(() => call(ctx, 'kong.client.load_consumer', 'alice')).toThrow('cannot load a consumer with an id that is not a uuid');
    expect(call(ctx, 'kong.client.load_consumer', 'alice', true)).toMatchObject({ id: CONSUMER_ID });
    expect(call(ctx, 'kong.client.load_consumer', CONSUMER_ID)).toMatchObject({ username: 'alice' });
    expect(call(ctx, 'kong.client.load_consumer', '', true)).toBeNull();
  });

  it('authenticate: tables or nil, at least one', () => {
    const ctx = ctxWith();
    expect(() => call(ctx, 'kong.client.authenticate', 'alice', null)).toThrow('consumer must be a table or nil');
    expect(() => call(ctx, 'kong.client.authenticate', null, 'cred')).toThrow('credential must be a table or nil');
    expect(() => call(ctx, 'kong.client.authenticate', null, null)).toThrow('either credential or consumer must be provided');
  });
});

describe('kong.ctx.shared (plugin.lua) and kong.log (kong/pdk/log.lua)', () => {
  it('set(k, nil) deletes; a nil key raises; values come back as Lua holds them', () => {
    const ctx = ctxWith();
    call(ctx, 'kong.ctx.shared.set', 'k', { a: null, list: [], obj: {} });
    expect(call(ctx, 'kong.ctx.shared.get', 'k')).toEqual({ list: [], obj: [] });
    call(ctx, 'kong.ctx.shared.set', 'k', null);
    expect(call(ctx, 'kong.ctx.shared.get', 'k')).toBeNull();
    expect(() => call(ctx, 'kong.ctx.shared.set', null, 1)).toThrow('table index is nil');
  });

  it('log levels tostring each argument and concatenate them', () => {
    call(ctxWith(), 'kong.log.warn', 'a', 1, true, null, { t: 1 });
    expect(logs.at(-1)).toBe('warn:a1truenil' + 'table: 0x00000000');
  });

  it('set_serialize_value: a string key, a known mode, plain values', () => {
    const ctx = ctxWith();
    expect(() => call(ctx, 'kong.log.set_serialize_value', 1, 'v')).toThrow('key must be a string');
    expect(() => call(ctx, 'kong.log.set_serialize_value', 'k', 'v', { mode: 'merge' })).toThrow("mode must be 'set', 'add' or 'replace'");
    call(ctx, 'kong.log.set_serialize_value', 'a.b', 1);
    call(ctx, 'kong.log.set_serialize_value', 'a.b', 2, { mode: 'add' });
    expect(ctx.serializeValues.map((v) => v.mode)).toEqual(['set', 'add']);
  });
});

describe('kong/tools/uri.lua normalize, ngx.req.get_uri_args, cjson, error templates', () => {
  it('normalizes the path: unreserved escapes decoded, reserved kept upper-cased, dots removed, slashes merged', () => {
    expect(normalizePath('/a%20b')).toBe('/a b');
    expect(normalizePath('/a%2fb')).toBe('/a%2Fb');
    expect(normalizePath('//a//b/./c/../d')).toBe('/a/b/d');
    expect(normalizePath('/%e2%82%ac')).toBe('/€');
  });

  it('parses query arguments: flags true, repeats in order, "+" a space, empty names dropped', () => {
    expect(parseUriArgs('a=1&b&a=2&=x&c=x+y%2B')).toEqual({ a: ['1', '2'], b: true, c: 'x y+' });
    expect(Object.getOwnPropertyDescriptor(parseUriArgs('__proto__=1'), '__proto__')?.value).toBe('1');
  });

  it('cjson: excessively sparse arrays past 2^15 are an encode error, NaN too; 16 digits', () => {
    expect(cjsonEncode([1, ...Array(20).fill(null), 2])).toBe(`[1,${Array(20).fill('null').join(',')},2]`);
    const sparse: unknown[] = [];
    sparse[40000] = 1;
    expect(() => cjsonEncode(sparse)).toThrow(/excessively sparse array/);
    expect(cjsonEncode([1 / 3, 1e21, 0.1])).toBe('[0.3333333333333333,1e+21,0.1]');
    expect(() => cjsonEncode({ n: NaN })).toThrow(/must not be NaN/);
    expect(cjsonEncode([])).toBe('{}');
  });

  it('Accept negotiation (kong/tools/http.lua get_response_type): highest q wins, JSON by default', () => {
    expect(responseType(undefined)).toBe('application/json; charset=utf-8');
    expect(responseType('*/*')).toBe('application/json; charset=utf-8');
    expect(responseType('text/html;q=0.5, text/plain;q=0.9')).toBe('text/plain; charset=utf-8');
    expect(responseType('text/*')).toBe('text/plain; charset=utf-8');
    expect(responseType('application/xml')).toBe('application/xml; charset=utf-8');
    expect(pdkErrorBody(418, null, 'r', undefined, new Map()).body.toString()).toBe('{\n  "message":"I\'m a teapot",\n  "request_id":"r"\n}');
    expect(errorPageBody(494, new Map(), 'r', new Map()).status).toBe(400);
  });
});
