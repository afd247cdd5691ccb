/**
 * llm-gateway's Lua companion (plugins/llm-gateway/contract.ts), run natively:
 *
 *   gateway-pack.lua   pre-function, access       the request into kong.ctx.shared[PACK_KEY]
 *   gateway-apply.lua  post-function, access (1st) the decision under DECISION_KEY applied
 *   gateway-log.lua    post-function, log         a compact record into kong.tools.queue,
 *                                                 POSTed in batches to the ingest socket
 *
 * Kong sources each part follows: the pack's getters kong/pdk/request.lua and
 * kong/pdk/client.lua; the setters kong/pdk/service/request.lua and
 * kong/pdk/private/checks.lua (validate_headers, normalize_multi_header); the record's
 * values kong/pdk/log.lua serialize (as serialize.ts); the queue kong/tools/queue.lua
 * (kong-queue.ts).
 *
 * Values are built as Kong's Lua holds them (lua-table.ts): one header value a string,
 * several a list, an empty table `[]`, nil members absent; test/foundation/lua/
 * gateway-agreement.test.ts runs the Lua under LuaJIT on the same inputs and compares.
 */
import http = require('http');
import {
  DECISION_KEY,
  INGEST_PATH,
  INGEST_QUEUE,
  PACK_KEY,
  RECORD_VERSION,
} from '../../plugins/llm-gateway/contract';
import { cjsonEncode } from './cjson';
import { plain } from './post-function';
import type { QueueConf, QueueHandler } from './kong-queue';
import { getOwn, luaIpairs, luaPairs, luaString, luaType, setOwn } from './lua-table';
import type { Headers, RequestContext } from './request-context';
import { parseUriArgs } from './uri-args';

/** lua_max_req_headers / lua_max_resp_headers default: get_headers() returns at most 100 lines. */
const MAX_HEADER_LINES = 100;

/**
 * ngx.req.get_headers() / ngx.resp.get_headers() as a Lua table: header lines in order,
 * at most `max`, one value a string, a repeated header a list. An empty table is `[]`
 * (how the bridge holds an empty Lua table).
 */
export function luaHeaderTable(h: Headers, max = MAX_HEADER_LINES): Record<string, string | string[]> | [] {
  const out: Record<string, string | string[]> = {};
  let n = 0;
  outer: for (const [k, values] of h) {
    for (const v of values) {
      if (n++ >= max) break outer;
      const had = getOwn(out, k);
      setOwn(out, k, had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v]);
    }
  }
  return Object.keys(out).length ? out : [];
}

const header = (h: Headers, name: string): string[] | undefined => h.get(name);

// --- gateway-pack.lua -----------------------------------------------------------------
export type PackContext = Pick<RequestContext, 'id' | 'clientIp' | 'shared'> & { request: Pick<RequestContext['request'], 'method' | 'path' | 'rawQuery' | 'headers' | 'body' | 'bodyInFile'> };

/**
 * What gateway-pack.lua puts under PACK_KEY, as the bridge holds a Lua table: the body
 * as ngx.encode_base64 writes it (body_base64), body_unread when nginx spooled it.
 */
export function packRequest(ctx: PackContext): Record<string, unknown> {
  const r = ctx.request;
  const pack: Record<string, unknown> = {
    request_id: ctx.id,
    method: r.method,
    path: r.path,
    raw_query: r.rawQuery,
    headers: luaHeaderTable(r.headers),
    forwarded_ip: ctx.clientIp,
  };
  // ngx.var.content_length / http_transfer_encoding: the first header of each name
  const length = luaToNumber(header(r.headers, 'content-length')?.[0]);
  if ((length !== undefined && length > 0) || header(r.headers, 'transfer-encoding') !== undefined) {
    if (r.bodyInFile) pack.body_unread = true;
    else pack.body_base64 = r.body.toString('base64');
  }
  return pack;
}

/** Lua's tonumber for a decimal header value (enough for Content-Length). */
function luaToNumber(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^0[xX][0-9a-fA-F]+$/.test(t)) return undefined;
  return Number(t);
}

/** gateway-pack.lua: kong.ctx.shared.llm_gateway_request = the packed request. */
export function gatewayPackChunk(ctx: PackContext): void {
  setOwn(ctx.shared, PACK_KEY, packRequest(ctx));
}

// --- gateway-apply.lua ----------------------------------------------------------------
const LOG_LEVELS = new Set(['err', 'warn', 'notice', 'info']);
const UNSAFE_VALUE = /[\0\r\n]/;

