-- Runs a post-function chunk from kong/lua/ under LuaJIT the way Kong's post-function
-- does (test/foundation/lua/*.test.ts drive it):
--   * the chunk is compiled in an environment built like Kong 3.x's default sandbox
--     (kong/tools/sandbox/environment/lua.lua: only the whitelisted globals; `require`
--     allowed only for the modules of untrusted_lua_sandbox_requires), run once, and
--     the function it returns is then run for every request (post-function's 0.2.0+
--     semantics), so per-worker upvalues are shared across requests as in Kong;
--   * a minimal `kong`/`ngx` shim: kong.ctx.shared, kong.response.get_status /
--     get_headers / get_header / get_source / set_header / clear_header / exit,
--     kong.log.err / warn / set_serialize_value, ngx.ctx, ngx.arg, ngx.null.
--
-- Usage: luajit harness.lua <spec.lua>. The spec (written by the test) returns
--   { code = <path>, requires = { "cjson.safe" }, cases = { ... } }
-- and the harness prints one JSON object with a result per case.
--
-- cjson: lua-cjson (what Kong ships) when LuaJIT has it; otherwise json-fallback.lua,
-- a test-only decoder with the same interface (the output says which one ran).

local spec_file = assert(arg[1], "usage: luajit harness.lua <spec.lua>")
local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
local spec = assert(dofile(spec_file))

-- cjson.safe --------------------------------------------------------------------------
local decoder = "lua-cjson"
local has_cjson, real_cjson = pcall(require, "cjson.safe")
if not has_cjson then
  decoder = "json-fallback"
  real_cjson = dofile(here .. "/json-fallback.lua")
end

-- JSON encoder for the output (sorted keys; `null` for the cjson null) ----------------
local function encode(v)
  local t = type(v)
  if v == nil or v == real_cjson.null then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if v == math.floor(v) and math.abs(v) < 1e15 then return string.format("%d", v) end
    return string.format("%.17g", v)
  end
  if t == "string" then
    -- every byte outside printable ASCII as \u00XX: the reader maps it back with latin1
    return '"' .. v:gsub('[%c"\\\128-\255]', function(c)
      local b = c:byte()
      if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" end
      return string.format("\\u%04x", b)
    end) .. '"'
  end
  if t == "table" then
    local n = #v
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    if n > 0 and #keys == n then
      local parts = {}
      for i = 1, n do parts[i] = encode(v[i]) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = encode(tostring(k)) .. ":" .. encode(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return encode("<" .. t .. ">")
end

-- The kong / ngx shim ----------------------------------------------------------------
local req -- the current request's state

local function copy_headers(h)
  local out = {}
  for k, v in pairs(h) do out[k] = v end
  return out
end

local function check_header(name, value)
  if type(name) ~= "string" then error("invalid header name", 3) end
  local tv = type(value)
  if tv == "number" or tv == "boolean" then return tostring(value) end
  if tv == "string" then return value end
  if tv == "table" then
    for _, x in ipairs(value) do
      if type(x) ~= "string" then error("invalid header value in array", 3) end
    end
    return value
  end
  error("invalid header value for " .. name .. ": got " .. tv, 3)
end

local kong_shim = {
  ctx = setmetatable({}, { __index = function(_, k) if k == "shared" then return req.shared end end }),
  service = {
    request = {
      set_header = function(name, value)
        value = check_header(name, value)
        req.upstream_headers[name:lower()] = value
      end,
    },
  },
  log = {
    err = function(...) req.logs[#req.logs + 1] = "err: " .. table.concat({ ... }) end,
    warn = function(...) req.logs[#req.logs + 1] = "warn: " .. table.concat({ ... }) end,
    set_serialize_value = function(key, value)
      if type(key) ~= "string" then error("key must be a string", 2) end
      req.serialize[key] = value
    end,
  },
  response = {
    get_status = function() return req.status end,
    get_source = function() return req.source end,
    get_headers = function() return copy_headers(req.headers) end,
    get_header = function(name)
      local v = req.headers[name:lower()]
      if type(v) == "table" then return v[1] end
      return v
    end,
    set_header = function(name, value)
      value = check_header(name, value)
      req.headers[name:lower()] = value
    end,
    -- post-function's access: an exit ends the request (the harness records it)
    exit = function(status, body, headers)
      req.exited = { status = status, body = body, headers = headers }
    end,
    clear_header = function(name)
      if type(name) ~= "string" then error("header name must be a string", 2) end
      req.headers[name:lower()] = nil
    end,
  },
}

local ngx_shim = setmetatable({ null = real_cjson.null }, {
  __index = function(_, k)
    if k == "ctx" then return req.ngx_ctx end
    if k == "arg" then return req.arg end
  end,
})

-- Kong 3.x default sandbox (kong/tools/sandbox/environment/lua.lua) -------------------
local WHITELIST = [[
_VERSION assert error ipairs next pairs pcall print select tonumber tostring type unpack xpcall
bit.arshift bit.band bit.bnot bit.bor bit.bswap bit.bxor bit.lshift bit.rol bit.ror bit.rshift bit.tobit bit.tohex
coroutine.create coroutine.resume coroutine.running coroutine.status coroutine.wrap coroutine.yield
io.type jit.os jit.arch jit.version jit.version_num
math.abs math.acos math.asin math.atan math.atan2 math.ceil math.cos math.cosh math.deg math.exp math.floor
math.fmod math.frexp math.huge math.ldexp math.log math.log10 math.max math.min math.modf math.pi math.pow
math.rad math.random math.sin math.sinh math.sqrt math.tan math.tanh
os.clock os.date os.difftime os.time
string.byte string.char string.find string.format string.gmatch string.gsub string.len string.lower
string.match string.rep string.reverse string.sub string.upper
table.concat table.foreach table.foreachi table.getn table.insert table.maxn table.remove table.sort
]]

local function sandbox_env(requires)
  local env = {}
  for name in WHITELIST:gmatch("%S+") do
    local mod, key = name:match("^([^.]+)%.(.+)$")
    if mod then
      env[mod] = env[mod] or {}
      env[mod][key] = _G[mod][key]
    else
      env[name] = _G[name]
    end
  end
  local allowed = {}
  for _, r in ipairs(requires or {}) do allowed[r] = true end
  env.require = function(modname)
    if not allowed[modname] then
      error(("require '%s' not allowed within sandbox"):format(modname), -1)
    end
    if modname == "cjson.safe" then return real_cjson end
    return require(modname)
  end
  env.kong = kong_shim
  env.ngx = ngx_shim
  env._G = env
  return env
end

-- Loading the chunk once, as post-function does ---------------------------------------
local function load_handler(code_path, requires)
  local code = assert(io.open(code_path)):read("*a")
  local chunk = assert(loadstring(code, "=" .. code_path))
  setfenv(chunk, sandbox_env(requires))
  return chunk
end

local function new_request(c)
  local shared = {}
  for k, v in pairs(c.shared or {}) do shared[k] = v end
  req = {
    shared = shared,
    logs = {},
    serialize = {},
    status = c.status or 200,
    source = c.source or "service",
    headers = {},
    upstream_headers = {},
    ngx_ctx = {},
    arg = {},
  }
  for k, v in pairs(c.headers or {}) do req.headers[k:lower()] = v end
end

-- Bytes of strings retained by a table (keys and values, recursively).
local function retained(v, seen)
  seen = seen or {}
  if type(v) == "string" then return #v end
  if type(v) ~= "table" or seen[v] then return 0 end
  seen[v] = true
  local n = 0
  for k, x in pairs(v) do n = n + retained(k, seen) + retained(x, seen) end
  return n
end

-- The first call of the compiled chunk returns the per-request function (and runs the
-- chunk's top level once, like post-function's first request).
local handler
local function run_handler(chunk)
  if not handler then
    local result = chunk()
    assert(type(result) == "function", "the chunk must return a function")
    handler = result
  end
  handler()
end

-- Body runs ---------------------------------------------------------------------------
local function splits_of(c)
  local body = c.body
  local n = #body
  local runs = {}
  local mode = c.splits or "whole"
  if mode == "whole" then
    runs[1] = { chunks = { body }, separate_eof = false }
  elseif mode == "all2" then
    for k = 0, n do
      runs[#runs + 1] = { chunks = { body:sub(1, k), body:sub(k + 1) }, separate_eof = k % 2 == 1 }
    end
  elseif mode == "sizes" then
    for _, size in ipairs(c.sizes) do
      local chunks = {}
      for i = 1, n, size do chunks[#chunks + 1] = body:sub(i, i + size - 1) end
      runs[#runs + 1] = { chunks = chunks, separate_eof = size % 2 == 0 }
    end
  elseif mode == "random" then
    math.randomseed(c.seed or 1)
    for r = 1, (c.runs or 100) do
      local cuts = { 0 }
      for _ = 1, math.random(1, c.max_cuts or 20) do cuts[#cuts + 1] = math.random(0, n) end
      cuts[#cuts + 1] = n
      table.sort(cuts)
      local chunks = {}
      for i = 2, #cuts do chunks[#chunks + 1] = body:sub(cuts[i - 1] + 1, cuts[i]) end
      runs[#runs + 1] = { chunks = chunks, separate_eof = r % 2 == 0 }
    end
  else
    error("unknown split mode " .. tostring(mode))
  end
  return runs
end

local function run_body_case(chunk, c)
  local outputs, usages, serialized, logs = {}, {}, {}, {}
  local seen_out, seen_usage, seen_ser, seen_log = {}, {}, {}, {}
  local max_retained, runs = 0, 0
  local started = os.clock()
  local function add(list, seen, v)
    if not seen[v] then seen[v] = true; list[#list + 1] = v end
  end
  for _, run in ipairs(splits_of(c)) do
    runs = runs + 1
    new_request(c)
    local out = {}
    local calls = #run.chunks
    for i, piece in ipairs(run.chunks) do
      req.arg[1], req.arg[2] = piece, (i == calls and not run.separate_eof)
      run_handler(chunk)
      out[#out + 1] = req.arg[1]
      local r = retained(req.ngx_ctx)
      if r > max_retained then max_retained = r end
    end
    if run.separate_eof then
      req.arg[1], req.arg[2] = "", true
      run_handler(chunk)
      out[#out + 1] = req.arg[1]
    end
    add(outputs, seen_out, table.concat(out))
    add(usages, seen_usage, encode(req.shared.llm_usage))
    add(serialized, seen_ser, encode(req.serialize))
    for _, l in ipairs(req.logs) do add(logs, seen_log, l) end
  end
  return {
    name = c.name,
    runs = runs,
    outputs = outputs,
    usages = usages,
    serialized = serialized,
    logs = logs,
    max_retained = max_retained,
    seconds = os.clock() - started,
  }
end

local function run_header_case(chunk, c)
  new_request(c)
  local ok, err = pcall(run_handler, chunk)
  return {
    name = c.name,
    ok = ok,
    error = not ok and tostring(err) or nil,
    headers = req.headers,
    logs = req.logs,
  }
end

-- An access chunk: what it left in kong.ctx.shared and the serialize values.
local function run_access_case(chunk, c)
  new_request(c)
  local ok, err = pcall(run_handler, chunk)
  return {
    name = c.name,
    ok = ok,
    error = not ok and tostring(err) or nil,
    shared = req.shared,
    serialized = encode(req.serialize),
    upstream_headers = req.upstream_headers,
    exited = req.exited,
    logs = req.logs,
  }
end

local results = {}
local chunk = load_handler(spec.code, spec.requires)
for i, c in ipairs(spec.cases) do
  if c.kind == "header" then
    results[i] = run_header_case(chunk, c)
  elseif c.kind == "access" then
    results[i] = run_access_case(chunk, c)
  else
    results[i] = run_body_case(chunk, c)
  end
end
io.write(encode({ decoder = decoder, results = results }), "\n")
