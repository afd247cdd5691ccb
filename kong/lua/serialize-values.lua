-- llm-serialize-values: a header_filter chunk for Kong's bundled post-function plugin.
--
-- Copies what our JS plugins published in kong.ctx.shared into Kong's serialized log
-- (kong.log.set_serialize_value), so Kong's bundled log plugins (http-log, file-log,
-- ...) carry them. Done here, in Lua, because from a JS plugin it costs a round trip,
-- and from a JS log phase it is too late for Kong's log plugins.
--
--   kong.ctx.shared.llm_auth            -> "llm.identity": consumer, tenant,
--                                          credential_id, auth_method, scopes
--   kong.ctx.shared.llm_guard           -> "llm.request": endpoint, model, stream,
--                                          include_usage_injected, prompt_tokens,
--                                          prompt_tokens_method,
--                                          requested_completion_tokens,
--                                          body_rewritten, findings
--   kong.ctx.shared.llm_rate_limit.log  -> "llm.rate_limit": the whole table
--   kong.ctx.shared.llm_usage           -> "llm.usage" (the usage members only), when a
--                                          plugin published it before the body passed
--   kong.ctx.shared.llm_usage.answer_check, else
--   kong.ctx.shared.llm_response_guard.answer_check
--                                       -> "llm.response": findings, blocked
--
-- Only the members named above are copied: whatever else a plugin puts in its value
-- later (a prompt excerpt, a token) does not reach a log by this path. llm_guard holds
-- counts and rule ids, never prompt text (plugins/shared/request/facts.ts);
-- answer_check holds llm-response-guard's counts per entity type of the answer and
-- whether it was withheld, never answer text (plugins/shared/marks.ts AnswerCheck). It
-- rides in the usage value when the answer had one (the set that plugin makes anyway),
-- else in its mark: both are looked at, the usage first. header_filter comes after
-- Kong's response phase, so it is there by now; the usage-capture body_filter, which
-- also writes llm_usage, runs later and never writes answer_check.
-- A value that is not a table is skipped. Tables are copied, not referenced (a
-- plugin's later change does not reach the log), keeping only strings, numbers,
-- booleans and tables of them, to MAX_DEPTH levels: what set_serialize_value accepts.
--
-- It runs in header_filter, not access: Kong skips the access handlers that come after
-- a plugin's kong.response.exit (a 401, llm-rate-limit's 429, the bypass guard's 503),
-- but runs header_filter on every response, exits included, so a refused request's
-- log still carries what the plugins that did run published (the 429's decision).
-- Needs no `require` (works in Kong's default sandbox).

local type, pairs, pcall, tostring = type, pairs, pcall, tostring
local huge = math.huge

local MAX_DEPTH = 6

local IDENTITY = { "consumer", "tenant", "credential_id", "auth_method", "scopes" }
local REQUEST = {
  "endpoint", "model", "stream", "include_usage_injected", "prompt_tokens",
  "prompt_tokens_method", "requested_completion_tokens", "body_rewritten", "findings",
}
local RESPONSE = { "findings", "blocked" }
local USAGE = { "prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens", "source" }

-- A copy of `v` with only what a log can hold; nil for anything else.
local function plain(v, depth)
  local tv = type(v)
  if tv == "string" or tv == "boolean" then return v end
  if tv == "number" then
    -- NaN and the infinities are no JSON: Kong's log plugins could not encode them
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

local function pick(t, names)
  local out = {}
  for i = 1, #names do
    local name = names[i]
    out[name] = plain(t[name], 1)
  end
  return out
end

-- llm-response-guard's answer_check: in the usage value, else in its mark; nil if neither.
local function answer_check(shared)
  local usage = shared.llm_usage
  if type(usage) == "table" and type(usage.answer_check) == "table" then return usage.answer_check end
  local mark = shared.llm_response_guard
  if type(mark) == "table" and type(mark.answer_check) == "table" then return mark.answer_check end
  return nil
end

local function set(key, value)
  local ok, err = pcall(kong.log.set_serialize_value, key, value)
  if not ok then
    kong.log.err("llm serialize value ", key, " not set: ", tostring(err))
  end
end

return function()
  local shared = kong.ctx.shared

  local auth = shared.llm_auth
  if type(auth) == "table" then set("llm.identity", pick(auth, IDENTITY)) end

  local guard = shared.llm_guard
  if type(guard) == "table" then set("llm.request", pick(guard, REQUEST)) end

  local rl = shared.llm_rate_limit
  if type(rl) == "table" and type(rl.log) == "table" then
    set("llm.rate_limit", plain(rl.log, 0))
  end

  local check = answer_check(shared)
  if check then set("llm.response", pick(check, RESPONSE)) end

  -- a usage already published before the body passes (llm-response-guard buffers the
  -- answer and reads it whole): the usage-capture body_filter then leaves it alone, so
  -- it reaches the log from here
  local usage = shared.llm_usage
  if type(usage) == "table" and (usage.source == "response" or usage.source == "stream") then
    set("llm.usage", pick(usage, USAGE))
  end
end
