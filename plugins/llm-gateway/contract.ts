/**
 * What llm-gateway and its Lua companion hand each other, per request. Three values,
 * each crossing once:
 *
 * 1. kong/lua/gateway-pack.lua (pre-function, access, runs before every plugin) puts
 *    the request into `kong.ctx.shared[PACK_KEY]` ({@link PackedRequest}). The JS
 *    plugin reads it with ONE `kong.ctx.shared.get`: no get_headers, get_path,
 *    get_raw_query, get_raw_body, get_forwarded_ip round trips.
 * 2. The JS plugin runs the stages (llm-auth, llm-guard, llm-rate-limit: the separate
 *    plugins' own handlers, on a PDK that serves reads from the pack and collects
 *    writes, plugins/shared/pipeline/staged-pdk.ts), then either answers with ONE
 *    `kong.response.exit`, or publishes ONE `kong.ctx.shared.set(DECISION_KEY, ...)`
 *    ({@link GatewayDecision}), after `kong.client.authenticate` when a stage mapped a
 *    consumer. kong/lua/gateway-apply.lua (post-function, access, first chunk) applies
 *    it: copies `shared` into kong.ctx.shared (so the bypass guard, usage-encoding,
 *    serialize-values, ratelimit-headers and usage-capture chunks see exactly what the
 *    separate plugins would have published), sets and removes upstream headers, the
 *    query and the body, and writes the stages' log lines.
 * 3. kong/lua/gateway-log.lua (post-function, log) builds a {@link CompactRecord}
 *    (without kong.log.serialize(): it reads the few values the audit record and the
 *    settlement need) and enqueues it as a JSON string with `kong.tools.queue`; the
 *    queue's handler POSTs each batch as a JSON array to the ingest endpoint the
 *    llm-gateway plugin server listens on, `<kong prefix>/INGEST_SOCKET` (ingest.ts),
 *    which settles token and USD limits, writes audit records and counts metrics
 *    with the same code as llm-rate-limit's and llm-audit's log phases.
 *
 * Every value here crossed Kong's Lua side: null members are absent, an empty table
 * may arrive as `{}` or `[]`. Readers treat all of it as hostile input.
 */

/** kong.ctx.shared key of the packed request (pre-function -> JS). */
export const PACK_KEY = 'llm_gateway_request';
/** kong.ctx.shared key of the decision (JS -> post-function); also llm-gateway's bypass mark. */
export const DECISION_KEY = 'llm_gateway';
/** The ingest socket's file name in the Kong prefix. */
export const INGEST_SOCKET = 'llm-gateway-ingest.sock';
/** The ingest endpoint's path: POST, a JSON array of compact records. */
export const INGEST_PATH = '/v1/records';
/** Compact record format version. */
export const RECORD_VERSION = 1;

/** Header table as Kong's Lua getters return it: one value a string, several a list. */
export type LuaHeaderTable = Record<string, string | string[]>;

/**
 * The request as gateway-pack.lua packs it (pre-function, access).
 *
 *   request_id   ngx.var.kong_request_id (what kong.log.serialize() logs as request.id)
 *   method       kong.request.get_method()
 *   path         kong.request.get_path()
 *   raw_query    kong.request.get_raw_query()
 *   headers      kong.request.get_headers() (at most 100 lines, as the JS getter)
 *   forwarded_ip kong.client.get_forwarded_ip()
 *   body_base64  ngx.encode_base64(kong.request.get_raw_body()), only when the
 *                request has a body (Content-Length > 0, or Transfer-Encoding) and it
 *                is in memory. Base64 because a Lua string in kong.ctx.shared crosses
 *                the RPC as a MessagePack str, which kong-pdk decodes as UTF-8: a body
 *                with invalid UTF-8 would reach the stages with U+FFFD where its bytes
 *                were (get_raw_body sends binary, and llm-guard refuses such a body)
 *   body_unread  true when it has a body that is not in memory (larger than the
 *                body buffer, spooled to a file): a stage that reads it answers 500,
 *                as Kong does when a JS plugin calls get_raw_body() then
 */
export interface PackedRequest {
  request_id?: string;
  method: string;
  path: string;
  raw_query?: string;
  headers: LuaHeaderTable;
  forwarded_ip?: string;
  body_base64?: string;
  body_unread?: boolean;
}

export type LogLevel = 'err' | 'warn' | 'notice' | 'info';

