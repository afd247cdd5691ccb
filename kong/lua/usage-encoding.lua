-- llm-usage-encoding: an access chunk for Kong's bundled post-function plugin.
--
-- Asks OpenAI for an uncompressed answer (Accept-Encoding: identity) on requests whose
-- tokens the suite counts: those llm-guard measured (kong.ctx.shared.llm_guard has an
-- endpoint) or llm-rate-limit reserved tokens for (kong.ctx.shared.llm_rate_limit has
-- a request). The usage-capture body_filter cannot read `usage` from a gzip answer,
-- and OpenAI SDKs ask for gzip: without this, limits would settle and audit records
-- would count from estimates, or not at all. Done here rather than by a JS plugin:
-- there it would cost a PDK round trip per request. Runs after the bypass guard (a
-- request it refuses is not forwarded). Needs no `require`.

local type = type

return function()
  local shared = kong.ctx.shared
  local guard, limiter = shared.llm_guard, shared.llm_rate_limit
  if (type(guard) == "table" and type(guard.endpoint) == "string")
    or (type(limiter) == "table" and type(limiter.request) == "table") then
    kong.service.request.set_header("Accept-Encoding", "identity")
  end
end