/** A PDK function the apply chunk calls (the bridge's pdk.ts: raises as Kong's). */
export type ApplyPdk = (method: string, args: unknown[]) => unknown;
export type LuaLog = (level: 'err' | 'warn' | 'notice' | 'info', message: string) => void;

const field = (t: unknown, k: string): unknown => (luaType(t) === 'table' && !Array.isArray(t) ? getOwn(t as Record<string, unknown>, k) : undefined);
/** t[i] of a Lua table as the bridge holds it (a list, or a map keyed "1", "2" after a nil hole). */
const at = (t: unknown, i: number): unknown => (Array.isArray(t) ? t[i - 1] : field(t, String(i)));
/** `#t` as the bridge can tell it: a list's length; a table with holes (a map here) taken as 0. */
const len = (t: object): number => (Array.isArray(t) ? luaIpairs(t).length : 0);

/** gateway-apply.lua good_value: a value Kong's setters take and that cannot split a header line. */
function goodValue(v: unknown): boolean {
  const t = luaType(v);
  if (t === 'string') return !UNSAFE_VALUE.test(luaString(v as string));
  if (t === 'number') return Number.isFinite(v);
  if (t === 'boolean') return true;
  if (t !== 'table') return false;
  // a list of strings, no other keys (a map here is never one: its keys are strings)
  if (!Array.isArray(v)) return Object.keys(v as object).length === 0;
  return v.every((x) => luaType(x) === 'string' && !UNSAFE_VALUE.test(luaString(x as string)));
}

/** gateway-apply.lua good_headers: the entries Kong can set; null when none is left. */
function goodHeaders(headers: object, what: string, log: LuaLog): { headers: Record<string, unknown> | null; skippedAny: boolean } {
  const out: Record<string, unknown> = {};
  let any = false;
  let skippedAny = false;
  // a list's keys are numbers: never a name
  const entries: Array<[string | number, unknown]> = Array.isArray(headers) ? luaIpairs(headers).map((v, i) => [i + 1, v]) : luaPairs(headers);
  for (const [name, value] of entries) {
    if (typeof name === 'string' && name !== '' && !UNSAFE_VALUE.test(name) && goodValue(value)) {
      setOwn(out, name, value);
      any = true;
    } else {
      skippedAny = true;
      const shown = typeof name === 'string' && !UNSAFE_VALUE.test(name) ? name : '(invalid name)';
      log('err', `llm-gateway: ${what} header skipped: ${shown} = (${luaType(value)})`);
    }
  }
  return { headers: any ? out : null, skippedAny };
}

/** gateway-apply.lua's answer when what goes upstream was not applied whole. */
export const DECISION_NOT_APPLIED = {
  status: 500,
  body: '{"error":{"message":"The gateway could not apply its decision. It has been logged.","type":"server_error","param":null,"code":"llm_gateway_decision_not_applied"}}',
  headers: { 'Content-Type': 'application/json' },
};

/**
 * gateway-apply.lua: the decision under DECISION_KEY applied in the contract's order
 * (bad members skipped with an error line, each setter under pcall), the decision's
 * body and upstream_headers and the pack's body_base64 dropped; returns the exit it
 * makes when what goes upstream was not applied whole (DECISION_NOT_APPLIED), or null.
 */
export function gatewayApplyChunk(ctx: Pick<RequestContext, 'shared'>, pdk: ApplyPdk, log: LuaLog): typeof DECISION_NOT_APPLIED | null {
  const shared = ctx.shared;
  const d = getOwn(shared, DECISION_KEY);
  let whole = true;
  if (luaType(d) === 'table') {
    whole = applyDecision(shared, d as object, pdk, log);
    if (!Array.isArray(d)) {
      delete (d as Record<string, unknown>).body;
      delete (d as Record<string, unknown>).upstream_headers;
    }
  }
  const packed = getOwn(shared, PACK_KEY);
  if (luaType(packed) === 'table' && !Array.isArray(packed)) delete (packed as Record<string, unknown>).body_base64;
  if (whole) return null;
  log('err', 'llm-gateway: the decision was not applied whole; answering 500');
  return DECISION_NOT_APPLIED;
}

