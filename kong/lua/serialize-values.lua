-- llm-serialize-values: an access chunk for Kong's bundled post-function plugin.
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
--
-- Only the members named above are copied: whatever else a plugin puts in its value
-- later (a prompt excerpt, a token) does not reach a log by this path. llm_guard holds
-- counts and rule ids, never prompt text (plugins/shared/request/facts.ts).
-- A value that is not a table is skipped. Tables are copied, not referenced (a
-- plugin's later change does not reach the log), keeping only strings, numbers,
-- booleans and tables of them, to MAX_DEPTH levels: what set_serialize_value accepts.
--
-- It comes BEFORE the bypass guard in the access list: when the guard answers 503,
-- the log still has what the plugins that did run published. Kong skips later access
-- handlers after a plugin's kong.response.exit (a 401, a 429): this chunk does not
-- run then. Needs no `require` (works in Kong's default sandbox).

local type, pairs, pcall, tostring = type, pairs, pcall, tostring
local huge = math.huge

local MAX_DEPTH = 6

local IDENTITY = { "consumer", "tenant", "credential_id", "auth_method", "scopes" }
local REQUEST = {
  "endpoint", "model", "stream", "include_usage_injected", "prompt_tokens",
  "prompt_tokens_method", "requested_completion_tokens", "body_rewritten", "findings",
}

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
end
