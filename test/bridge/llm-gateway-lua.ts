/**
 * llm-gateway's Lua companion (plugins/llm-gateway/contract.ts), run natively:
 *
 *   gateway-pack.lua   pre-function, access       the request into kong.ctx.shared[PACK_KEY]
 *   gateway-apply.lua  post-function, access (1st) the decision under DECISION_KEY applied
 *   gateway-log.lua    post-function, log         a compact record into kong.tools.queue,
 *                                                 POSTed in batches to the ingest socket
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
  type CompactRecord,
  type PackedRequest,
} from '../../plugins/llm-gateway/contract';
import { cjsonEncode } from './cjson';
import type { QueueConf, QueueHandler } from './kong-queue';
import { getOwn, luaIpairs, luaPairs, luaType, setOwn } from './lua-table';
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

/** What gateway-pack.lua puts under PACK_KEY (as Lua holds it). */
export function packRequest(ctx: PackContext): PackedRequest {
  const r = ctx.request;
  const pack: PackedRequest = {
    request_id: ctx.id,
    method: r.method,
    path: r.path,
    raw_query: r.rawQuery,
    headers: luaHeaderTable(r.headers) as PackedRequest['headers'],
    forwarded_ip: ctx.clientIp,
  };
  const length = header(r.headers, 'content-length')?.[0];
  const hasBody = (length !== undefined && Number(length) > 0) || header(r.headers, 'transfer-encoding') !== undefined;
  if (hasBody) {
    if (r.bodyInFile) pack.body_unread = true;
    else pack.body_base64 = r.body.toString('base64');
  }
  return pack;
}

/** gateway-pack.lua: kong.ctx.shared[PACK_KEY] = the packed request. */
export function gatewayPackChunk(ctx: PackContext): void {
  ctx.shared[PACK_KEY] = packRequest(ctx);
}

// --- gateway-apply.lua ----------------------------------------------------------------
const LOG_LEVELS = new Set(['err', 'warn', 'notice', 'info']);

/** The PDK functions the apply chunk calls (the bridge's pdk.ts, phase checks included). */
export type ApplyPdk = (method: string, args: unknown[]) => unknown;

const field = (t: unknown, k: string): unknown => (luaType(t) === 'table' && !Array.isArray(t) ? getOwn(t as Record<string, unknown>, k) : undefined);

/** gateway-apply.lua: the decision published under DECISION_KEY, applied in the contract's order. */
export function gatewayApplyChunk(ctx: Pick<RequestContext, 'shared'>, pdk: ApplyPdk): void {
  const d = ctx.shared[DECISION_KEY];
  if (luaType(d) !== 'table') return;
  const shared = field(d, 'shared');
  if (luaType(shared) === 'table') {
    for (const [k, v] of luaPairs(shared as object)) if (k.startsWith('llm_')) setOwn(ctx.shared, k, v);
  }
  const upstream = field(d, 'upstream_headers');
  if (luaType(upstream) === 'table') pdk('kong.service.request.set_headers', [upstream]);
  const query = field(d, 'raw_query');
  if (luaType(query) === 'string') pdk('kong.service.request.set_raw_query', [query]);
  const body = field(d, 'body');
  if (luaType(body) === 'string') pdk('kong.service.request.set_raw_body', [body]);
  const response = field(d, 'response_headers');
  if (luaType(response) === 'table') pdk('kong.response.set_headers', [response]);
  const logs = field(d, 'logs');
  if (luaType(logs) === 'table') {
    for (const entry of luaIpairs(logs as object)) {
      const level = at(entry, 1);
      const line = at(entry, 2);
      if (typeof level === 'string' && LOG_LEVELS.has(level) && luaType(line) === 'string') pdk(`kong.log.${level}`, [line]);
    }
  }
}

/** t[i] of a Lua table as the bridge holds it (a list, or a map keyed "1", "2" after a nil hole). */
const at = (t: unknown, i: number): unknown => (Array.isArray(t) ? t[i - 1] : field(t, String(i)));

// --- gateway-log.lua ------------------------------------------------------------------
/** kong.ctx.shared members the record carries (never llm_guard_placeholders). */
export const RECORD_SHARED = ['llm_auth', 'llm_guard', 'llm_rate_limit', 'llm_usage', 'llm_response_guard'];

