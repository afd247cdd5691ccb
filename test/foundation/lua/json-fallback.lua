-- TEST ONLY: a small JSON decoder with cjson.safe's interface (decode returns nil, err
-- on bad input; JSON null is the `null` sentinel), used by harness.lua when LuaJIT has
-- no lua-cjson installed (apt-get install lua-cjson). Kong ships lua-cjson; production
-- code never loads this file.
local byte, sub, find, char, concat = string.byte, string.sub, string.find, string.char, table.concat
local tonumber = tonumber

local null = setmetatable({}, { __tostring = function() return "null" end })
local M = { null = null, _NAME = "json-fallback" }

local function utf8(cp)
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then return char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
              0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

local ESC = { [34] = '"', [92] = "\\", [47] = "/", [98] = "\b", [102] = "\f", [110] = "\n", [114] = "\r", [116] = "\t" }

local decode_value

local function skip(s, i)
  local _, e = find(s, "^[ \t\r\n]*", i)
  return e + 1
end

local function decode_string(s, i) -- s[i] == '"'
  local out, n = {}, 0
  i = i + 1
  while true do
    local j = find(s, '["\\%z\1-\31]', i)
    if not j then error("unterminated string") end
    if j > i then n = n + 1; out[n] = sub(s, i, j - 1) end
    local c = byte(s, j)
    if c == 34 then return concat(out), j + 1 end
    if c < 32 then error("control character in string") end
    local e = byte(s, j + 1)
    if e == 117 then
      local hex = sub(s, j + 2, j + 5)
      if not find(hex, "^%x%x%x%x$") then error("bad \\u escape") end
      local cp = tonumber(hex, 16)
      local k = j + 6
      if cp >= 0xD800 and cp <= 0xDBFF and sub(s, k, k + 1) == "\\u" then
        local lo = tonumber(sub(s, k + 2, k + 5), 16)
        if lo and lo >= 0xDC00 and lo <= 0xDFFF then
          cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
          k = k + 6
        end
      end
      n = n + 1; out[n] = utf8(cp)
      i = k
    elseif ESC[e] then
      n = n + 1; out[n] = ESC[e]
      i = j + 2
    else
      error("bad escape")
    end
  end
end

function decode_value(s, i, depth)
  if depth > 1000 then error("too deep") end
  i = skip(s, i)
  local c = byte(s, i)
  if c == 123 then
    local obj = {}
    i = skip(s, i + 1)
    if byte(s, i) == 125 then return obj, i + 1 end
    while true do
      i = skip(s, i)
      if byte(s, i) ~= 34 then error("expected key") end
      local k
      k, i = decode_string(s, i)
      i = skip(s, i)
      if byte(s, i) ~= 58 then error("expected ':'") end
      local v
      v, i = decode_value(s, i + 1, depth + 1)
      obj[k] = v
      i = skip(s, i)
      c = byte(s, i)
      if c == 125 then return obj, i + 1 end
      if c ~= 44 then error("expected ',' or '}'") end
      i = i + 1
    end
  elseif c == 91 then
    local arr, n = {}, 0
    i = skip(s, i + 1)
    if byte(s, i) == 93 then return arr, i + 1 end
    while true do
      local v
      v, i = decode_value(s, i, depth + 1)
      n = n + 1; arr[n] = v
      i = skip(s, i)
      c = byte(s, i)
      if c == 93 then return arr, i + 1 end
      if c ~= 44 then error("expected ',' or ']'") end
      i = i + 1
    end
  elseif c == 34 then
    return decode_string(s, i)
  elseif sub(s, i, i + 3) == "true" then return true, i + 4
  elseif sub(s, i, i + 4) == "false" then return false, i + 5
  elseif sub(s, i, i + 3) == "null" then return null, i + 4
  else
    local _, e = find(s, "^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    if not e then error("unexpected character") end
    local v = tonumber(sub(s, i, e))
    if not v then error("bad number") end
    return v, e + 1
  end
end

function M.decode(s)
  if type(s) ~= "string" then return nil, "expected a string" end
  local ok, v, i = pcall(decode_value, s, 1, 0)
  if not ok then return nil, v end
  if skip(s, i) <= #s then return nil, "trailing garbage" end
  return v
end

return M
