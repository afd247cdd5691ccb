/**
 * The few Kong PDK calls our plugins make, typed as they really arrive over the
 * plugin-server RPC (kong-pdk's generated types are loose). Every call is one socket
 * round trip between Kong and Node (~0.1 ms): read `getHeaders()` once, never
 * `getHeader()` several times.
 *
 * Kong sends header maps as multimaps: Kong's mp_rpc turns every string value into a
 * one-element list, so a header value is always `string[]` here. A getter with
 * nothing to return resolves to `undefined` (Kong's Step carries no Data), never
 * `null`; test/README.md audits every method against Kong 3.10.
 */

export type HeaderMultiMap = Record<string, string[] | string>;

/** A Kong consumer entity as `kong.client.load_consumer` returns it. */
export interface KongConsumer {
  id: string;
  username?: string | null;
  custom_id?: string | null;
  [field: string]: unknown;
}

export interface KongPdk {
  request: {
    getHeaders(max?: number): Promise<HeaderMultiMap>;
    getRawBody(): Promise<Uint8Array>;
    getPath(): Promise<string>;
    getMethod(): Promise<string>;
    /** The query string as the client sent it (kong.request.get_raw_query). */
    getRawQuery(): Promise<string>;
    /** First value of one header (undefined when absent). */
    getHeader(name: string): Promise<string | undefined>;
  };
  response: {
    /** Ends the request; Kong never answers, so the plugin returns right after. */
    exit(status: number, body?: unknown, headers?: Record<string, string | string[]>): Promise<void>;
    getStatus(): Promise<number>;
    getHeaders(max?: number): Promise<HeaderMultiMap>;
    setHeaders(headers: Record<string, string | string[]>): Promise<void>;
  };
  service: {
    request: {
      setHeaders(headers: Record<string, string | string[]>): Promise<void>;
      clearHeader(name: string): Promise<void>;
      setRawQuery(query: string): Promise<void>;
      setRawBody(body: string): Promise<void>;
    };
    response: {
      getRawBody(): Promise<Uint8Array>;
      /** `{}` in a JS response phase (buffered: Kong's table has only an __index); use getHeader. */
      getHeaders(max?: number): Promise<HeaderMultiMap>;
      getHeader(name: string): Promise<string | undefined>;
      getStatus(): Promise<number>;
    };
  };
  client: {
    loadConsumer(id: string, byUsername?: boolean): Promise<KongConsumer | undefined>;
    authenticate(consumer: KongConsumer | null, credential: Record<string, unknown> | null): Promise<void>;
    getConsumer(): Promise<KongConsumer | undefined>;
    getIp(): Promise<string>;
    /** The client address, trusted_ips and real_ip settings honoured (kong.client.get_forwarded_ip). */
    getForwardedIp(): Promise<string>;
    /** The credential an auth plugin authenticated, if any (kong.client.get_credential). */
    getCredential(): Promise<{ id: string; [field: string]: unknown } | undefined>;
  };
  ctx: {
    shared: {
      get<T = unknown>(key: string): Promise<T | undefined>;
      set(key: string, value: unknown): Promise<void>;
    };
  };
  log: {
    err(...parts: unknown[]): Promise<void>;
    warn(...parts: unknown[]): Promise<void>;
    notice(...parts: unknown[]): Promise<void>;
    info(...parts: unknown[]): Promise<void>;
    /** Kong sends `kong.log.serialize()` to external plugins as a JSON string. */
    serialize(): Promise<string>;
    setSerializeValue(key: string, value: unknown): Promise<void>;
  };
  router: {
    getRoute(): Promise<{ id: string; name?: string } | undefined>;
    getService(): Promise<{ id: string; name?: string } | undefined>;
  };
  node: {
    getId(): Promise<string>;
  };
}

/** First value of a multimap header (names arrive lower-cased from Kong). */
export function headerValue(headers: HeaderMultiMap, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Header lines `kong.request.get_headers()` returns at most (Kong's lua_max_req_headers
 * default). A client can send more: lines past it are not in the map, so a map this
 * full may be hiding Content-Length, Content-Type or a credential.
 */
export const HEADERS_READ_MAX = 100;

/** kong/kong.env's nginx_http_client_body_buffer_size: a larger body cannot be read by a plugin. */
export const BODY_BUFFER_BYTES = 2 * 1024 * 1024;

/** True when the map may have been cut at HEADERS_READ_MAX lines. */
export function headersTruncated(headers: HeaderMultiMap): boolean {
  let lines = 0;
  for (const v of Object.values(headers)) lines += Array.isArray(v) ? v.length : 1;
  return lines >= HEADERS_READ_MAX;
}
