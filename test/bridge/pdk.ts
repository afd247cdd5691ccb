/**
 * Kong 3.10's PDK as an external plugin reaches it: kong/runloop/plugin_servers/
 * plugin.lua's `exposed_api` over kong/pdk/*, through rpc/mp_rpc.lua. Each method
 * below names the Kong file and function it follows, the phases Kong allows it in,
 * and raises where Kong raises, with Kong's message (the phase then ends in a Lua
 * error: Kong's 500 in access). test/README.md has the method-by-method audit; the
 * tests that pin each behaviour are test/foundation/pdk-*.test.ts.
 *
 * Rules of the RPC layer (mp_rpc.lua) kept for every method:
 * - only the first return value crosses; nil becomes a Step without `Data`, which a
 *   JS plugin reads as `undefined` (plugin-runner.ts);
 * - arguments are Lua values: nil members of a table are gone (lua-table.ts);
 * - header and query maps go through fix_mmap (every string value a one-element
 *   list, a flag `true` an empty list, no entry at all an empty map) and raw bodies
 *   through fix_raw (binary);
 * - the log phase runs in a timer (plugin.lua build_phases): only the methods
 *   plugin.lua overrides read the request's saved data, methods that read ngx.ctx
 *   see its clone, and the rest, which need the request itself, raise there.
 * A method the bridge does not model raises "not modelled by the bridge" rather
 * than guessing (the request ends in a 500 and the log says which method).
 */
import type { Consumer } from './declarative';
import { cjsonEncode } from './cjson';
import { normalizeMultiHeader, validateHeader, validateHeaders } from './kong-checks';
import { ERROR_PAGE_STATUSES, pdkErrorBody } from './kong-errors';
import { getOwn, luaString, luaToString, luaType, ownMap, setOwn } from './lua-table';
import { luaRoundTrip } from './lua-values';
import { validateSerializeValue } from './serialize';
import { escapePath, orderedArgs, parseUriArgs, type UriArg } from './uri-args';
import { KongLuaError, type Headers, type RequestContext } from './request-context';

export interface PdkHost {
  consumers: Consumer[];
  nodeId: string;
  log(level: string, plugin: string, message: string): void;
}

export interface PdkCall {
  plugin: string;
  ctx: RequestContext;
  host: PdkHost;
}

/** A behaviour of Kong's the bridge does not reproduce: fails loudly instead of guessing. */
export class NotModelled extends KongLuaError {
  override name = 'NotModelled';
  constructor(what: string) {
    super(`not modelled by the bridge: ${what} (see test/README.md)`);
  }
}

/** Kong answers these through typed Step methods (mp_rpc.lua get_step_method). */
export const STEP_METHOD_BY_PDK: Record<string, string> = {
  'kong.client.get_credential': 'plugin.StepCredential',
  'kong.client.load_consumer': 'plugin.StepConsumer',
  'kong.client.get_consumer': 'plugin.StepConsumer',
  'kong.client.authenticate': 'plugin.StepCredential',
  'kong.node.get_memory_stats': 'plugin.StepMemoryStats',
  'kong.router.get_route': 'plugin.StepRoute',
  'kong.router.get_service': 'plugin.StepService',
  'kong.request.get_query': 'plugin.StepMultiMap',
  'kong.request.get_headers': 'plugin.StepMultiMap',
  'kong.response.get_headers': 'plugin.StepMultiMap',
  'kong.service.response.get_headers': 'plugin.StepMultiMap',
};

/**
 * Phase sets of kong/pdk/private/phases.lua as the bridge runs them (no balancer,
 * header_filter or body_filter phase: a JS plugin has none). Names are Kong's.
 */
const KONG_PHASE_NAMES: Record<string, string[]> = {
  request: ['rewrite', 'access', 'balancer', 'response', 'header_filter', 'body_filter', 'log', 'error', 'admin_api'],
  rewrite_access_header: ['rewrite', 'access', 'response', 'balancer', 'header_filter', 'error', 'admin_api'],
  header_body_log: ['response', 'header_filter', 'body_filter', 'log', 'error', 'admin_api'],
  auth_and_later: ['access', 'header_filter', 'response', 'body_filter', 'log'],
  router: ['access', 'header_filter', 'response', 'body_filter', 'log'],
  access_and_rewrite: ['rewrite', 'access'],
  access_rewrite_balancer: ['rewrite', 'access', 'balancer'],
  before_content: ['rewrite', 'access', 'response', 'error', 'admin_api'],
  with_ctx: ['rewrite', 'access', 'header_filter', 'response', 'body_filter', 'log'],
  access: ['access'],
  log: ['log'],
  body_filter: ['body_filter'],
  any: ['rewrite', 'access', 'response', 'log'],
};
export type PhaseSet = keyof typeof KONG_PHASE_NAMES;

