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
-- so this chunk never raises: an error here would end the request in Kong's 500
-- before the bypass guard could answer.
--
-- Then the request body in the pack (kong.ctx.shared.llm_gateway_request.body_base64) and
-- the decision's body are dropped: nginx holds the request body (the client's, or
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

-- The entries of `headers` Kong can set; nil when none is left.
local function good_headers(headers, what)
  local out, any = {}, false
  for name, value in pairs(headers) do
    if type(name) == "string" and name ~= "" and not find(name, UNSAFE_VALUE) and good_value(value) then
      out[name] = value
      any = true
    else
      kong.log.err("llm-gateway: ", what, " header skipped: ",
                   type(name) == "string" and not find(name, UNSAFE_VALUE) and name or "(invalid name)",
                   " = (", type(value), ")")
    end
  end
  return any and out or nil
end

local function call(what, fn, arg)
  local ok, err = pcall(fn, arg)
  if not ok then
    kong.log.err("llm-gateway: ", what, " failed: ", tostring(err))
  end
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

  local upstream = d.upstream_headers
  if type(upstream) == "table" then
    if next(upstream) ~= nil then
      local headers = good_headers(upstream, "upstream")
      if headers then call("set upstream headers", kong.service.request.set_headers, headers) end
    end
  elseif upstream ~= nil then
    kong.log.err("llm-gateway: decision member upstream_headers skipped (", type(upstream), ")")
  end

  local query = d.raw_query
  if type(query) == "string" then
    call("set_raw_query", kong.service.request.set_raw_query, query)
  elseif query ~= nil then
    kong.log.err("llm-gateway: decision member raw_query skipped (", type(query), ")")
  end

  local body = d.body
  if type(body) == "string" then
    call("set_raw_body", kong.service.request.set_raw_body, body)
  elseif body ~= nil then
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
end

return function()
  local shared = kong.ctx.shared
  local d = shared[DECISION_KEY]
  if type(d) == "table" then
    apply(shared, d)
    d.body = nil
  end
  local packed = shared[PACK_KEY]
  if type(packed) == "table" then
    packed.body_base64 = nil
  end
end
