-- llm-gateway-log: a log chunk for Kong's bundled post-function plugin.
--
-- Reports each request of a gateway route (kong.ctx.shared.llm_gateway_request is
-- set: gateway-pack.lua ran) to the llm-gateway plugin server's ingest endpoint, as
-- one CompactRecord (plugins/llm-gateway/contract.ts), unless the decision says
-- `ingest = false` (nothing to settle or audit). It reads the few values the audit
-- record and the rate-limit settlement need the way kong/pdk/log.lua serialize()
-- (Kong 3.10) reads them, without building the whole serialized table:
--
--   v                 1 (RECORD_VERSION)
--   request_id        ngx.var.kong_request_id
--   started_at        kong.request.get_start_time(): serialize's started_at
--                     (kong/pdk/request.lua: ngx.ctx.KONG_PROCESSING_START, else
--                     ngx.req.start_time() * 1000; ms)
--   node_id           kong.node.get_id()
--   method            kong.request.get_method()
--   uri               ngx.ctx.request_uri or ngx.var.request_uri (serialize's
--                     request.uri; kong/runloop/handler.lua sets ctx.request_uri to
--                     the client's request_uri)
--   querystring       kong.request.get_query()
--   request_headers   kong.request.get_headers(), authorization and
--                     proxy-authorization replaced by "REDACTED" (as serialize)
--   request_size      tonumber(ngx.var.request_length)
--   status            kong.response.get_status()
--   response_headers  kong.response.get_headers()
--   response_size     tonumber(ngx.var.bytes_sent)
--   source            "upstream" when kong.response.get_source() is "service", else
--                     "kong" (kong/constants.lua RESPONSE_SOURCE.NAMES)
--   latencies         kong = ngx.ctx.KONG_PROXY_LATENCY or KONG_RESPONSE_LATENCY or 0,
--                     proxy = ngx.ctx.KONG_WAITING_TIME or -1,
--                     request = ngx.var.request_time * 1000 (as serialize)
--   route, service    { id, name } of kong.router.get_route() / get_service()
--   client_ip         ngx.var.remote_addr
--   shared            copies of kong.ctx.shared llm_auth, llm_guard, llm_rate_limit,
--                     llm_usage, llm_response_guard: strings, finite numbers,
--                     booleans and tables of them, MAX_DEPTH levels deep. NEVER
--                     llm_guard_placeholders: it holds the very values llm-guard
--                     redacted from the prompt.
--   plugin_id         the decision's plugin_id (absent when llm-gateway answered
--                     itself or did not run: no decision)
--
-- The record is JSON-encoded here (cjson.safe, with the settings kong/globalpatches.lua
-- gives the shared module: 16 digits, sparse arrays up to 2^15) and enqueued as a
-- string with kong.tools.queue (kong/tools/queue.lua, Kong 3.3+), INGEST_QUEUE's
-- settings: batches of up to 200 records, at most 1 s after the first; at most
-- 100,000 waiting per worker (past it Kong drops the oldest and logs it); a failed
-- batch is retried for an hour (0.01 s doubling to 30 s between tries), then dropped
-- with an error line. One batch in flight per worker (concurrency_limit 1).
--
-- The queue's handler POSTs a batch as one JSON array ("[" .. entries .. "]", each
-- entry already JSON) with resty.http to unix:<kong prefix>/llm-gateway-ingest.sock,
-- path /v1/records, reusing the connection (set_keepalive). It answers the queue:
--   200                          true (done)
--   503, or no answer (connect,  false, err: the queue retries (the plugin server is
--   send or read error/timeout)  restarting, or the ingest cannot settle right now)
--   any other status             logs an error and returns true: the ingest refused
--                                these bytes (400) or failed on them (500); sending
--                                the same batch again gets the same answer, and
--                                retrying would hold every later record behind it
--                                for max_retry_time
-- Delivery is at least once: a batch the ingest processed but whose answer was lost
-- (read timeout) is sent again; records carry request_id for that.
--
-- Requires cjson.safe, kong.tools.queue and resty.http: kong.env lists them in
-- untrusted_lua_sandbox_requires (Kong's default sandbox denies every other
-- `require`, kong/tools/sandbox/init.lua). Without them this chunk logs one error per
-- worker and ships nothing. The queue keeps the handler and handler_conf of the
-- chunk that created it (get_or_create_queue); every post-function block carries this
-- same chunk, so any of them is the same handler.

local ok_cjson, cjson = pcall(require, "cjson.safe")
local ok_queue, Queue = pcall(require, "kong.tools.queue")
local ok_http, http = pcall(require, "resty.http")
local ready = ok_cjson and type(cjson) == "table"
  and ok_queue and type(Queue) == "table"
  and ok_http and type(http) == "table"

local type, pairs, pcall, tostring, tonumber = type, pairs, pcall, tostring, tonumber
local concat = table.concat
local huge = math.huge

local PACK_KEY = "llm_gateway_request"
local DECISION_KEY = "llm_gateway"
local INGEST_SOCKET = "llm-gateway-ingest.sock"
local INGEST_PATH = "/v1/records"
local RECORD_VERSION = 1
local MAX_DEPTH = 6
-- never llm_guard_placeholders (see above)
local SHARED_KEYS = { "llm_auth", "llm_guard", "llm_rate_limit", "llm_usage", "llm_response_guard" }

-- contract.ts INGEST_QUEUE; field names as kong/tools/queue.lua Queue.enqueue checks them
local QUEUE_CONF = {
  name = "llm-gateway-ingest",
  log_tag = "llm-gateway-log",
  max_batch_size = 200,
  max_coalescing_delay = 1,
  max_entries = 100000,
  max_retry_time = 3600,
  initial_retry_delay = 0.01,
  max_retry_delay = 30,
  concurrency_limit = 1,
}

