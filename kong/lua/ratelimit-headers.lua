-- llm-ratelimit-headers: a header_filter chunk for Kong's bundled post-function plugin.
--
-- Puts the suite's rate-limit headers on the response in place of the upstream's.
-- `kong.response.set_header(s)` from a JS access phase does not replace a header the
-- upstream sends (the client gets both values joined: "7, 0"); set here, in
-- header_filter, the client gets only ours (measured on Kong 3.10).
--
-- Reads one value, kong.ctx.shared.llm_rate_limit (published by llm-rate-limit; its
-- other members are not read here):
--   hide_upstream_headers  true: clear every response header whose name starts with
--                          `x-ratelimit-` (any case): OpenAI sends the limits of the
--                          company's organization, which are not the client's
--   headers                { [name] = value }, may be absent: each set with
--                          kong.response.set_header, replacing a header of the same
--                          name; a value is a string (a number is sent as its decimal
--                          text). An entry whose name is not an HTTP token, or whose
--                          value is another type or holds CR, LF or NUL (a header
--                          injection), is skipped and logged.
-- Clearing runs first, so our own x-ratelimit-* headers are kept. Kong runs
-- header_filter on kong.response.exit answers too (a 429 of llm-rate-limit): the same
-- rules apply there. Never throws: a failed set is logged and the rest still set.
-- Needs no `require` (works in Kong's default sandbox).

local type, pairs, pcall, tostring = type, pairs, pcall, tostring
local lower, sub, find = string.lower, string.sub, string.find

local PREFIX = "x-ratelimit-"
local PREFIX_LEN = #PREFIX
-- RFC 9110 token characters
local TOKEN = "^[%w!#$%%&'*+%.^_`|~-]+$"
local UNSAFE_VALUE = "[%z\r\n]"
-- more than nginx's default 100 (ngx.resp.get_headers), so no upstream x-ratelimit-*
-- header escapes the clearing on a response with many headers; 1000 is Kong's maximum
local MAX_HEADERS = 1000

return function()
  local rl = kong.ctx.shared.llm_rate_limit
  if type(rl) ~= "table" then return end

  if rl.hide_upstream_headers == true then
    local headers = kong.response.get_headers(MAX_HEADERS)
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

  local ours = rl.headers
  if type(ours) == "table" then
    for name, value in pairs(ours) do
      local tv = type(value)
      if tv == "number" then value = tostring(value) end
      local good_name = type(name) == "string" and find(name, TOKEN) ~= nil
      if good_name and type(value) == "string" and not find(value, UNSAFE_VALUE) then
        local ok, err = pcall(kong.response.set_header, name, value)
        if not ok then
          kong.log.err("llm rate-limit header ", name, " not set: ", tostring(err))
        end
      else
        -- a valid name and the value's type only: either may hold anything a bug put there
        kong.log.err("llm rate-limit header skipped: ", good_name and name or "(invalid name)", " = (", tv, ")")
      end
    end
  end
end
