-- llm-ratelimit-headers: a header_filter chunk for Kong's bundled post-function plugin.
--
-- Puts the suite's rate-limit headers on the response in place of the upstream's.
-- `kong.response.set_header(s)` from a JS access phase does not replace a header the
-- upstream sends (the client gets both values joined: "7, 0"); set here, in
-- header_filter, the client gets only ours (measured on Kong 3.10).
--
-- Reads (kong.ctx.shared):
--   llm_rate_limit_hide     true: clear every upstream `x-ratelimit-*` header (OpenAI
--                           sends the limits of the company's organization)
--   llm_rate_limit_headers  { [name] = value }: each set with kong.response.set_header,
--                           replacing an upstream header of the same name; a value is a
--                           string (a number is sent as its decimal text). An entry with
--                           another name or value type is skipped and logged.
-- Clearing runs first, so our own x-ratelimit-* headers are kept.
-- Needs no `require` (works in Kong's default sandbox).

local type, pairs, pcall, tostring = type, pairs, pcall, tostring
local lower, sub = string.lower, string.sub

local PREFIX = "x-ratelimit-"
local PREFIX_LEN = #PREFIX

return function()
  local shared = kong.ctx.shared

  if shared.llm_rate_limit_hide == true then
    local headers = kong.response.get_headers()
    local names, n = {}, 0
    for name in pairs(headers) do
      if type(name) == "string" and lower(sub(name, 1, PREFIX_LEN)) == PREFIX then
        n = n + 1
        names[n] = name
      end
    end
    for i = 1, n do
      kong.response.clear_header(names[i])
    end
  end

  local ours = shared.llm_rate_limit_headers
  if type(ours) == "table" then
    for name, value in pairs(ours) do
      local tv = type(value)
      if type(name) == "string" and name ~= "" and (tv == "string" or tv == "number") then
        local ok, err = pcall(kong.response.set_header, name, tv == "number" and tostring(value) or value)
        if not ok then
          kong.log.err("llm rate-limit header ", name, " not set: ", tostring(err))
        end
      else
        kong.log.err("llm rate-limit header skipped: ", tostring(name), " = (", tv, ")")
      end
    end
  end
end