/** How a method behaves in the JS log phase, which Kong runs in a timer. */
type InTimer =
  /** plugin.lua overrides it with the data saved before the timer */
  | 'saved'
  /** reads ngx.ctx, which the timer gets a clone of */
  | 'ctx'
  /** needs the live request: lua-resty-core raises "no request found" in a timer */
  | 'request';

export interface MethodSpec {
  /** Kong 3.10 source it follows: file and function. */
  source: string;
  phases: PhaseSet;
  inTimer: InTimer;
  impl: (call: PdkCall, args: unknown[]) => unknown;
}

const MIN_STATUS = 100;
const MAX_STATUS = 599;
const MIN_ERROR_STATUS = 400;
/** lua_max_req_headers / lua_max_uri_args / lua_max_resp_headers defaults (kong_defaults.lua). */
const DEFAULT_MAX = 100;
const MAX_MAX = 1000;
/** kong/pdk/service/request.lua: the methods ngx.req.set_method accepts. */
const METHODS_ALLOWED = new Set(['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'MKCOL', 'COPY', 'MOVE', 'PROPFIND', 'PROPPATCH', 'LOCK', 'UNLOCK', 'PATCH', 'TRACE']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkPhase(ctx: RequestContext, set: PhaseSet): void {
  if (set === 'any') return;
  const allowed = KONG_PHASE_NAMES[set];
  if (!allowed.includes(ctx.phase)) {
    throw new KongLuaError(`function cannot be called in ${ctx.phase} phase (only in: ${allowed.join(', ')})`);
  }
}

/** `$http_<name>` / ngx.req.get_headers()[name]: case-insensitive, "_" and "-" alike. */
function headerKey(name: string): string {
  return name.toLowerCase().replace(/_/g, '-');
}

function findHeader(h: Headers, name: string): string[] | undefined {
  const want = headerKey(name);
  for (const [k, v] of h) if (headerKey(k) === want) return v;
  return undefined;
}

/** Lua header-map semantics for a setter: [] removes, otherwise the values replace. */
export function putHeader(h: Headers, name: string, values: string[]): void {
  for (const k of [...h.keys()]) if (headerKey(k) === headerKey(name)) h.delete(k);
  if (values.length) h.set(name.toLowerCase(), values);
}

function checkMax(max: unknown, what: string): number {
  if (max === null || max === undefined) return DEFAULT_MAX;
  if (typeof max !== 'number') throw new KongLuaError(`${what} must be a number`);
  if (max < 1) throw new KongLuaError(`${what} must be >= 1`);
  if (max > MAX_MAX) throw new KongLuaError(`${what} must be <= ${MAX_MAX}`);
  return max;
}

/** fix_mmap over ngx.req.get_headers(max): every value a list, at most `max` header lines. */
export function headersMultiMap(h: Headers, max = Infinity): Record<string, string[]> {
  const out = ownMap<string[]>();
  let n = 0;
  for (const [k, v] of h) {
    for (const value of v) {
      if (n++ >= max) return out;
      setOwn(out, k, [...(getOwn(out, k) ?? []), value]);
    }
  }
  return out;
}

/** fix_mmap over ngx.req.get_uri_args: a flag `true` becomes [], a string [s], a list stays. */
function queryMultiMap(args: Record<string, UriArg>): Record<string, Array<string | true>> {
  const out = ownMap<Array<string | true>>();
  for (const [k, v] of Object.entries(args)) setOwn(out, k, v === true ? [] : typeof v === 'string' ? [v] : v);
  return out;
}

/** The entity as Kong sends it: a Lua table (nil members gone, empty tables as []). */
function entity<T>(e: T | null): unknown {
  return e ? luaRoundTrip(e) : null;
}

function checkStatus(status: unknown, min: number): number {
  if (typeof status !== 'number') throw new KongLuaError('code must be a number');
  if (status < min || status > MAX_STATUS) throw new KongLuaError(`code must be a number between ${min} and ${MAX_STATUS}`);
  return status;
}

/** response.lua send(): the response an exit produces, with the headers set so far. */
function exitResponse(ctx: RequestContext, status: number, body: unknown, headers: Array<[string, unknown]>, source: 'exit' | 'error'): void {
  const h: Headers = new Map([...ctx.response.headers].map(([k, v]) => [k, [...v]]));
  let hasType = false;
  let hasLength = false;
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === 'transfer-encoding' || lower === 'transfer_encoding') continue; // "manually setting Transfer-Encoding. Ignored."
    putHeader(h, name, normalizeMultiHeader(value));
    if (lower === 'content-type' || lower === 'content_type') hasType = true;
    if (lower === 'content-length' || lower === 'content_length') hasLength = true;
  }
  let buf: Buffer | null;
  if (luaType(body) === 'table') {
    buf = Buffer.from(cjsonEncode(body));
    if (!hasType) h.set('content-type', ['application/json; charset=utf-8']);
  } else if (luaType(body) === 'string') {
    buf = Buffer.from(luaString(body as string));
  } else {
    buf = null;
  }
  if (!hasLength) h.set('content-length', [String(buf?.length ?? 0)]);
  if (buf === null) {
    // ngx.exit(status) with nothing printed: nginx's error_page answers for the
    // statuses nginx_kong.lua lists (kong/error_handlers.lua, see gateway.ts);
    // any other 3xx-5xx gets nginx's built-in page, which the bridge does not copy.
    if (status >= 300 && status !== 304 && !ERROR_PAGE_STATUSES.has(status)) throw new NotModelled(`kong.response.exit(${status}) without a body (nginx's own error page)`);
    if (status < 200) throw new NotModelled(`kong.response.exit(${status})`);
  }
  // In access, Kong delays the exit until the plugin iterator is done (delay_response).
  ctx.delayedResponse = { status, body: buf, headers: h, source };
}

