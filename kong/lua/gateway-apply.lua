-- llm-gateway-apply: an access chunk for Kong's bundled post-function plugin (its first).
--
-- Applies what the llm-gateway JS plugin decided for a request it let through,
-- kong.ctx.shared.llm_gateway (GatewayDecision, plugins/llm-gateway/contract.ts), in
-- the contract's order:
--
--   shared            each member whose key is a string starting with "llm_" copied
--                     into kong.ctx.shared, so the chunks after this one (the bypass
--                     guard, usage-encoding, serialize-values, ratelimit-headers,
--                     usage-capture) and the log phase see what the separate plugins
--                     would have published. llm_gateway and llm_gateway_request (the
--                     decision and the pack themselves) are never overwritten.
--   upstream_headers  kong.service.request.set_headers (a `{}` value removes the
--                     header: kong/pdk/private/checks.lua normalize_multi_header turns
--                     "" into " ", so an empty list is how a header is removed)
--   raw_query         kong.service.request.set_raw_query
--   body              kong.service.request.set_raw_body
--   response_headers  kong.response.set_headers
--   logs              kong.log[level](line) for each { level, line }, level one of
--                     err, warn, notice, info
--
-- The decision crossed from a plugin server: it is read as hostile input. A member of
-- the wrong type, a header entry Kong would refuse (kong/pdk/private/checks.lua
-- validate_headers: a non-string name; a value not a string, number, boolean or list
-- of strings) or one holding CR, LF or NUL (a header injection), a log entry of
-- another level: skipped, with an error log line naming what, never its value. Each
-- Kong setter runs under pcall (they raise on bad input, kong/pdk/service/request.lua),
-- so this chunk never raises.
--
-- It fails closed: when any part of what goes upstream (upstream_headers, raw_query,
-- body) was skipped or its setter failed, the request is answered 500
-- (llm_gateway_decision_not_applied) here, before the bypass guard, rather than sent
-- half-applied: a skipped company Authorization would send the client's own key to
-- OpenAI, a failed body a prompt that was not redacted. The separate plugins fail the
-- same way (a PDK call that errors in access is Kong's 500). response_headers and
-- logs are only logged when skipped: nothing of them goes upstream.
--
-- The decision's upstream_headers (the company key) and body are dropped from
-- kong.ctx.shared once applied: it lives until the log phase ends.
--
-- Then the request body in the pack (kong.ctx.shared.llm_gateway_request.body_base64) is
-- dropped too: nginx holds the request body (the client's, or
-- the one just set), and kong.ctx.shared lives until the log phase ends, so keeping
-- them would hold each body two or three times (in base64, 4/3 of it) for the whole
-- request. The pack itself
-- stays: gateway-log.lua takes its presence as "a gateway route".
-- Needs no `require`.

local type, pairs, pcall, tostring, next = type, pairs, pcall, tostring, next
local sub, find = string.sub, string.find
local huge = math.huge

local DECISION_KEY = "llm_gateway"
local PACK_KEY = "llm_gateway_request"
local UNSAFE_VALUE = "[%z\r\n]"
local LEVELS = { err = true, warn = true, notice = true, info = true }

-- A header value Kong's setters take, and that cannot split a header line.
local function good_value(v)
  local tv = type(v)
  if tv == "string" then return not find(v, UNSAFE_VALUE) end
  if tv == "number" then return v == v and v ~= huge and v ~= -huge end
  if tv == "boolean" then return true end
  if tv ~= "table" then return false end
  -- a list of strings (checks.lua iterates it with ipairs); no other keys
  local n = #v
  for k in pairs(v) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then return false end
  end
  for i = 1, n do
    local x = v[i]
    if type(x) ~= "string" or find(x, UNSAFE_VALUE) then return false end
  end
  return true
end

-- The entries of `headers` Kong can set (nil when none is left), and whether any was skipped.
local function good_headers(headers, what)
  local out, any, skipped = {}, false, false
  for name, value in pairs(headers) do
    if type(name) == "string" and name ~= "" and not find(name, UNSAFE_VALUE) and good_value(value) then
      out[name] = value
      any = true
    else
      skipped = true
      kong.log.err("llm-gateway: ", what, " header skipped: ",
                   type(name) == "string" and not find(name, UNSAFE_VALUE) and name or "(invalid name)",
                   " = (", type(value), ")")
    end
  end
  return any and out or nil, skipped
end

-- true when the setter ran
local function call(what, fn, arg)
  local ok, err = pcall(fn, arg)
  if not ok then
    kong.log.err("llm-gateway: ", what, " failed: ", tostring(err))
  end
  return ok
end

local function apply(shared, d)
  local copy = d.shared
  if type(copy) == "table" then
    for key, value in pairs(copy) do
      if type(key) == "string" and sub(key, 1, 4) == "llm_" and key ~= DECISION_KEY and key ~= PACK_KEY then
        shared[key] = value
      end
    end
  elseif copy ~= nil then
    kong.log.err("llm-gateway: decision member shared skipped (", type(copy), ")")
  end

  -- whether what goes upstream was applied whole
  local whole = true

  local upstream = d.upstream_headers
  if type(upstream) == "table" then
    if next(upstream) ~= nil then
      local headers, skipped = good_headers(upstream, "upstream")
      if skipped then whole = false end
      if headers and not call("set upstream headers", kong.service.request.set_headers, headers) then whole = false end
    end
  elseif upstream ~= nil then
    whole = false
    kong.log.err("llm-gateway: decision member upstream_headers skipped (", type(upstream), ")")
  end

  local query = d.raw_query
  if type(query) == "string" then
    if not call("set_raw_query", kong.service.request.set_raw_query, query) then whole = false end
  elseif query ~= nil then
    whole = false
    kong.log.err("llm-gateway: decision member raw_query skipped (", type(query), ")")
  end

  local body = d.body
  if type(body) == "string" then
    if not call("set_raw_body", kong.service.request.set_raw_body, body) then whole = false end
  elseif body ~= nil then
    whole = false
    kong.log.err("llm-gateway: decision member body skipped (", type(body), ")")
  end

  local response = d.response_headers
  if type(response) == "table" then
    if next(response) ~= nil then
      local headers = good_headers(response, "response")
      if headers then call("set response headers", kong.response.set_headers, headers) end
    end
  elseif response ~= nil then
    kong.log.err("llm-gateway: decision member response_headers skipped (", type(response), ")")
  end

  local logs = d.logs
  if type(logs) == "table" then
    local log = kong.log
    for i = 1, #logs do
      local entry = logs[i]
      local level = type(entry) == "table" and entry[1] or nil
      local line = type(entry) == "table" and entry[2] or nil
      if type(level) == "string" and LEVELS[level] and type(line) == "string" then
        log[level](line)
      else
        kong.log.err("llm-gateway: decision log entry ", i, " skipped")
      end
    end
  elseif logs ~= nil then
    kong.log.err("llm-gateway: decision member logs skipped (", type(logs), ")")
  end
  return whole
end

local NOT_APPLIED = '{"error":{"message":"The gateway could not apply its decision. It has been logged.",'
  .. '"type":"server_error","param":null,"code":"llm_gateway_decision_not_applied"}}'

return function()
  local shared = kong.ctx.shared
  local d = shared[DECISION_KEY]
  local whole = true
  if type(d) == "table" then
    whole = apply(shared, d)
    d.body = nil
    d.upstream_headers = nil
  end
  local packed = shared[PACK_KEY]
  if type(packed) == "table" then
    packed.body_base64 = nil
  end
  if not whole then
    kong.log.err("llm-gateway: the decision was not applied whole; answering 500")
    return kong.response.exit(500, NOT_APPLIED, { ["Content-Type"] = "application/json" })
  end
end