/**
 * What llm-gateway publishes under DECISION_KEY when the request passes, applied by
 * gateway-apply.lua in this order:
 *
 *   shared            each member copied into kong.ctx.shared (keys starting "llm_"
 *                     only): llm_auth, llm_guard, llm_rate_limit,
 *                     llm_guard_placeholders ... as the separate plugins set them
 *   upstream_headers  kong.service.request.set_headers (a `[]` value removes it)
 *   raw_query         kong.service.request.set_raw_query
 *   body              kong.service.request.set_raw_body
 *   response_headers  kong.response.set_headers
 *   logs              kong.log[level](line) for each [level, line]
 *
 * `plugin_id` names the llm-gateway entity (its config's `__plugin_id`): the ingest
 * endpoint picks the audit and rate-limit settings by it. `ingest` false: nothing
 * to settle or audit for this request (gateway-log.lua ships no record).
 */
export interface GatewayDecision {
  plugin_id: string;
  ingest: boolean;
  shared: Record<string, unknown>;
  upstream_headers?: Record<string, string | string[]>;
  raw_query?: string;
  body?: string;
  response_headers?: Record<string, string | string[]>;
  logs?: Array<[LogLevel, string]>;
}

/**
 * One request as gateway-log.lua reports it (log phase), the inputs of llm-audit's
 * record and llm-rate-limit's settlement, read the way kong/pdk/log.lua serialize()
 * reads them (Kong 3.10), without building the whole serialized table:
 *
 *   request_id        ngx.var.kong_request_id
 *   started_at        ms, ngx.req.start_time() * 1000 (serialize's started_at)
 *   node_id           kong.node.get_id()
 *   method            kong.request.get_method()
 *   uri               ngx.var.request_uri
 *   querystring       kong.request.get_query()
 *   request_headers   kong.request.get_headers(), Authorization and
 *                     Proxy-Authorization replaced by "REDACTED" (as serialize)
 *   request_size      tonumber(ngx.var.request_length)
 *   status            kong.response.get_status()
 *   response_headers  kong.response.get_headers()
 *   response_size     tonumber(ngx.var.bytes_sent)
 *   source            "upstream" when kong.response.get_source() is "service", else "kong"
 *   latencies         { kong, proxy, request } as serialize computes them
 *   route, service    { id, name } of kong.router.get_route() / get_service()
 *   client_ip         ngx.var.remote_addr
 *   shared            copies (strings, numbers, booleans and tables of them) of
 *                     kong.ctx.shared llm_auth, llm_guard, llm_rate_limit, llm_usage,
 *                     llm_response_guard; never llm_guard_placeholders (it holds the
 *                     very data llm-guard redacted)
 *   plugin_id         the decision's plugin_id; absent when llm-gateway answered
 *                     itself (kong.response.exit: no decision was published), or did
 *                     not run
 */
export interface CompactRecord {
  v: typeof RECORD_VERSION;
  request_id?: string;
  started_at?: number;
  node_id?: string;
  method?: string;
  uri?: string;
  querystring?: Record<string, unknown>;
  request_headers?: LuaHeaderTable;
  request_size?: number;
  status?: number;
  response_headers?: LuaHeaderTable;
  response_size?: number;
  source?: 'upstream' | 'kong';
  latencies?: { kong?: number; proxy?: number; request?: number };
  route?: { id?: string; name?: string };
  service?: { id?: string; name?: string };
  client_ip?: string;
  shared?: Record<string, unknown>;
  plugin_id?: string;
}

/**
 * The kong.ctx.shared values a compact record carries (`shared`), and what llm-gateway
 * remembers of a request it refused: the separate plugins' published values. Never
 * llm_guard_placeholders (it holds the very data llm-guard redacted).
 */
export const SHIPPED_KEYS = ['llm_auth', 'llm_guard', 'llm_rate_limit', 'llm_usage', 'llm_response_guard'] as const;

/** gateway-log.lua's kong.tools.queue settings (kong/tools/queue.lua, Kong 3.3+). */
export const INGEST_QUEUE = {
  name: 'llm-gateway-ingest',
  /** Records per POST. */
  max_batch_size: 200,
  /** Seconds a record may wait for its batch to fill: what a Kong crash can lose is at most this much traffic. */
  max_coalescing_delay: 1,
  /** Records waiting at most (per nginx worker); past it the oldest is dropped, with an error log line. */
  max_entries: 100000,
  /**
   * Seconds a batch is retried (the plugin server restarting, or its ingest answering
   * 503 until the entity is started again at its route's next request) before Kong
   * drops it, with an error line: an hour, so a route idle after a crash keeps its
   * records until traffic comes back.
   */
  max_retry_time: 3600,
  initial_retry_delay: 0.01,
  /** Backoff cap: a restart of ~0.5 s is bridged within a second, an idle hour costs 120 warn lines. */
  max_retry_delay: 30,
  concurrency_limit: 1,
} as const;
