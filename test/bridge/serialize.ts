/**
 * kong.log.serialize() (kong/pdk/log.lua) for what the bridge knows of a request:
 * the fields our plugins use, with the same names; Authorization and
 * Proxy-Authorization `REDACTED` as Kong does; set_serialize_value entries applied
 * (dotted keys nest); values as they come back through Lua.
 */
import { luaRoundTrip } from './lua-values';
import { headersToMultiMap, type RequestContext } from './request-context';

export function serialize(ctx: RequestContext): Record<string, unknown> {
  const reqHeaders = headersToMultiMap(ctx.request.headers) as Record<string, unknown>;
  for (const k of ['authorization', 'proxy-authorization']) if (reqHeaders[k] !== undefined) reqHeaders[k] = 'REDACTED';
  const single = (h: Record<string, string[]>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.length === 1 ? v[0] : v]));
  const root: Record<string, unknown> = {
    request: {
      id: ctx.id,
      uri: ctx.request.path + (ctx.request.rawQuery ? `?${ctx.request.rawQuery}` : ''),
      url: `http://${ctx.request.host}:${ctx.request.port}${ctx.request.path}`,
      querystring: Object.fromEntries(new URLSearchParams(ctx.request.rawQuery)),
      method: ctx.request.method,
      headers: single(Object.fromEntries(Object.entries(reqHeaders).map(([k, v]) => [k, Array.isArray(v) ? v : [String(v)]]))),
      size: ctx.request.body.length,
    },
    upstream_uri: ctx.upstreamUri,
    response: { status: ctx.response.status, headers: single(headersToMultiMap(ctx.response.headers)), size: ctx.bytesSent },
    latencies: { kong: ctx.latencies.kong, proxy: ctx.latencies.proxy, request: ctx.latencies.request, receive: 0 },
    tries: [],
    authenticated_entity: ctx.credential ? { id: ctx.credential.id ?? null, consumer_id: ctx.consumer?.id ?? null } : null,
    route: ctx.route && { id: ctx.route.id, name: ctx.route.name, paths: ctx.route.paths },
    service: { id: ctx.service.id, name: ctx.service.name, host: ctx.service.host, port: ctx.service.port, protocol: ctx.service.protocol },
    consumer: ctx.consumer,
    client_ip: ctx.clientIp,
    started_at: ctx.startedAt,
    source: ctx.response.source === 'service' ? 'upstream' : 'kong',
  };
  for (const { key, value } of ctx.serializeValues) setPath(root, key, value);
  return luaRoundTrip(root) as Record<string, unknown>;
}

function setPath(root: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let node = root;
  for (const p of parts.slice(0, -1)) {
    if (typeof node[p] !== 'object' || node[p] === null) node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

