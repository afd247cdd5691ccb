/**
 * kong.log.serialize() (kong/pdk/log.lua serialize, Kong 3.10) for a request the
 * bridge ran, and the JSON string plugin.lua's override sends (cjson):
 * request {id, uri, url (with the query), querystring (get_query: flags true),
 * method, headers (Authorization and Proxy-Authorization "REDACTED"), size},
 * upstream_uri, upstream_status (a string), response {status, headers, size},
 * latencies, tries, authenticated_entity (from the credential only, as log.lua
 * reads it), route and service (whole entities), consumer, client_ip, started_at,
 * source, workspace, workspace_name; then set_serialize_value entries by mode.
 */
import { cjsonEncode } from './cjson';
import { KongLuaError, type Headers, type RequestContext } from './request-context';
import { parseUriArgs } from './uri-args';

export const DEFAULT_WORKSPACE_ID = '00000000-0000-4000-8000-000000000000';

/** ngx.req.get_headers / ngx.resp.get_headers as a Lua table: one value a string, several a list. */
function luaHeaders(h: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of h) out[k] = v.length === 1 ? v[0] : [...v];
  return out;
}

/** log.lua set_serialize_value: what a value may be (checked when serialize runs). */
export function validateSerializeValue(value: unknown, seen: Set<unknown> = new Set()): void {
  const ok = (v: unknown): boolean => {
    if (v === null || v === undefined || ['number', 'string', 'boolean'].includes(typeof v) || v instanceof Uint8Array) return true;
    if (typeof v !== 'object' || seen.has(v)) return false;
    seen.add(v);
    return Object.values(v as object).every(ok);
  };
  if (!ok(value)) throw new KongLuaError('value must be nil, a number, string, boolean or a non-self-referencial table containing numbers, string and booleans');
}

/** log.lua edit_result: dotted keys nest ("\." is a literal dot), by mode. */
function applyValue(root: Record<string, unknown>, key: string, value: unknown, mode: 'set' | 'add' | 'replace'): void {
  const parts = key.split(/(?<!\\)\./).map((p) => p.replace(/\\\./g, '.'));
  let node: Record<string, unknown> = root;
  for (const p of parts.slice(0, -1)) {
    if (node[p] === undefined || node[p] === null) {
      if (mode === 'replace') return;
      node[p] = {};
    } else if (typeof node[p] !== 'object') {
      throw new KongLuaError(`The key '${key}' could not be used as a serialize value. Subkey '${p}' is not a table. It's ${String(node[p])}`);
    }
    node = node[p] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1];
  const exists = node[last] !== undefined && node[last] !== null;
  if ((mode === 'add' && exists) || (mode === 'replace' && !exists)) return;
  if (value === null || value === undefined) delete node[last];
  else node[last] = value;
}

export function serialize(ctx: RequestContext): Record<string, unknown> {
  const reqHeaders = luaHeaders(ctx.request.headers);
  for (const k of ['authorization', 'proxy-authorization']) if (reqHeaders[k] !== undefined) reqHeaders[k] = 'REDACTED';
  const query = ctx.request.rawQuery;
  const uri = ctx.request.path + (query ? `?${query}` : '');
  const proxied = ctx.response.source === 'service';
  const root: Record<string, unknown> = {
    request: {
      id: ctx.id,
      uri,
      url: `${ctx.request.scheme}://${ctx.request.host}:${ctx.request.port}${uri}`,
      querystring: parseUriArgs(query),
      method: ctx.request.method,
      headers: reqHeaders,
      size: ctx.requestSize,
    },
    upstream_uri: ctx.upstreamUri,
    upstream_status: proxied && ctx.serviceResponse ? String(ctx.serviceResponse.status) : '',
    response: { status: ctx.response.status, headers: luaHeaders(ctx.response.headers), size: ctx.bytesSent },
    latencies: { kong: ctx.latencies.kong, proxy: ctx.latencies.proxy, request: ctx.latencies.request, receive: 0 },
    tries: proxied ? [{ ip: ctx.service.host, port: ctx.service.port, balancer_latency: 0 }] : undefined,
    authenticated_entity: ctx.credential ? { id: ctx.credential.id, consumer_id: ctx.credential.consumer_id } : undefined,
    route: ctx.route.entity,
    service: ctx.service.entity,
    consumer: ctx.consumer ?? undefined,
    client_ip: ctx.clientIp,
    started_at: ctx.startedAt,
    source: proxied ? 'upstream' : 'kong',
    workspace: DEFAULT_WORKSPACE_ID,
    workspace_name: 'default',
  };
  for (const { key, value, mode } of ctx.serializeValues) applyValue(root, key, value, mode);
  return root;
}

/** plugin.lua's override: cjson.encode(kong.log.serialize()), empty tables as {}. */
export function serializeJson(ctx: RequestContext): string {
  return cjsonEncode(luaRoundTripKeepEmpty(serialize(ctx)));
}

/** nil members dropped as Lua drops them; empty tables are left for cjson to write as {}. */
function luaRoundTripKeepEmpty(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(luaRoundTripKeepEmpty);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null && x !== undefined).map(([k, x]) => [k, luaRoundTripKeepEmpty(x)]));
  }
  return v;
}