-- ms: the ingest is local (a unix socket); a batch of 200 is settled within seconds
local CONNECT_TIMEOUT, SEND_TIMEOUT, READ_TIMEOUT = 1000, 10000, 30000
local KEEPALIVE_TIMEOUT, KEEPALIVE_POOL = 60000, 4

-- The queue's handler (kong/tools/queue.lua handle: `handler(handler_conf, entries)`,
-- true = done, false + err = retry). Runs in a timer, where cosockets work.
local function send(conf, entries)
  local httpc = http.new()
  httpc:set_timeouts(CONNECT_TIMEOUT, SEND_TIMEOUT, READ_TIMEOUT)
  -- lua-resty-http 0.17 (Kong 3.10's): a host without scheme and port is a unix socket
  local ok, err = httpc:connect({ host = conf.socket })
  if not ok then
    return false, "connecting to " .. conf.socket .. ": " .. tostring(err)
  end
  local res
  res, err = httpc:request({
    method = "POST",
    path = INGEST_PATH,
    -- lua-resty-http cannot make a Host header for a unix socket and refuses to send
    headers = { ["Host"] = "localhost", ["Content-Type"] = "application/json" },
    body = "[" .. concat(entries, ",") .. "]",
  })
  if not res then
    httpc:close()
    return false, "POST " .. INGEST_PATH .. ": " .. tostring(err)
  end
  local status = res.status
  -- read the answer whole, so the connection can serve the next batch
  local answer = res:read_body()
  if answer then
    httpc:set_keepalive(KEEPALIVE_TIMEOUT, KEEPALIVE_POOL)
  else
    httpc:close()
  end
  if status == 200 then return true end
  if status == 503 then return false, "the ingest answered 503" end
  kong.log.err("llm-gateway ingest refused a batch of ", #entries, " records: status ",
               tostring(status), "; dropped (sending it again would get the same answer)")
  return true
end

-- A copy of `v` with only what JSON can hold; nil for anything else
-- (serialize-values.lua's `plain`).
local function plain(v, depth)
  local tv = type(v)
  if tv == "string" or tv == "boolean" then return v end
  if tv == "number" then
    if v ~= v or v == huge or v == -huge then return nil end
    return v
  end
  if tv ~= "table" or depth >= MAX_DEPTH then return nil end
  local out = {}
  for k, x in pairs(v) do
    local tk = type(k)
    if tk == "string" or tk == "number" then
      out[k] = plain(x, depth + 1)
    end
  end
  return out
end

local function str(v)
  if type(v) == "string" then return v end
  return nil
end

-- { id, name } of a route or service entity
local function ref(entity)
  if type(entity) ~= "table" then return nil end
  return { id = str(entity.id), name = str(entity.name) }
end

local handler_conf
local warned = false

return function()
  local shared = kong.ctx.shared
  if shared[PACK_KEY] == nil then return end
  local decision = shared[DECISION_KEY]
  if type(decision) ~= "table" then decision = nil end
  if decision and decision.ingest == false then return end

  if not ready then
    if not warned then
      warned = true
      kong.log.err("llm-gateway records disabled: require of cjson.safe, kong.tools.queue or resty.http ",
                   "failed (add them to untrusted_lua_sandbox_requires)")
    end
    return
  end

  local ctx, var = ngx.ctx, ngx.var
  local request, response = kong.request, kong.response

  local headers = request.get_headers()
  if type(headers) == "table" then
    -- kong/pdk/log.lua serialize: the same two, by their lower-case names
    if headers["authorization"] ~= nil then headers["authorization"] = "REDACTED" end
    if headers["proxy-authorization"] ~= nil then headers["proxy-authorization"] = "REDACTED" end
  end

  local request_time = tonumber(var.request_time)
  local copies = {}
  for i = 1, #SHARED_KEYS do
    local key = SHARED_KEYS[i]
    copies[key] = plain(shared[key], 0)
  end

  local record = {
    v = RECORD_VERSION,
    request_id = var.kong_request_id,
    started_at = request.get_start_time(),
    node_id = kong.node.get_id(),
    method = request.get_method(),
    uri = ctx.request_uri or var.request_uri,
    querystring = (request.get_query()),
    request_headers = headers,
    request_size = tonumber(var.request_length),
    status = response.get_status(),
    response_headers = (response.get_headers()),
    response_size = tonumber(var.bytes_sent),
    source = response.get_source() == "service" and "upstream" or "kong",
    latencies = {
      kong = ctx.KONG_PROXY_LATENCY or ctx.KONG_RESPONSE_LATENCY or 0,
      proxy = ctx.KONG_WAITING_TIME or -1,
      request = request_time and request_time * 1000 or nil,
    },
    route = ref(kong.router.get_route()),
    service = ref(kong.router.get_service()),
    client_ip = var.remote_addr,
    shared = copies,
    plugin_id = decision and str(decision.plugin_id) or nil,
  }

  local line, err = cjson.encode(record)
  if not line then
    kong.log.err("llm-gateway record of request ", tostring(record.request_id), " not encoded: ", tostring(err))
    return
  end

  if handler_conf == nil then
    handler_conf = { socket = "unix:" .. tostring(kong.configuration.prefix) .. "/" .. INGEST_SOCKET }
  end
  -- pcall: Queue.enqueue asserts; a raise here would skip the log plugins after this one
  local ok, queued, qerr = pcall(Queue.enqueue, QUEUE_CONF, send, handler_conf, line)
  if not ok or not queued then
    kong.log.err("llm-gateway record of request ", tostring(record.request_id), " not queued: ",
                 tostring(ok and qerr or queued))
  end
end
