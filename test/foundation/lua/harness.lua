-- Runs a chunk from kong/lua/ under LuaJIT the way Kong's pre-function and
-- post-function run it (test/foundation/lua/*.test.ts drive it, through lua-harness.ts):
--   * the chunk is compiled in an environment built like Kong 3.x's default sandbox
--     (kong/tools/sandbox/environment/lua.lua: only the whitelisted globals; `require`
--     allowed only for the modules of untrusted_lua_sandbox_requires), run once, and
--     the function it returns is then run for every request (post-function's 0.2.0+
--     semantics, kong/plugins/pre-function/_handler.lua), so per-worker upvalues are
--     shared across the cases of one spec as across requests in Kong;
--   * a minimal `kong`/`ngx` shim, each function behaving as the Kong 3.10 PDK
--     function it stands for on the inputs the tests give (named below);
--   * test doubles for two modules Kong ships: `kong.tools.queue` (records each
--     enqueue, after the argument checks of kong/tools/queue.lua Queue.enqueue, and
--     keeps the handler so a case can run it) and `resty.http` (records connect,
--     request, keepalive and close; answers what the case scripts).
--
-- Usage: luajit harness.lua <spec.lua>. The spec (written by lua-harness.ts) returns
--   { code = <path>, requires = { "cjson.safe", ... }, prefix = <kong prefix>?,
--     cases = { ... } }
-- and the harness prints ONE JSON object, { decoder = "lua-cjson" | "json-fallback",
-- results = { <one per case, in order> } }. JSON: keys sorted, an empty Lua table as
-- `{}`, a sequence as an array, NaN and infinities as null, bytes outside printable
-- ASCII as \u00XX (lua-harness.ts maps them back with latin1).
--
-- Case kinds (field `kind`) and what each returns:
--   (none)      body_filter runs over splits of `body` (usage-capture): outputs,
--               usages, serialized, logs, max_retained, runs, seconds
--   "header"    header_filter once: ok, error, headers (response), logs
--   "access"    one call with kong.ctx.shared = `shared`: ok, error, shared,
--               serialized, upstream_headers, exited, logs
--   "request"   one call with a whole request (pre-function access, post-function
--               access or log):
--     inputs    shared, method ("GET"), path ("/"), raw_query (""), query ({}),
--               request_headers (a list of { name, value } lines in arrival order, or
--               a map), body (string; nil = none), body_in_file (true: nginx spooled
--               it; get_raw_body() fails), forwarded_ip, status (200), source
--               ("service"), response_headers (map), var (ngx.var values; defaults
--               below), start_time (ngx.req.start_time(), s), ngx_ctx (ngx.ctx
--               fields, e.g. KONG_PROXY_LATENCY), route, service (kong.router),
--               node_id, flush (see below)
--     outputs   ok, error, shared (kong.ctx.shared after the call), calls (each PDK
--               setter call in order: { fn = "service.request.set_headers", arg }),
--               upstream_headers (what set_header(s) left, lower-case names), logs
--               ("level: text"), body_reads (get_raw_body calls), exited,
--               enqueued ({ queue_conf, handler_conf, entry } per Queue.enqueue,
--               with decoded = the entry JSON-decoded when it is a string),
--               flushes (one per `flush` script: the enqueued entries of this case
--               passed to the queue's handler as ONE batch: { ok, err, http =
--               { calls... }, batch = the request body decoded })
--     flush     a list of scripts for the resty.http double, each { status = n,
--               answer = body } or { connect_error = "..." } or
--               { request_error = "..." }
--   ngx.var defaults: kong_request_id "req-1", request_uri path + "?" + raw_query,
--   request_length "100", bytes_sent "200", request_time "0.012", remote_addr
--   "10.0.0.1"; content_length and http_transfer_encoding from the first such
--   request header line.
--
-- cjson: lua-cjson (what Kong ships) when LuaJIT has it, with the settings
-- kong/globalpatches.lua gives cjson.safe (number precision 16 where this lua-cjson
-- allows it, else 14; sparse arrays up to 2^15); otherwise json-fallback.lua, a
-- test-only decoder with the same interface and the harness's encoder (the output
-- says which one ran).

local spec_file = assert(arg[1], "usage: luajit harness.lua <spec.lua>")
local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
local spec = assert(dofile(spec_file))

-- cjson.safe --------------------------------------------------------------------------
local decoder = "lua-cjson"
local has_cjson, real_cjson = pcall(require, "cjson.safe")
if not has_cjson then
  decoder = "json-fallback"
  real_cjson = dofile(here .. "/json-fallback.lua")
else
  -- kong/globalpatches.lua: cjson_safe.encode_sparse_array(nil, nil, 2^15) and
  -- encode_number_precision(CJSON_MAX_PRECISION = 16); Debian's lua-cjson stops at 14
  real_cjson.encode_sparse_array(nil, nil, 2 ^ 15)
  if not pcall(real_cjson.encode_number_precision, 16) then real_cjson.encode_number_precision(14) end
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

if not real_cjson.encode then real_cjson.encode = encode end

-- The kong / ngx shim ----------------------------------------------------------------
local req -- the current request's state
local spec_prefix = spec.prefix or "/usr/local/kong"

local function record_call(fn, arg)
  req.calls[#req.calls + 1] = { fn = fn, arg = arg }
end

-- kong/pdk/private/checks.lua validate_headers: raises on what Kong's setters refuse
local function validate_headers(headers)
  if type(headers) ~= "table" then error("headers must be a table", 3) end
  for k, v in pairs(headers) do
    if type(k) ~= "string" then error("invalid header name: got " .. type(k), 3) end
    local tv = type(v)
    if tv == "table" then
      for _, x in ipairs(v) do
        if type(x) ~= "string" then error("invalid header value in array " .. k, 3) end
      end
    elseif tv ~= "string" and tv ~= "number" and tv ~= "boolean" then
      error("invalid header value for " .. k .. ": got " .. tv, 3)
    end
  end
end

-- normalize_multi_header: "" is sent as " "; numbers and booleans as text
local function normalize(v)
  if type(v) == "table" then
    local out = {}
    for i, x in ipairs(v) do out[i] = x == "" and " " or x end
    return out
  end
  if v == "" then return " " end
  return tostring(v)
end

-- ngx.req.get_headers(100) as kong.request.get_headers() returns it: lower-case
-- names, a repeated name as a list, at most 100 lines, then "truncated".
local function request_headers(max)
  max = max or 100
  local out, n = {}, 0
  for _, line in ipairs(req.request_lines) do
    if n >= max then return out, "truncated" end
    n = n + 1
    local name, value = line[1]:lower(), line[2]
    local have = out[name]
    if have == nil then
      out[name] = value
    elseif type(have) == "table" then
      have[#have + 1] = value
    else
      out[name] = { have, value }
    end
  end
  return out
end

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
      -- kong/pdk/service/request.lua: validate all, then set each
      set_headers = function(headers)
        validate_headers(headers)
        record_call("service.request.set_headers", headers)
        for k, v in pairs(headers) do req.upstream_headers[k:lower()] = normalize(v) end
      end,
      set_raw_query = function(query)
        if type(query) ~= "string" then error("query must be a string", 2) end
        record_call("service.request.set_raw_query", query)
      end,
      set_raw_body = function(body)
        if type(body) ~= "string" then error("body must be a string", 2) end
        record_call("service.request.set_raw_body", body)
      end,
    },
  },
  -- kong/pdk/request.lua
  request = {
    get_method = function() return req.method end,
    get_path = function() return req.path end,
    get_raw_query = function() return req.raw_query end,
    get_query = function() return req.query end,
    get_headers = function(max) return request_headers(max) end,
    -- get_raw_body: "" without a body; nil and an error when nginx spooled it to a
    -- file (no max_allowed_file_size given)
    get_raw_body = function()
      req.body_reads = req.body_reads + 1
      if req.body_in_file then
        return nil, "request body did not fit into client body buffer, consider raising 'client_body_buffer_size'"
      end
      return req.body or ""
    end,
    get_start_time = function()
      return req.ngx_ctx.KONG_PROCESSING_START or (req.start_time * 1000)
    end,
  },
  client = {
    get_forwarded_ip = function() return req.forwarded_ip end,
  },
  router = {
    get_route = function() return req.route end,
    get_service = function() return req.service end,
  },
  node = {
    get_id = function() return req.node_id end,
  },
  configuration = setmetatable({}, { __index = function(_, k) if k == "prefix" then return spec_prefix end end }),
  log = {
    err = function(...) req.logs[#req.logs + 1] = "err: " .. table.concat({ ... }) end,
    warn = function(...) req.logs[#req.logs + 1] = "warn: " .. table.concat({ ... }) end,
    notice = function(...) req.logs[#req.logs + 1] = "notice: " .. table.concat({ ... }) end,
    info = function(...) req.logs[#req.logs + 1] = "info: " .. table.concat({ ... }) end,
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
    -- kong/pdk/response.lua set_headers (access: recorded; Kong sends them later)
    set_headers = function(headers)
      validate_headers(headers)
      record_call("response.set_headers", headers)
      for k, v in pairs(headers) do req.headers[k:lower()] = normalize(v) end
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

-- ngx.encode_base64 (standard alphabet, padded), in plain Lua
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function encode_base64(s)
  if type(s) ~= "string" then error("string argument only", 2) end
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = { math.floor(n / 262144) % 64, math.floor(n / 4096) % 64, math.floor(n / 64) % 64, n % 64 }
    out[#out + 1] = B64:sub(q[1] + 1, q[1] + 1) .. B64:sub(q[2] + 1, q[2] + 1)
      .. (b and B64:sub(q[3] + 1, q[3] + 1) or "=") .. (c and B64:sub(q[4] + 1, q[4] + 1) or "=")
  end
  return table.concat(out)
end

local ngx_shim = setmetatable({
  null = real_cjson.null,
  encode_base64 = encode_base64,
  req = { start_time = function() return req.start_time end },
}, {
  __index = function(_, k)
    if k == "ctx" then return req.ngx_ctx end
    if k == "arg" then return req.arg end
    if k == "var" then return req.var end
  end,
})

-- kong.tools.queue double -------------------------------------------------------------
local queue_double = {}
function queue_double.enqueue(queue_conf, handler, handler_conf, value)
  -- the checks of kong/tools/queue.lua Queue.enqueue (Kong 3.10), so a misspelled
  -- setting fails here as it would in Kong
  assert(type(queue_conf) == "table", "arg #1 (queue_conf) must be a table")
  assert(type(handler) == "function", "arg #2 (handler) must be a function")
  assert(handler_conf == nil or type(handler_conf) == "table", "arg #3 (handler_conf) must be a table or nil")
  assert(type(queue_conf.name) == "string", "arg #1 (queue_conf) must include a name")
  for _, f in ipairs({ "max_batch_size", "max_coalescing_delay", "max_entries", "max_retry_time",
                       "initial_retry_delay", "max_retry_delay", "concurrency_limit" }) do
    assert(type(queue_conf[f]) == "number", "arg #1 (queue_conf) " .. f .. " must be a number")
  end
  assert(queue_conf.max_bytes == nil or type(queue_conf.max_bytes) == "number", "max_bytes must be a number or nil")
  if value == nil then return nil, "entry must be a non-nil Lua value" end
  req.enqueued[#req.enqueued + 1] = { queue_conf = queue_conf, handler_conf = handler_conf, entry = value,
    decoded = type(value) == "string" and real_cjson.decode(value) or nil }
  req.queue_handler = handler
  return true
end

-- resty.http double (lua-resty-http 0.17 methods the chunks use) -----------------------
local http_script -- what the current connection answers
local http_calls
local http_double = {}
local httpc_mt = { __index = {} }
local httpc = httpc_mt.__index
function http_double.new() return setmetatable({}, httpc_mt) end
function httpc:set_timeouts(c, s, r) http_calls[#http_calls + 1] = { fn = "set_timeouts", arg = { c, s, r } } end
function httpc:set_timeout(t) http_calls[#http_calls + 1] = { fn = "set_timeout", arg = t } end
function httpc:connect(opts, port)
  http_calls[#http_calls + 1] = { fn = "connect", arg = opts, port = port }
  if http_script.connect_error then return nil, http_script.connect_error end
  return true
end
function httpc:request(params)
  http_calls[#http_calls + 1] = { fn = "request", arg = params }
  if http_script.request_error then return nil, http_script.request_error end
  local answer = http_script.answer or ""
  return { status = http_script.status, headers = {}, read_body = function() return answer end }
end
function httpc:set_keepalive(timeout, pool)
  http_calls[#http_calls + 1] = { fn = "set_keepalive", arg = { timeout, pool } }
  return 1
end
function httpc:close()
  http_calls[#http_calls + 1] = { fn = "close" }
  return 1
end

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
    if modname == "kong.tools.queue" then return queue_double end
    if modname == "resty.http" then return http_double end
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
    calls = {},
    enqueued = {},
    body_reads = 0,
  }
  for k, v in pairs(c.headers or {}) do req.headers[k:lower()] = v end
end

-- A whole request ("request" cases): what the PDK getters and ngx.var return.
local function new_full_request(c)
  new_request(c)
  for k, v in pairs(c.response_headers or {}) do req.headers[k:lower()] = v end
  for k, v in pairs(c.ngx_ctx or {}) do req.ngx_ctx[k] = v end
  req.method = c.method or "GET"
  req.path = c.path or "/"
  req.raw_query = c.raw_query or ""
  req.query = c.query or {}
  req.body = c.body
  req.body_in_file = c.body_in_file == true
  req.forwarded_ip = c.forwarded_ip
  req.start_time = c.start_time or 1700000000.123
  req.route, req.service = c.route, c.service
  req.node_id = c.node_id or "node-1"
  -- header lines in arrival order: a list of { name, value }, or a map (any order)
  local lines = {}
  local h = c.request_headers or {}
  if #h > 0 then
    for i, line in ipairs(h) do lines[i] = { line[1], line[2] } end
  else
    local names = {}
    for k in pairs(h) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do
      local v = h[k]
      if type(v) == "table" then
        for _, x in ipairs(v) do lines[#lines + 1] = { k, x } end
      else
        lines[#lines + 1] = { k, v }
      end
    end
  end
  req.request_lines = lines
  local function first(name)
    for _, line in ipairs(lines) do if line[1]:lower() == name then return line[2] end end
  end
  req.var = {
    kong_request_id = "req-1",
    request_uri = req.path .. (req.raw_query ~= "" and ("?" .. req.raw_query) or ""),
    request_length = "100",
    bytes_sent = "200",
    request_time = "0.012",
    remote_addr = "10.0.0.1",
    content_length = first("content-length"),
    http_transfer_encoding = first("transfer-encoding"),
  }
  for k, v in pairs(c.var or {}) do req.var[k] = v end
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

-- A whole request; then the queue's handler over the entries it enqueued, once per
-- `flush` script.
local function run_request_case(chunk, c)
  new_full_request(c)
  local ok, err = pcall(run_handler, chunk)
  local result = {
    name = c.name,
    ok = ok,
    error = not ok and tostring(err) or nil,
    shared = req.shared,
    calls = req.calls,
    upstream_headers = req.upstream_headers,
    response_headers = req.headers,
    logs = req.logs,
    body_reads = req.body_reads,
    exited = req.exited,
    enqueued = req.enqueued,
    flushes = {},
  }
  for i, script in ipairs(c.flush or {}) do
    local entries = {}
    for j, e in ipairs(req.enqueued) do entries[j] = e.entry end
    http_script, http_calls = script, {}
    local before = #req.logs
    local pok, hok, herr = pcall(req.queue_handler, req.enqueued[1] and req.enqueued[1].handler_conf, entries)
    local sent
    for _, call in ipairs(http_calls) do
      if call.fn == "request" and type(call.arg) == "table" and type(call.arg.body) == "string" then
        sent = real_cjson.decode(call.arg.body)
      end
    end
    local logs = {}
    for j = before + 1, #req.logs do logs[#logs + 1] = req.logs[j] end
    result.flushes[i] = {
      ok = pok and hok or false,
      raised = not pok and tostring(hok) or nil,
      err = pok and herr or nil,
      http = http_calls,
      batch = sent,
      logs = logs,
    }
  end
  return result
end

local results = {}
local chunk = load_handler(spec.code, spec.requires)
for i, c in ipairs(spec.cases) do
  if c.kind == "header" then
    results[i] = run_header_case(chunk, c)
  elseif c.kind == "access" then
    results[i] = run_access_case(chunk, c)
  elseif c.kind == "request" then
    results[i] = run_request_case(chunk, c)
  else
    results[i] = run_body_case(chunk, c)
  end
end
io.write(encode({ decoder = decoder, results = results }), "\n")
