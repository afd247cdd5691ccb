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
  body: Buffer;
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
    path: string;
    rawQuery: string;
    /** Mutated by kong.service.request.* exactly as ngx.req.set_header mutates them. */
    headers: Headers;
    body: Buffer;
    /** nginx spooled the body to a file: it exceeded client_body_buffer_size. */
    bodyInFile: boolean;
  };
  upstream: {
    path: string | null;
    rawQuery: string | null;
    method: string | null;
    body: Buffer | null;
  };
  /** The upstream response, once received (buffered mode: whole body). */
  serviceResponse: { status: number; headers: Headers; body: Buffer | null } | null;
  /** What goes to the client; plugins edit it in the response phase. */
  response: { status: number; headers: Headers; body: Buffer | null; source: 'service' | 'exit' | 'error' };
  delayedResponse: DelayedResponse | null;
  consumer: Consumer | null;
  credential: Record<string, unknown> | null;
  /** kong.ctx.shared: values as Lua holds them (see lua-values.ts). */
  shared: Record<string, unknown>;
  serializeValues: Array<{ key: string; value: unknown }>;
  latencies: { kong: number; proxy: number; request: number };
  upstreamUri: string;
  bytesSent: number;
  /** Saved for the log phase, as plugin.lua's build_phases does with native_timer_at. */
  saved: { serialize: string; requestHeaders: Headers; responseHeaders: Headers; status: number } | null;
}

/** A request as Kong holds it when the access phase starts. */
export function newRequestContext(init: Pick<RequestContext, 'id' | 'startedAt' | 'clientIp' | 'route' | 'request'>): RequestContext {
  return {
    ...init,
    phase: 'access',
    service: init.route.service,
    upstream: { path: null, rawQuery: null, method: null, body: null },
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
    saved: null,
  };
}

export function headersFromNode(raw: string[]): Headers {
  const h: Headers = new Map();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const list = h.get(name);
    if (list) list.push(raw[i + 1]);
    else h.set(name, [raw[i + 1]]);
  }
  return h;
}

/**
 * ngx.req.get_headers(max) after mp_rpc's fix_mmap: every value a list of strings,
 * and no more than `max` header lines (the rest is dropped, as nginx truncates).
 */
export function headersToMultiMap(h: Headers, max = Infinity): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let n = 0;
  for (const [k, v] of h) {
    for (const value of v) {
      if (n++ >= max) return out;
      (out[k] ??= []).push(value);
    }
  }
  return out;
}

/** Kong header setters accept a string, number, boolean or list of strings. */
export function normalizeHeaderValue(name: string, value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value === 'number' || typeof value === 'boolean') return [String(value)];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw new KongLuaError(`invalid header value for "${name}": got ${typeof value}, expected array of string, string, number or boolean`);
}