/** Applies the decision; false when what goes upstream was not applied whole. */
function applyDecision(shared: Record<string, unknown>, d: object, pdk: ApplyPdk, log: LuaLog): boolean {
  const skipped = (member: string, v: unknown) => log('err', `llm-gateway: decision member ${member} skipped (${luaType(v)})`);
  const call = (what: string, method: string, arg: unknown): boolean => {
    try {
      pdk(method, [arg]);
      return true;
    } catch (err) {
      log('err', `llm-gateway: ${what} failed: ${(err as Error).message}`);
      return false;
    }
  };
  let whole = true;

  const copy = field(d, 'shared');
  if (luaType(copy) === 'table') {
    for (const [key, value] of luaPairs(copy as object)) {
      // a list's keys are numbers: never "llm_..."
      if (Array.isArray(copy)) break;
      if (key.startsWith('llm_') && key !== DECISION_KEY && key !== PACK_KEY) setOwn(shared, key, value);
    }
  } else if (copy !== undefined) skipped('shared', copy);

  const upstream = field(d, 'upstream_headers');
  if (luaType(upstream) === 'table') {
    if (luaPairs(upstream as object).length) {
      const { headers, skippedAny } = goodHeaders(upstream as object, 'upstream', log);
      if (skippedAny) whole = false;
      if (headers && !call('set upstream headers', 'kong.service.request.set_headers', headers)) whole = false;
    }
  } else if (upstream !== undefined) {
    whole = false;
    skipped('upstream_headers', upstream);
  }

  const query = field(d, 'raw_query');
  if (luaType(query) === 'string') {
    if (!call('set_raw_query', 'kong.service.request.set_raw_query', query)) whole = false;
  } else if (query !== undefined) {
    whole = false;
    skipped('raw_query', query);
  }

  const body = field(d, 'body');
  if (luaType(body) === 'string') {
    if (!call('set_raw_body', 'kong.service.request.set_raw_body', body)) whole = false;
  } else if (body !== undefined) {
    whole = false;
    skipped('body', body);
  }

  const response = field(d, 'response_headers');
  if (luaType(response) === 'table') {
    if (luaPairs(response as object).length) {
      const { headers } = goodHeaders(response as object, 'response', log);
      if (headers) call('set response headers', 'kong.response.set_headers', headers);
    }
  } else if (response !== undefined) skipped('response_headers', response);

  const logs = field(d, 'logs');
  if (luaType(logs) === 'table') {
    const n = len(logs as object);
    for (let i = 1; i <= n; i++) {
      const entry = at(logs, i);
      const isTable = luaType(entry) === 'table';
      const level = isTable ? at(entry, 1) : undefined;
      const line = isTable ? at(entry, 2) : undefined;
      if (typeof level === 'string' && LOG_LEVELS.has(level) && luaType(line) === 'string') {
        log(level as 'err' | 'warn' | 'notice' | 'info', luaString(line as string));
      } else {
        log('err', `llm-gateway: decision log entry ${i} skipped`);
      }
    }
  } else if (logs !== undefined) skipped('logs', logs);
  return whole;
}

// --- gateway-log.lua ------------------------------------------------------------------
/** kong.ctx.shared members the record carries (never llm_guard_placeholders). */
export const RECORD_SHARED = ['llm_auth', 'llm_guard', 'llm_rate_limit', 'llm_usage', 'llm_response_guard'];
/** What gateway-log.lua reads of a request in the log phase (a RequestContext, or a test's stand-in). */
export type RecordContext = Pick<
  RequestContext,
  'id' | 'startedAt' | 'clientIp' | 'route' | 'service' | 'shared' | 'requestSize' | 'bytesSent' | 'latencies'
> & {
  request: Pick<RequestContext['request'], 'method' | 'path' | 'rawQuery' | 'headers'>;
  response: Pick<RequestContext['response'], 'status' | 'headers' | 'source'>;
};

/**
 * The compact record, each value read as serialize.ts reads it for kong.log.serialize()
 * (checked against a real Kong): uri (path and query), querystring (get_query: flags
 * true), request headers with authorization and proxy-authorization "REDACTED",
 * request_size ($request_length), response_size ($bytes_sent), latencies, source;
 * route and service as { id, name }.
 */