/** A copy with only strings, numbers, booleans and tables of them; undefined for anything else. */
function plainCopy(v: unknown): unknown {
  const t = luaType(v);
  if (t === 'string') return typeof v === 'string' ? v : Buffer.from(v as Uint8Array).toString('utf8');
  if (t === 'boolean') return v;
  if (t === 'number') return v;
  if (t !== 'table') return undefined;
  if (Array.isArray(v)) return v.map(plainCopy);
  const out: Record<string, unknown> = {};
  for (const [k, x] of luaPairs(v as object)) {
    const c = plainCopy(x);
    if (c !== undefined) setOwn(out, k, c);
  }
  return out;
}

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
 * (checked against a real Kong): request_id, started_at, uri (path and query),
 * querystring (get_query: flags true, `{}` when empty), request headers with
 * Authorization and Proxy-Authorization "REDACTED", sizes, status, source,
 * latencies, route and service id and name, client_ip.
 */
export function compactRecord(ctx: RecordContext, nodeId: string): CompactRecord {
  const requestHeaders = luaHeaderTable(ctx.request.headers);
  if (!Array.isArray(requestHeaders)) {
    for (const k of ['authorization', 'proxy-authorization']) if (getOwn(requestHeaders, k) !== undefined) requestHeaders[k] = 'REDACTED';
  }
  const query = ctx.request.rawQuery;
  const route = ctx.route.entity;
  const service = ctx.service.entity;
  const idName = (e: Record<string, unknown>) => {
    const out: { id?: string; name?: string } = {};
    if (typeof e.id === 'string') out.id = e.id;
    if (typeof e.name === 'string') out.name = e.name;
    return out;
  };
  const record: CompactRecord = {
    v: RECORD_VERSION,
    request_id: ctx.id,
    started_at: ctx.startedAt,
    node_id: nodeId,
    method: ctx.request.method,
    uri: ctx.request.path + (query ? `?${query}` : ''),
    querystring: parseUriArgs(query) as Record<string, unknown>,
    request_headers: requestHeaders as CompactRecord['request_headers'],
    request_size: ctx.requestSize,
    status: ctx.response.status,
    response_headers: luaHeaderTable(ctx.response.headers) as CompactRecord['response_headers'],
    response_size: ctx.bytesSent,
    source: ctx.response.source === 'service' ? 'upstream' : 'kong',
    latencies: { kong: ctx.latencies.kong, proxy: ctx.latencies.proxy, request: ctx.latencies.request },
    route: idName(route),
    service: idName(service),
    client_ip: ctx.clientIp,
  };
  const shared: Record<string, unknown> = {};
  for (const k of RECORD_SHARED) {
    const c = plainCopy(getOwn(ctx.shared, k));
    if (c !== undefined) shared[k] = c;
  }
  record.shared = shared;
  const decision = ctx.shared[DECISION_KEY];
  const pluginId = field(decision, 'plugin_id');
  if (typeof pluginId === 'string') record.plugin_id = pluginId;
  return record;
}

/** The record as gateway-log.lua enqueues it (cjson, empty tables as `{}`), or null when the decision says ingest false. */
export function gatewayLogEntry(ctx: RecordContext, nodeId: string): string | null {
  const decision = ctx.shared[DECISION_KEY];
  if (luaType(decision) === 'table' && field(decision, 'ingest') === false) return null;
  return cjsonEncode(compactRecord(ctx, nodeId));
}

/** gateway-log.lua's queue_conf. */
export const INGEST_QUEUE_CONF: QueueConf = { ...INGEST_QUEUE };

/** The modules gateway-log.lua requires (untrusted_lua_sandbox_requires must list them). */
export const GATEWAY_LOG_REQUIRES = ['cjson.safe', 'kong.tools.queue', 'resty.http'];

export type IngestLog = (level: 'err' | 'warn' | 'info', message: string) => void;

/**
 * The queue handler: one POST of the batch as a JSON array to INGEST_PATH over the
 * unix socket. 200: done; 503 or no connection: a failure (the queue retries); any
 * other status: the batch is dropped with an error log (returns true: no retry).
 */
export function ingestHandler(socketPath: string, log: IngestLog, timeoutMs = 10000): QueueHandler<string> {
  return (_conf, entries) =>
    new Promise((resolve) => {
      const body = Buffer.from(`[${entries.join(',')}]`);
      const req = http.request(
        {
          socketPath,
          method: 'POST',
          path: INGEST_PATH,
          headers: { host: 'localhost', 'content-type': 'application/json', 'content-length': String(body.length) },
          timeout: timeoutMs,
          agent: false,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status === 200) return resolve([true]);
            if (status === 503) return resolve([null, `ingest answered ${status}`]);
            log('err', `llm-gateway ingest answered ${status}: ${entries.length} records dropped`);
            resolve([true]);
          });
          res.on('error', (err) => resolve([null, err.message]));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => resolve([null, err.message]));
      req.end(body);
    });
}
