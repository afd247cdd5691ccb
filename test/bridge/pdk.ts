/**
 * Kong's PDK as an external plugin reaches it (kong/runloop/plugin_servers/plugin.lua
 * `exposed_api` over kong/pdk/*), for the methods our plugins call. Semantics kept:
 * - `get_headers` returns a multimap (mp_rpc's fix_mmap: every value a list);
 * - service.request header setters mutate the request headers themselves (nginx's
 *   ngx.req.set_header), so a later `kong.request.get_headers` sees the change; an
 *   empty string value removes the header, as lua-nginx-module does;
 * - `get_raw_body` fails when nginx spooled the body to a file: Kong 3.10's PDK returns
 *   nil and mp_rpc's fix_raw cannot pack it, so the phase dies with Kong's 500;
 * - phase checks raise (a Lua error: in access the request ends with 500);
 * - `kong.log.serialize` is a JSON string, only in the log phase;
 * - an unknown method is logged and answered with nil.
 * Each value handed to Kong is stored as Lua would hold it (lua-values.ts).
 */
import type { Consumer } from './declarative';
import { luaRoundTrip } from './lua-values';
import { serialize } from './serialize';
import {
  headersToMultiMap,
  KongLuaError,
  normalizeHeaderValue,
  type Phase,
  type RequestContext,
} from './request-context';

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

const REWRITE_ACCESS: Phase[] = ['rewrite', 'access'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** ngx.req.get_headers / get_uri_args default: what lies past it is not returned. */
const DEFAULT_MAX_ENTRIES = 100;
const ANY: Phase[] = ['rewrite', 'access', 'response', 'log'];

function phaseCheck(ctx: RequestContext, allowed: Phase[], method: string): void {
  if (!allowed.includes(ctx.phase)) {
    throw new KongLuaError(`function cannot be called in ${ctx.phase} phase (only in: ${allowed.join(', ')}) [${method}]`);
  }
}

function setHeader(h: Map<string, string[]>, name: unknown, value: unknown): void {
  if (typeof name !== 'string') throw new KongLuaError(`invalid header name "${String(name)}": got ${typeof name}, expected string`);
  const values = normalizeHeaderValue(name, value);
  const key = name.toLowerCase();
  if (values.length === 0 || (values.length === 1 && values[0] === '')) h.delete(key);
  else h.set(key, values);
}

function parseQuery(raw: string, max = Infinity): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let n = 0;
  for (const [k, v] of new URLSearchParams(raw)) {
    if (n++ >= max) break;
    (out[k] ??= []).push(v);
  }
  return out;
}

/** The entity as Kong sends it: a table, nils dropped. */
function entity<T>(e: T | null): unknown {
  return e ? luaRoundTrip(e) : null;
}

function exitResponse(ctx: RequestContext, status: unknown, body: unknown, headers: unknown, source: 'exit' | 'error') {
  if (typeof status !== 'number' || status < 100 || status > 599) throw new KongLuaError('code must be a number between 100 and 599');
  const h = new Map<string, string[]>();
  if (headers && typeof headers === 'object') for (const [k, v] of Object.entries(headers)) setHeader(h, k, v);
  let buf: Buffer;
  if (body === null || body === undefined) buf = Buffer.alloc(0);
  else if (typeof body === 'string') buf = Buffer.from(body);
  else if (Buffer.isBuffer(body) || body instanceof Uint8Array) buf = Buffer.from(body);
  else {
    buf = Buffer.from(JSON.stringify(luaRoundTrip(body)));
    if (!h.has('content-type')) h.set('content-type', ['application/json; charset=utf-8']);
  }
  // In access, Kong delays the exit until the plugin iterator is done (delay_response).
  ctx.delayedResponse = { status, body: buf, headers: h, source };
}

type Impl = (call: PdkCall, args: unknown[]) => unknown;