/** kong.log.*: each argument tostring'ed and concatenated (log.lua gen_log_func). */
function logText(args: unknown[]): string {
  return args
    .map((a) => {
      const t = luaType(a);
      if (t === 'nil') return 'nil';
      if (t === 'string') return luaString(a as string);
      if (t === 'table') return 'table: 0x00000000';
      return luaToString(a as number | boolean);
    })
    .join('');
}

function requireString(v: unknown, message: string): string {
  if (luaType(v) !== 'string') throw new KongLuaError(message);
  return luaString(v as string);
}

function getHeaderFirst(h: Headers, name: string): string | null {
  return findHeader(h, name)?.[0] ?? null;
}

const SPECS: Record<string, MethodSpec> = {
  'kong.request.get_headers': {
    source: 'kong/pdk/request.lua get_headers; plugin.lua override (log: saved headers); mp_rpc fix_mmap',
    phases: 'request',
    inTimer: 'saved',
    impl: ({ ctx }, [max]) => (ctx.phase === 'log' ? headersMultiMap(ctx.saved!.requestHeaders) : headersMultiMap(ctx.request.headers, checkMax(max, 'max_headers'))),
  },
  'kong.request.get_header': {
    source: 'kong/pdk/request.lua get_header -> kong/tools/http.lua get_header; plugin.lua override (log)',
    phases: 'request',
    inTimer: 'saved',
    impl: ({ ctx }, [name]) => {
      if (ctx.phase === 'log') return luaType(name) === 'string' ? getHeaderFirst(ctx.saved!.requestHeaders, luaString(name as string)) : null;
      return getHeaderFirst(ctx.request.headers, requireString(name, 'header name must be a string'));
    },
  },
  'kong.request.get_method': { source: 'kong/pdk/request.lua get_method', phases: 'request', inTimer: 'request', impl: ({ ctx }) => ctx.request.method },
  'kong.request.get_path': { source: 'kong/pdk/request.lua get_path (kong/tools/uri.lua normalize)', phases: 'request', inTimer: 'request', impl: ({ ctx }) => ctx.request.path },
  'kong.request.get_raw_query': { source: 'kong/pdk/request.lua get_raw_query', phases: 'request', inTimer: 'request', impl: ({ ctx }) => ctx.request.rawQuery },
  'kong.request.get_query': {
    source: 'kong/pdk/request.lua get_query (ngx.req.get_uri_args); mp_rpc fix_mmap',
    phases: 'request',
    inTimer: 'request',
    impl: ({ ctx }, [max]) => queryMultiMap(parseUriArgs(ctx.request.rawQuery, checkMax(max, 'max_args'))),
  },
  'kong.request.get_query_arg': {
    source: 'kong/pdk/request.lua get_query_arg',
    phases: 'request',
    inTimer: 'request',
    impl: ({ ctx }, [name]) => {
      const value = getOwn(parseUriArgs(ctx.request.rawQuery, DEFAULT_MAX), requireString(name, 'query argument name must be a string'));
      return Array.isArray(value) ? value[0] : value ?? null;
    },
  },
  'kong.request.get_scheme': { source: 'kong/pdk/request.lua get_scheme', phases: 'request', inTimer: 'request', impl: ({ ctx }) => ctx.request.scheme },
  'kong.request.get_host': { source: 'kong/pdk/request.lua get_host ($host)', phases: 'request', inTimer: 'request', impl: ({ ctx }) => ctx.request.host },
  'kong.request.get_port': { source: 'kong/pdk/request.lua get_port', phases: 'any', inTimer: 'request', impl: ({ ctx }) => ctx.request.port },
  'kong.request.get_start_time': { source: 'kong/pdk/request.lua get_start_time', phases: 'request', inTimer: 'ctx', impl: ({ ctx }) => ctx.startedAt },
  'kong.request.get_raw_body': {
    source: 'kong/pdk/request.lua get_raw_body; mp_rpc fix_raw',
    phases: 'before_content',
    inTimer: 'request',
    impl: ({ ctx }, [maxFileSize]) => {
      if (ctx.request.bodyInFile) {
        if (maxFileSize !== null && maxFileSize !== undefined) throw new NotModelled('kong.request.get_raw_body(max_allowed_file_size) of a body nginx spooled to a file');
        // get_raw_body() -> nil, "request body did not fit into client body buffer...";
        // only nil crosses and fix_raw cannot pack it: the phase dies (Kong's 500)
        throw new KongLuaError("attempt to get length of local 'str' (a nil value)");
      }
      return ctx.request.body;
    },
  },

  'kong.response.exit': {
    source: 'kong/pdk/response.lua exit -> send',
    phases: 'rewrite_access_header',
    inTimer: 'request',
    impl: ({ ctx }, [status, body, headers]) => {
      const code = checkStatus(status, MIN_STATUS);
      const tb = luaType(body);
      if (tb !== 'nil' && tb !== 'string' && tb !== 'table') throw new KongLuaError('body must be a nil, string or table');
      const th = luaType(headers);
      if (th !== 'nil' && th !== 'table') throw new KongLuaError('headers must be a nil or table');
      const entries = th === 'table' ? validateHeaders(headers) : [];
      exitResponse(ctx, code, body, entries, 'exit');
      return null;
    },
  },
  'kong.response.error': {
    source: 'kong/pdk/response.lua error (kong/tools/http.lua templates)',
    phases: 'rewrite_access_header',
    inTimer: 'request',
    impl: ({ ctx }, [status, message, headers]) => {
      const code = checkStatus(status, MIN_ERROR_STATUS);
      let text: string | null = null;
      if (luaType(message) === 'table') text = cjsonEncode(message);
      else if (luaType(message) === 'string') text = luaString(message as string);
      else if (luaType(message) !== 'nil') throw new KongLuaError('message must be a nil, a string or a table');
      const th = luaType(headers);
      if (th !== 'nil' && th !== 'table') throw new KongLuaError('headers must be a nil or table');
      const entries = th === 'table' ? validateHeaders(headers) : [];
      // the Content-Type Kong reads is the exact key "Content-Type" of the argument
      const given = entries.find(([k]) => k === 'Content-Type')?.[1];
      const ct = given === undefined ? undefined : Array.isArray(given) ? String(given[0]) : String(given);
      const h: Headers = new Map();
      if (ct !== undefined) h.set('content-type', [ct]);
      const errorBody = pdkErrorBody(code, text, ctx.id, findHeader(ctx.request.headers, 'accept'), h);
      exitResponse(ctx, code, errorBody.body.toString('utf8'), [...entries.filter(([k]) => k !== 'Content-Type'), ['Content-Type', errorBody.headers.get('content-type')![0]]], 'exit'); // KONG_EXITED: get_source says "exit"
      return null;
    },
  },
  'kong.response.get_status': {
    source: 'kong/pdk/response.lua get_status; plugin.lua override (log)',
    phases: 'header_body_log',
    inTimer: 'saved',
    impl: ({ ctx }) => (ctx.phase === 'log' ? ctx.saved!.status : ctx.response.status),
  },
  'kong.response.get_headers': {
    source: 'kong/pdk/response.lua get_headers; plugin.lua override (log); mp_rpc fix_mmap',
    phases: 'header_body_log',
    inTimer: 'saved',
    impl: ({ ctx }, [max]) => (ctx.phase === 'log' ? headersMultiMap(ctx.saved!.responseHeaders) : headersMultiMap(ctx.response.headers, checkMax(max, 'max_headers'))),
  },
  'kong.response.get_header': {
    source: 'kong/pdk/response.lua get_header; plugin.lua override (log)',
    phases: 'header_body_log',
    inTimer: 'saved',
    impl: ({ ctx }, [name]) => {
      if (ctx.phase === 'log') return luaType(name) === 'string' ? getHeaderFirst(ctx.saved!.responseHeaders, luaString(name as string)) : null;
      return getHeaderFirst(ctx.response.headers, requireString(name, 'header name must be a string'));
    },
  },
  'kong.response.get_source': {
    source: 'kong/pdk/response.lua get_source; plugin.lua override (log)',
    phases: 'header_body_log',
    inTimer: 'saved',
    impl: ({ ctx }) => ctx.response.source,
  },
  'kong.response.set_header': {
    source: 'kong/pdk/response.lua set_header (checks.lua validate_header, normalize_multi_header)',
    phases: 'rewrite_access_header',
    inTimer: 'request',
    impl: ({ ctx, host, plugin }, [name, value]) => {
      validateHeader(name, value);
      const n = luaString(name as string);
      if (['transfer-encoding', 'transfer_encoding'].includes(n.toLowerCase())) return host.log('warn', plugin, 'manually setting Transfer-Encoding. Ignored.'), null;
      putHeader(ctx.response.headers, n.replace(/_/g, '-'), normalizeMultiHeader(value));
      return null;
    },
  },
  'kong.response.add_header': {
    source: 'kong/pdk/response.lua add_header (ngx.resp.add_header)',
    phases: 'rewrite_access_header',
    inTimer: 'request',
    impl: ({ ctx }, [name, value]) => {
      validateHeader(name, value);
      const key = luaString(name as string).replace(/_/g, '-').toLowerCase();
      ctx.response.headers.set(key, [...(ctx.response.headers.get(key) ?? []), ...normalizeMultiHeader(value)]);
      return null;
    },
  },
  'kong.response.clear_header': {
    source: 'kong/pdk/response.lua clear_header',
    phases: 'rewrite_access_header',
    inTimer: 'request',
    impl: ({ ctx }, [name]) => {
      putHeader(ctx.response.headers, requireString(name, 'header name must be a string').replace(/_/g, '-'), []);
      return null;
    },
  },
  'kong.response.set_headers': {
    source: 'kong/pdk/response.lua set_headers (checks.lua validate_headers: all entries before any is set)',
    phases: 'rewrite_access_header',
    inTimer: 'request',
    impl: ({ ctx, host, plugin }, [headers]) => {
      for (const [k, v] of validateHeaders(headers)) {
        if (['transfer-encoding', 'transfer_encoding'].includes(k.toLowerCase())) host.log('warn', plugin, 'manually setting Transfer-Encoding. Ignored.');
        else putHeader(ctx.response.headers, k.replace(/_/g, '-'), normalizeMultiHeader(v));
      }
      return null;
    },
  },
  'kong.response.set_status': {
    source: 'kong/pdk/response.lua set_status',
    phases: 'rewrite_access_header',
    inTimer: 'request',
    impl: ({ ctx }, [status]) => {
      ctx.response.status = checkStatus(status, MIN_STATUS);
      return null;
    },
  },
  'kong.response.set_raw_body': {
    source: 'kong/pdk/response.lua set_raw_body (body_filter only: a JS plugin has no body_filter)',
    phases: 'body_filter',
    inTimer: 'request',
    impl: () => null,
  },
  'kong.response.get_raw_body': {
    source: 'kong/pdk/response.lua get_raw_body (body_filter only)',
    phases: 'body_filter',
    inTimer: 'request',
    impl: () => null,
  },

  'kong.service.request.set_header': {
    source: 'kong/pdk/service/request.lua set_header (checks.lua validate_header, normalize_multi_header)',
    phases: 'access_rewrite_balancer',
    inTimer: 'request',
    impl: ({ ctx }, [name, value]) => {
      validateHeader(name, value);
      const n = luaString(name as string);
      if (n.toLowerCase() === ':authority') return null; // "cannot set :authority pseudo-header on non-grpc requests" (nil, err: only nil crosses)
      if (n.toLowerCase() === 'host') throw new NotModelled('kong.service.request.set_header("host") (upstream_host and SNI)');
      putHeader(ctx.request.headers, n, normalizeMultiHeader(value));
      return null;
    },
  },
  'kong.service.request.add_header': {
    source: 'kong/pdk/service/request.lua add_header',
    phases: 'access_and_rewrite',
    inTimer: 'request',
    impl: ({ ctx }, [name, value]) => {
      validateHeader(name, value);
      const n = luaString(name as string);
      if (n.toLowerCase() === 'host') throw new NotModelled('kong.service.request.add_header("host")');
      // table_insert(headers, normalize_multi_header(value)): a list would nest a table
      if (luaType(value) === 'table') throw new NotModelled('kong.service.request.add_header with a list value');
      putHeader(ctx.request.headers, n, [...(findHeader(ctx.request.headers, n) ?? []), ...normalizeMultiHeader(value)]);
      return null;
    },
  },
  'kong.service.request.clear_header': {
    source: 'kong/pdk/service/request.lua clear_header (ngx.req.clear_header)',
    phases: 'access_and_rewrite',
    inTimer: 'request',
    impl: ({ ctx }, [name]) => {
      putHeader(ctx.request.headers, requireString(name, 'header must be a string'), []);
      return null;
    },
  },
  'kong.service.request.set_headers': {
    source: 'kong/pdk/service/request.lua set_headers (checks.lua validate_headers: all entries before any is set)',
    phases: 'access_and_rewrite',
    inTimer: 'request',
    impl: ({ ctx }, [headers]) => {
      if (luaType(headers) !== 'table') throw new KongLuaError('headers must be a table');
      const entries = validateHeaders(headers);
      if (entries.some(([k]) => k.toLowerCase() === 'host')) throw new NotModelled('kong.service.request.set_headers with "host" (upstream_host and SNI)');
      for (const [k, v] of entries) putHeader(ctx.request.headers, k, normalizeMultiHeader(v));
      return null;
    },
  },
  'kong.service.request.set_raw_body': {
    source: 'kong/pdk/service/request.lua set_raw_body (ngx.req.set_body_data)',
    phases: 'access_rewrite_balancer',
    inTimer: 'request',
    impl: ({ ctx }, [body]) => {
      if (luaType(body) !== 'string') throw new KongLuaError('body must be a string');
      // the request body itself changes: a later get_raw_body reads the new one
      ctx.request.body = Buffer.from(body as string | Uint8Array);
      ctx.request.bodyInFile = false;
      return null;
    },
  },
  'kong.service.request.set_path': {
    source: 'kong/pdk/service/request.lua set_path (kong/tools/uri.lua escape)',
    phases: 'access_rewrite_balancer',
    inTimer: 'request',
    impl: ({ ctx }, [path]) => {
      const p = requireString(path, 'path must be a string');
      if (!p.startsWith('/')) throw new KongLuaError('path must start with /');
      ctx.upstream.path = escapePath(p);
      return null;
    },
  },
  'kong.service.request.set_raw_query': {
    source: 'kong/pdk/service/request.lua set_raw_query (ngx.req.set_uri_args)',
    phases: 'access_and_rewrite',
    inTimer: 'request',
    impl: ({ ctx }, [q]) => {
      ctx.request.rawQuery = requireString(q, 'query must be a string');
      return null;
    },
  },
  'kong.service.request.set_query': {
    source: 'kong/pdk/service/request.lua set_query (make_ordered_args, ngx.encode_args)',
    phases: 'access_and_rewrite',
    inTimer: 'request',
    impl: ({ ctx }, [args]) => {
      ctx.request.rawQuery = orderedArgs(args);
      return null;
    },
  },
  'kong.service.request.set_method': {
    source: 'kong/pdk/service/request.lua set_method',
    phases: 'access_and_rewrite',
    inTimer: 'request',
    impl: ({ ctx }, [m]) => {
      const method = requireString(m, 'method must be a string');
      if (!METHODS_ALLOWED.has(method)) throw new KongLuaError(`invalid method: ${method}`);
      ctx.request.method = method;
      return null;
    },
  },

  'kong.service.response.get_status': {
    source: 'kong/pdk/service/response.lua get_status',
    phases: 'header_body_log',
    inTimer: 'ctx',
    impl: ({ ctx }) => {
      if (ctx.phase === 'log' && !ctx.buffered) throw new KongLuaError('no request found'); // $upstream_status in a timer
      return ctx.serviceResponse?.status ?? null;
    },
  },
  'kong.service.response.get_headers': {
    source: 'kong/pdk/service/response.lua get_headers (buffered: a table with only __index, so fix_mmap sends {})',
    phases: 'header_body_log',
    inTimer: 'ctx',
    impl: ({ ctx }, [max]) => {
      checkMax(max, 'max_headers');
      if (ctx.buffered) return ownMap();
      throw new KongLuaError('no request found'); // ngx.resp.get_headers in the log timer
    },
  },
  'kong.service.response.get_header': {
    source: 'kong/pdk/service/response.lua get_header',
    phases: 'header_body_log',
    inTimer: 'ctx',
    impl: ({ ctx }, [name]) => {
      const n = requireString(name, 'name must be a string');
      if (!ctx.buffered) throw new KongLuaError('no request found');
      return ctx.serviceResponse ? getHeaderFirst(ctx.serviceResponse.headers, n) : null;
    },
  },
  'kong.service.response.get_raw_body': {
    source: 'kong/pdk/service/response.lua get_raw_body; mp_rpc fix_raw',
    phases: 'header_body_log',
    inTimer: 'ctx',
    impl: ({ ctx }) => {
      if (!ctx.buffered) throw new KongLuaError('service body is only available with buffered proxying (see: kong.service.request.enable_buffering function)');
      return ctx.serviceResponse?.body ?? Buffer.alloc(0);
    },
  },

  'kong.client.get_ip': { source: 'kong/pdk/client.lua get_ip', phases: 'any', inTimer: 'request', impl: ({ ctx }) => ctx.clientIp },
  'kong.client.get_forwarded_ip': { source: 'kong/pdk/client.lua get_forwarded_ip', phases: 'any', inTimer: 'request', impl: ({ ctx }) => ctx.clientIp },
  'kong.client.get_consumer': { source: 'kong/pdk/client.lua get_consumer', phases: 'auth_and_later', inTimer: 'ctx', impl: ({ ctx }) => entity(ctx.consumer) },
  'kong.client.get_credential': { source: 'kong/pdk/client.lua get_credential', phases: 'auth_and_later', inTimer: 'ctx', impl: ({ ctx }) => entity(ctx.credential) },
  'kong.client.load_consumer': {
    source: 'kong/pdk/client.lua load_consumer',
    phases: 'auth_and_later',
    inTimer: 'ctx',
    impl: ({ host }, [id, byUsername]) => {
      const key = requireString(id, 'consumer_id must be a string');
      const isUuid = UUID.test(key);
      if (!isUuid && !byUsername) throw new KongLuaError('cannot load a consumer with an id that is not a uuid');
      const found = (isUuid ? host.consumers.find((c) => c.id === key) : undefined) ?? (byUsername ? host.consumers.find((c) => c.username === key) : undefined);
      return entity(found ?? null);
    },
  },
  'kong.client.authenticate': {
    source: 'kong/pdk/client.lua authenticate',
    phases: 'access',
    inTimer: 'ctx',
    impl: ({ ctx }, [consumer, credential]) => {
      const tc = luaType(consumer);
      const tk = luaType(credential);
      if (tc !== 'nil' && tc !== 'table') throw new KongLuaError('consumer must be a table or nil');
      if (tk !== 'nil' && tk !== 'table') throw new KongLuaError('credential must be a table or nil');
      if (tc === 'nil' && tk === 'nil') throw new KongLuaError('either credential or consumer must be provided');
      ctx.consumer = (consumer as Consumer) ?? null;
      ctx.credential = (credential as Record<string, unknown>) ?? null;
      return null;
    },
  },

  'kong.ctx.shared.get': {
    source: 'plugin.lua exposed_api["kong.ctx.shared.get"] (no phase check)',
    phases: 'any',
    inTimer: 'saved',
    impl: ({ ctx }, [key]) => (luaType(key) === 'nil' ? null : getOwn(ctx.shared, String(key)) ?? null),
  },
  'kong.ctx.shared.set': {
    source: 'plugin.lua exposed_api["kong.ctx.shared.set"] (no phase check)',
    phases: 'any',
    inTimer: 'saved',
    impl: ({ ctx }, [key, value]) => {
      if (luaType(key) === 'nil') throw new KongLuaError('table index is nil');
      if (luaType(value) === 'nil') delete ctx.shared[String(key)];
      else setOwn(ctx.shared, String(key), luaRoundTrip(value));
      return null;
    },
  },

  'kong.log.serialize': {
    source: 'plugin.lua exposed_api["kong.log.serialize"] -> kong/pdk/log.lua serialize (cjson string)',
    phases: 'log',
    inTimer: 'saved',
    impl: ({ ctx }) => ctx.saved!.serialize,
  },
  'kong.log.set_serialize_value': {
    source: 'kong/pdk/log.lua set_serialize_value',
    phases: 'with_ctx',
    inTimer: 'ctx',
    impl: ({ ctx }, [key, value, options]) => {
      const k = requireString(key, 'key must be a string');
      let mode: 'set' | 'add' | 'replace' = 'set';
      if (luaType(options) === 'table' && (options as { mode?: unknown }).mode !== undefined && (options as { mode?: unknown }).mode !== null) {
        const m = (options as { mode: unknown }).mode;
        if (m !== 'set' && m !== 'add' && m !== 'replace') throw new KongLuaError("mode must be 'set', 'add' or 'replace'");
        mode = m;
      }
      validateSerializeValue(value);
      // the log timer writes to its clone of ngx.ctx: serialize() was already taken
      if (ctx.phase !== 'log') ctx.serializeValues.push({ key: k, value: luaRoundTrip(value), mode });
      return null;
    },
  },

  'kong.router.get_route': { source: 'kong/pdk/router.lua get_route', phases: 'router', inTimer: 'ctx', impl: ({ ctx }) => entity(ctx.route.entity) },
  'kong.router.get_service': { source: 'kong/pdk/router.lua get_service', phases: 'router', inTimer: 'ctx', impl: ({ ctx }) => entity(ctx.service.entity) },
  'kong.node.get_id': { source: 'kong/pdk/node.lua get_id', phases: 'any', inTimer: 'ctx', impl: ({ host }) => host.nodeId },
  'kong.node.get_hostname': { source: 'kong/pdk/node.lua get_hostname', phases: 'any', inTimer: 'ctx', impl: () => 'bridge' },
};