export function compactRecord(ctx: RecordContext, nodeId: string): Record<string, unknown> {
  const requestHeaders = luaHeaderTable(ctx.request.headers);
  if (!Array.isArray(requestHeaders)) {
    for (const k of ['authorization', 'proxy-authorization']) if (getOwn(requestHeaders, k) !== undefined) requestHeaders[k] = 'REDACTED';
  }
  const query = ctx.request.rawQuery;
  const ref = (e: Record<string, unknown>) => {
    const out: Record<string, unknown> = {};
    if (typeof e.id === 'string') out.id = e.id;
    if (typeof e.name === 'string') out.name = e.name;
    return out;
  };
  const shared: Record<string, unknown> = {};
  for (const k of RECORD_SHARED) {
    const c = plain(getOwn(ctx.shared, k), 0);
    if (c !== undefined) shared[k] = c;
  }
  const record: Record<string, unknown> = {
    v: RECORD_VERSION,
    request_id: ctx.id,
    started_at: ctx.startedAt,
    node_id: nodeId,
    method: ctx.request.method,
    uri: ctx.request.path + (query ? `?${query}` : ''),
    querystring: parseUriArgs(query),
    request_headers: requestHeaders,
    request_size: ctx.requestSize,
    status: ctx.response.status,
    response_headers: luaHeaderTable(ctx.response.headers),
    response_size: ctx.bytesSent,
    source: ctx.response.source === 'service' ? 'upstream' : 'kong',
    latencies: { kong: ctx.latencies.kong, proxy: ctx.latencies.proxy, request: ctx.latencies.request },
    route: ref(ctx.route.entity),
    service: ref(ctx.service.entity),
    client_ip: ctx.clientIp,
    shared,
  };
  const decision = getOwn(ctx.shared, DECISION_KEY);
  const pluginId = luaType(decision) === 'table' ? field(decision, 'plugin_id') : undefined;
  if (typeof pluginId === 'string') record.plugin_id = pluginId;
  return record;
}

/**
 * gateway-log.lua up to the enqueue: null when the request is not a gateway route's
 * (no pack) or the decision says ingest = false; else the record as cjson encodes it
 * (empty tables `{}`).
 */
export function gatewayLogEntry(ctx: RecordContext, nodeId: string): string | null {
  if (getOwn(ctx.shared, PACK_KEY) === undefined) return null;
  const decision = getOwn(ctx.shared, DECISION_KEY);
  if (luaType(decision) === 'table' && field(decision, 'ingest') === false) return null;
  return cjsonEncode(compactRecord(ctx, nodeId));
}

/** gateway-log.lua's QUEUE_CONF (contract.ts INGEST_QUEUE, log_tag added). */
export const INGEST_QUEUE_CONF: QueueConf = { ...INGEST_QUEUE, log_tag: 'llm-gateway-log' };

/** The modules gateway-log.lua requires (untrusted_lua_sandbox_requires must list them). */
export const GATEWAY_LOG_REQUIRES = ['cjson.safe', 'kong.tools.queue', 'resty.http'];
export const RECORDS_DISABLED =
  'llm-gateway records disabled: require of cjson.safe, kong.tools.queue or resty.http failed (add them to untrusted_lua_sandbox_requires)';

/** gateway-log.lua's timeouts (ms): connect, send, read. */
const CONNECT_TIMEOUT = 1000;
const READ_TIMEOUT = 30000;

/**
 * gateway-log.lua `send`, the queue's handler: one POST of the batch as a JSON array to
 * INGEST_PATH over the unix socket. 200: true; 503 or no answer: false and an error
 * (the queue retries); any other status: an error log and true (dropped).
 */
export function ingestHandler(socketPath: string, log: LuaLog): QueueHandler<string> {
  return (_conf, entries) =>
    new Promise((resolve) => {
      const body = Buffer.from(`[${entries.join(',')}]`);
      let connected = false;
      const req = http.request(
        {
          socketPath,
          method: 'POST',
          path: INGEST_PATH,
          headers: { Host: 'localhost', 'Content-Type': 'application/json', 'Content-Length': String(body.length) },
          agent: false,
        },
        (res) => {
          res.resume();
          res.on('error', (err) => resolve([false, `POST ${INGEST_PATH}: ${err.message}`]));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status === 200) return resolve([true]);
            if (status === 503) return resolve([false, 'the ingest answered 503']);
            log('err', `llm-gateway ingest refused a batch of ${entries.length} records: status ${status}; dropped (sending it again would get the same answer)`);
            resolve([true]);
          });
        },
      );
      const connectTimer = setTimeout(() => req.destroy(new Error('timeout')), CONNECT_TIMEOUT);
      req.on('socket', (s) => s.once('connect', () => {
        connected = true;
        clearTimeout(connectTimer);
        s.setTimeout(READ_TIMEOUT, () => req.destroy(new Error('timeout')));
      }));
      req.on('error', (err) => {
        clearTimeout(connectTimer);
        resolve([false, connected ? `POST ${INGEST_PATH}: ${err.message}` : `connecting to unix:${socketPath}: ${err.message}`]);
      });
      req.end(body);
    });
}
