/**
 * The state nginx and Kong keep for one request (ngx.ctx, ngx.req, ngx.resp), as far
 * as the PDK methods our plugins call can observe it.
 */
import type { Consumer, Route, Service } from './declarative';

export type Phase = 'rewrite' | 'access' | 'response' | 'log';

/** Header map as nginx keeps it: lower-case names, one or more values. */
export type Headers = Map<string, string[]>;

export interface DelayedResponse {
  status: number;
  /** null: nothing printed (ngx.exit with no body: nginx's error_page may answer). */
  body: Buffer | null;
  headers: Headers;
  source: 'exit' | 'error';
}

export class KongLuaError extends Error {
  override name = 'KongLuaError';
}

export interface RequestContext {
  id: string;
  phase: Phase;
  startedAt: number;
  clientIp: string;
  route: Route;
  service: Service;
  request: {
    method: string;
    scheme: 'http';
    host: string;
    port: number;
    /** kong.request.get_path(): the normalized path (kong/tools/uri.lua normalize). */
    path: string;
    /** $args: set_query/set_raw_query change it, as ngx.req.set_uri_args does. */
    rawQuery: string;
    /** Mutated by kong.service.request.* exactly as ngx.req.set_header mutates them. */
    headers: Headers;
    /** set_raw_body replaces it, as ngx.req.set_body_data does. */
    body: Buffer;
    /** nginx spooled the body to a file: it exceeded client_body_buffer_size. */
    bodyInFile: boolean;
  };
  /** $upstream_uri set by kong.service.request.set_path. */
  upstream: {
    path: string | null;
  };
  /** buffered_proxying: a collected plugin has a response phase. */
  buffered: boolean;
  /** The upstream response, once received (buffered mode: whole body). */
  serviceResponse: { status: number; headers: Headers; body: Buffer | null } | null;
  /** What goes to the client; plugins edit it in the response phase. */
  /** What goes to the client; headers set in access are merged with the upstream's. */
  response: { status: number; headers: Headers; body: Buffer | null; source: 'service' | 'exit' | 'error' };
  delayedResponse: DelayedResponse | null;
  consumer: Consumer | null;
  credential: Record<string, unknown> | null;
  /** kong.ctx.shared: values as Lua holds them (see lua-values.ts). */
  shared: Record<string, unknown>;
  serializeValues: Array<{ key: string; value: unknown; mode: 'set' | 'add' | 'replace' }>;
  latencies: { kong: number; proxy: number; request: number };
  upstreamUri: string;
  bytesSent: number;
  /** $request_length: request line, headers and body as received. */
  requestSize: number;
  /** Saved for the log phase, as plugin.lua's build_phases does with native_timer_at. */
  saved: { serialize: string; requestHeaders: Headers; responseHeaders: Headers; status: number } | null;
}

/** A request as Kong holds it when the access phase starts. */
export function newRequestContext(init: Pick<RequestContext, 'id' | 'startedAt' | 'clientIp' | 'route' | 'request'>): RequestContext {
  return {
    ...init,
    phase: 'access',
    service: init.route.service,
    upstream: { path: null },
    buffered: false,
    serviceResponse: null,
    response: { status: 0, headers: new Map(), body: null, source: 'service' },
    delayedResponse: null,
    consumer: null,
    credential: null,
    shared: {},
    serializeValues: [],
    latencies: { kong: 0, proxy: -1, request: 0 },
    upstreamUri: '',
    bytesSent: 0,
    requestSize: 0,
    saved: null,
  };
}

/**
 * Header lines as nginx holds them. Node reads header bytes as latin1; Kong hands
 * them to a plugin as a Lua string, which MessagePack sends as UTF-8 text: so the
 * bytes are read back as UTF-8 here.
 */
export function headersFromNode(raw: string[]): Headers {
  const h: Headers = new Map();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const value = Buffer.from(raw[i + 1], 'latin1').toString('utf8');
    const list = h.get(name);
    if (list) list.push(value);
    else h.set(name, [value]);
  }
  return h;
}

/** The bytes nginx sends for a header value (Node writes header strings as latin1). */
export function headerBytes(value: string): string {
  return Buffer.from(value, 'utf8').toString('latin1');
}