for (const level of ['debug', 'info', 'notice', 'warn', 'err', 'crit', 'alert', 'emerg']) {
  SPECS[`kong.log.${level}`] = {
    source: `kong/pdk/log.lua ${level} (gen_log_func: tostring of each argument, concatenated)`,
    phases: 'any',
    inTimer: 'ctx',
    impl: ({ host, plugin }, args) => {
      host.log(level, plugin, logText(args));
      return null;
    },
  };
}

export const PDK_METHODS: Readonly<Record<string, Readonly<MethodSpec>>> = SPECS;
export const IMPLEMENTED_PDK_METHODS = Object.keys(SPECS);

/** Runs one PDK call for a plugin; throws KongLuaError where Kong's Lua would raise. */
export function callPdk(call: PdkCall, method: string, args: unknown): unknown {
  const spec = getOwn(SPECS, method);
  if (!spec) throw new NotModelled(`PDK method ${method}`);
  checkPhase(call.ctx, spec.phases);
  if (call.ctx.phase === 'log' && spec.inTimer === 'request') {
    // lua-resty-core: request APIs have no request in a timer
    throw new KongLuaError('no request found');
  }
  // mp_rpc: `method(unpack(args))` for a table, `method(args)` otherwise
  return spec.impl(call, Array.isArray(args) ? args : [args]);
}
