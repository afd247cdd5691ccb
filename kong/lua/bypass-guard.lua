-- llm-bypass-guard: 503 when one of our plugins did not mark the request.
local required = { "REQUIRED_MARKS" }
return function()
  local shared = kong.ctx.shared
  for i = 1, #required do
    if shared[required[i]] == nil then
      kong.log.err("llm-bypass-guard: ", required[i], " did not run; answering 503")
      return kong.response.exit(503,
        '{"error":{"message":"A required gateway plugin is unavailable. Retry shortly.","type":"server_error","param":null,"code":"gateway_plugin_unavailable"}}',
        { ["Content-Type"] = "application/json", ["Retry-After"] = "1" })
    end
  end
end