const METHODS: Record<string, Impl> = {
  'kong.request.get_headers': ({ ctx }, [max]) => headersToMultiMap(ctx.request.headers, typeof max === 'number' ? max : DEFAULT_MAX_ENTRIES),
  'kong.request.get_header': ({ ctx }, [name]) => ctx.request.headers.get(String(name).toLowerCase())?.[0] ?? null,
  'kong.request.get_method': ({ ctx }) => ctx.request.method,
  'kong.request.get_path': ({ ctx }) => ctx.request.path,
  'kong.request.get_raw_query': ({ ctx }) => ctx.request.rawQuery,
  'kong.request.get_query': ({ ctx }, [max]) => parseQuery(ctx.request.rawQuery, typeof max === 'number' ? max : DEFAULT_MAX_ENTRIES),
  'kong.request.get_query_arg': ({ ctx }, [name]) => parseQuery(ctx.request.rawQuery)[String(name)]?.[0] ?? null,
  'kong.request.get_scheme': ({ ctx }) => ctx.request.scheme,
  'kong.request.get_host': ({ ctx }) => ctx.request.host,
  'kong.request.get_port': ({ ctx }) => ctx.request.port,
  'kong.request.get_start_time': ({ ctx }) => ctx.startedAt,
  'kong.request.get_raw_body': ({ ctx }) => {
    phaseCheck(ctx, ['rewrite', 'access', 'response'], 'kong.request.get_raw_body');
    if (ctx.request.bodyInFile) {
      // Kong 3.10: get_raw_body() -> nil, "request body did not fit into client body
      // buffer"; mp_rpc keeps only the first return value and fix_raw fails on nil.
      throw new KongLuaError("bad argument #1 to 'binary' (string expected, got nil)");
    }
    return ctx.request.body;
  },

  'kong.response.exit': ({ ctx }, [status, body, headers]) => {
    phaseCheck(ctx, ['rewrite', 'access', 'response'], 'kong.response.exit');
    exitResponse(ctx, status, body, headers, 'exit');
    return null;
  },
  'kong.response.error': ({ ctx }, [status, message, headers]) => {
    phaseCheck(ctx, ['rewrite', 'access', 'response'], 'kong.response.error');
    exitResponse(ctx, status, { message: message ?? 'An unexpected error occurred' }, headers, 'error');
    return null;
  },
  'kong.response.get_status': ({ ctx }) => (ctx.saved ? ctx.saved.status : ctx.response.status),
  'kong.response.get_headers': ({ ctx }) => headersToMultiMap(ctx.saved ? ctx.saved.responseHeaders : ctx.response.headers),
  'kong.response.get_header': ({ ctx }, [name]) =>
    (ctx.saved ? ctx.saved.responseHeaders : ctx.response.headers).get(String(name).toLowerCase())?.[0] ?? null,
  'kong.response.get_source': ({ ctx }) => (ctx.response.source === 'service' ? 'service' : ctx.response.source === 'exit' ? 'exit' : 'error'),
  'kong.response.set_header': ({ ctx }, [name, value]) => {
    phaseCheck(ctx, ['rewrite', 'access', 'response'], 'kong.response.set_header');
    setHeader(ctx.response.headers, name, value);
    return null;
  },
  'kong.response.set_headers': ({ ctx }, [headers]) => {
    phaseCheck(ctx, ['rewrite', 'access', 'response'], 'kong.response.set_headers');
    for (const [k, v] of Object.entries((headers as Record<string, unknown>) ?? {})) setHeader(ctx.response.headers, k, v);
    return null;
  },
  'kong.response.set_status': ({ ctx }, [status]) => {
    phaseCheck(ctx, ['rewrite', 'access', 'response'], 'kong.response.set_status');
    ctx.response.status = Number(status);
    return null;
  },
  'kong.response.set_raw_body': ({ ctx }, [body]) => {
    phaseCheck(ctx, ['response'], 'kong.response.set_raw_body');
    ctx.response.body = Buffer.from(body as string | Uint8Array);
    return null;
  },

  'kong.service.request.set_header': ({ ctx }, [name, value]) => {
    phaseCheck(ctx, REWRITE_ACCESS, 'kong.service.request.set_header');
    setHeader(ctx.request.headers, name, value);
    return null;
  },
  'kong.service.request.set_headers': ({ ctx }, [headers]) => {
    phaseCheck(ctx, REWRITE_ACCESS, 'kong.service.request.set_headers');
    if (!headers || typeof headers !== 'object') throw new KongLuaError('headers must be a table');
    for (const [k, v] of Object.entries(headers)) setHeader(ctx.request.headers, k, v);
    return null;
  },
  'kong.service.request.add_header': ({ ctx }, [name, value]) => {
    phaseCheck(ctx, REWRITE_ACCESS, 'kong.service.request.add_header');
    const key = String(name).toLowerCase();
    ctx.request.headers.set(key, [...(ctx.request.headers.get(key) ?? []), ...normalizeHeaderValue(key, value)]);
    return null;
  },
  'kong.service.request.clear_header': ({ ctx }, [name]) => {
    phaseCheck(ctx, REWRITE_ACCESS, 'kong.service.request.clear_header');
    ctx.request.headers.delete(String(name).toLowerCase());
    return null;
  },
  'kong.service.request.set_raw_body': ({ ctx }, [body]) => {
    phaseCheck(ctx, ['rewrite', 'access'], 'kong.service.request.set_raw_body');
    if (typeof body !== 'string' && !(body instanceof Uint8Array)) throw new KongLuaError('body must be a string');
    ctx.upstream.body = Buffer.from(body);
    return null;
  },
  'kong.service.request.set_path': ({ ctx }, [path]) => {
    phaseCheck(ctx, REWRITE_ACCESS, 'kong.service.request.set_path');
    ctx.upstream.path = String(path);
    return null;
  },
  'kong.service.request.set_raw_query': ({ ctx }, [q]) => {
    phaseCheck(ctx, REWRITE_ACCESS, 'kong.service.request.set_raw_query');
    ctx.upstream.rawQuery = String(q);
    return null;
  },
  'kong.service.request.set_method': ({ ctx }, [m]) => {
    phaseCheck(ctx, REWRITE_ACCESS, 'kong.service.request.set_method');
    ctx.upstream.method = String(m);
    return null;
  },

  'kong.service.response.get_status': ({ ctx }) => ctx.serviceResponse?.status ?? null,
  'kong.service.response.get_headers': ({ ctx }) => (ctx.serviceResponse ? headersToMultiMap(ctx.serviceResponse.headers) : {}),
  'kong.service.response.get_header': ({ ctx }, [name]) => ctx.serviceResponse?.headers.get(String(name).toLowerCase())?.[0] ?? null,
  'kong.service.response.get_raw_body': ({ ctx }) => (ctx.phase === 'response' ? ctx.serviceResponse?.body ?? null : null),

  'kong.client.get_ip': ({ ctx }) => ctx.clientIp,
  'kong.client.get_forwarded_ip': ({ ctx }) => ctx.clientIp,
  'kong.client.get_consumer': ({ ctx }) => entity(ctx.consumer),
  'kong.client.get_credential': ({ ctx }) => entity(ctx.credential),
  'kong.client.load_consumer': ({ host }, [id, byUsername]) => {
    if (typeof id !== 'string' || !id) throw new KongLuaError('consumer_id must be a string');
    if (!byUsername && !UUID.test(id)) throw new KongLuaError('cannot load a consumer with an id that is not a uuid');
    const found = host.consumers.find((c) => c.id === id || (byUsername && c.username === id));
    return entity(found ?? null);
  },
  'kong.client.authenticate': ({ ctx }, [consumer, credential]) => {
    phaseCheck(ctx, REWRITE_ACCESS, 'kong.client.authenticate');
    if (!consumer && !credential) throw new KongLuaError('either credential or consumer must be provided');
    ctx.consumer = (consumer as Consumer) ?? null;
    ctx.credential = (credential as Record<string, unknown>) ?? null;
    return null;
  },

  'kong.ctx.shared.get': ({ ctx }, [key]) => ctx.shared[String(key)] ?? null,
  'kong.ctx.shared.set': ({ ctx }, [key, value]) => {
    if (value === null || value === undefined) delete ctx.shared[String(key)];
    else ctx.shared[String(key)] = luaRoundTrip(value);
    return null;
  },

  'kong.log.serialize': ({ ctx }) => {
    phaseCheck(ctx, ['log'], 'kong.log.serialize');
    return ctx.saved?.serialize ?? JSON.stringify(serialize(ctx));
  },
  'kong.log.set_serialize_value': ({ ctx }, [key, value]) => {
    phaseCheck(ctx, ANY, 'kong.log.set_serialize_value');
    if (typeof key !== 'string') throw new KongLuaError('key must be a string');
    ctx.serializeValues.push({ key, value: luaRoundTrip(value) });
    return null;
  },

  'kong.router.get_route': ({ ctx }) => entity({ ...ctx.route, service: { id: ctx.route.service.id } }),
  'kong.router.get_service': ({ ctx }) => entity(ctx.service),
  'kong.node.get_id': ({ host }) => host.nodeId,
  'kong.node.get_hostname': () => 'bridge',
};

for (const level of ['debug', 'info', 'notice', 'warn', 'err', 'crit', 'alert', 'emerg']) {
  METHODS[`kong.log.${level}`] = ({ host, plugin }, args) => {
    host.log(level, plugin, args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(''));
    return null;
  };
}

/** Runs one PDK call for a plugin; throws KongLuaError where Kong's Lua would raise. */
export function callPdk(call: PdkCall, method: string, args: unknown): unknown {
  const impl = METHODS[method];
  if (!impl) {
    // mp_rpc.lua: kong.log.err("could not find pdk method: ", cmd), answered with nil
    call.host.log('err', call.plugin, `could not find pdk method: ${method}`);
    return null;
  }
  return impl(call, Array.isArray(args) ? args : [args]);
}

export const IMPLEMENTED_PDK_METHODS = Object.keys(METHODS);
