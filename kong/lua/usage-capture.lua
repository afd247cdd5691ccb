-- llm-usage-capture: a body_filter chunk for Kong's bundled post-function plugin.
--
-- Reads the token usage of an OpenAI answer as it streams to the client, without
-- buffering the answer, and publishes it for the JS plugins and Kong's log plugins:
--
--   kong.ctx.shared.llm_usage = { prompt_tokens, completion_tokens, total_tokens,
--                                 cached_tokens?, reasoning_tokens?, source }
--   kong.log.set_serialize_value("llm.usage", <the same fields>)
--
-- (plugins/shared/usage.ts: `LlmUsage`, `USAGE_CTX_KEY`; a missing cached_tokens or
-- reasoning_tokens is "not reported" and reads as null there.) Responses API usage
-- (input_tokens, output_tokens, *_details) is mapped onto the Chat names. A usage
-- that does not have the shape (a count missing, negative, fractional) is ignored.
--
-- When the body ends and no usage was published, it publishes instead, under the same
-- key and as the same serialize value, what is known of the answer, so a reader
-- (llm-rate-limit settling a reservation, the log) can tell "no usage in it" from
-- "not seen" (plugins/shared/usage.ts: `UnmeasuredAnswer`):
--
--   { source = "none", status = <integer>, answer_bytes = <integer>,
--     stream = <Content-Type text/event-stream>, encoded = <a Content-Encoding other
--     than identity> }
--
-- answer_bytes counts the upstream body as it reached this filter, before anything is
-- dropped (a running sum of the chunk sizes: what OpenAI sent, decompressed or not).
-- This record is published for every answer, non-2xx and compressed ones included,
-- even without cjson.safe (it needs no decoding). Nothing is published when the body
-- never ends here (the client went away mid-stream) or when the response is not the
-- upstream's (kong.response.get_source() ~= "service": a kong.response.exit or an
-- error page; Kong runs body_filter on those too, and they carry no OpenAI usage).
--
-- What it reads usage from (decided once per request, at its first body chunk):
--   * 2xx answers only; no Content-Encoding (a gzip/deflate body is left alone);
--   * Content-Type application/json: the last TAIL_MAX bytes are kept, and at the end
--     of the body the last `"usage":{...}` object in them is decoded (source "response");
--   * Content-Type text/event-stream: `data:` lines are read as they pass (a line may
--     be split across chunks; an event is dispatched at its blank line, data lines
--     joined by "\n" as the SSE spec says); an event whose JSON has a `usage` object
--     (Chat/Completions: the include_usage chunk; Responses: `response.usage` of
--     response.completed / incomplete / failed) is read (source "stream"; the last one
--     wins). A line longer than LINE_MAX is not decoded whole: its last TAIL_MAX bytes
--     are searched for `"usage":{...}` instead (a long response.completed event).
--   * Dropping: when kong.ctx.shared.llm_guard.include_usage_injected == true or
--     kong.ctx.shared.llm_rate_limit.include_usage_injected == true (llm-guard, or
--     llm-rate-limit where no guard ran, added stream_options.include_usage for a
--     client that did not ask for it), the
--     usage-only event (`choices` an empty array, `usage` an object) is removed from
--     what the client receives: the whole event block, up to and including its blank
--     line. To do that, the bytes of the current event are held back until the event is
--     complete (at most HOLD_MAX bytes; a bigger event is passed on and never dropped).
--     Every other byte reaches the client unchanged and in order. Nothing is dropped
--     when the answer has a Content-Length (it could no longer be honoured).
--   * kong.ctx.shared.llm_usage already set when the body starts (say by a JS plugin
--     that buffered the answer): left as it is, nothing is published here.
--
-- Bounded memory per request: about LINE_MAX + HOLD_MAX + 2 * TAIL_MAX bytes at most;
-- time linear in the body (each byte is looked at a constant number of times, plus
-- one JSON decode of the few events that mention `"usage":{`).
--
-- Requires cjson.safe: in Kong's default sandbox (untrusted_lua = sandbox) `require` is
-- denied unless the module is listed in untrusted_lua_sandbox_requires (kong.env:
-- KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES=cjson.safe). Without it this filter logs one
-- error per worker and passes every body through untouched (no usage, no dropping).
--
-- State lives in ngx.ctx.llm_usage_capture (per request); the upvalues below are
-- per worker and never hold request data.

local ok_cjson, cjson = pcall(require, "cjson.safe")
if not ok_cjson or type(cjson) ~= "table" then
  cjson = nil
elseif type(cjson.new) == "function" then
  -- an instance of our own: lua-cjson's default also takes hex, inf and nan for numbers,
  -- which are not JSON (RFC 8259) and which OpenAI never sends; refused, a count in
  -- such a form is no count. Settings of the shared module are left alone.
  cjson = cjson.new()
  cjson.decode_invalid_numbers(false)
end

local TAIL_MAX = 8192     -- JSON answer tail; tail of an over-long SSE line
local LINE_MAX = 65536    -- SSE event data decoded whole up to this size
local HOLD_MAX = 16384    -- bytes of one SSE event held back while dropping
local MAX_INT = 9007199254740991

local find, sub, byte, lower = string.find, string.sub, string.byte, string.lower
local concat = table.concat
local floor = math.floor

local USAGE_KEY = '"usage"%s*:%s*{'
-- not the upstream's answer: nothing counted, nothing published (shared: no request data)
local SKIP = { mode = "skip" }
local warned = false

-- A string buffer as a stack of pieces, each at least twice as long as the next
-- (PiL's "tower of Hanoi"): O(log n) pieces, each byte copied O(log n) times.
local function b_new()
  return { n = 0 }
end

local function b_add(b, s)
  local k = #b + 1
  b[k] = s
  b.n = b.n + #s
  while k > 1 and #b[k - 1] <= #b[k] do
    b[k - 1] = b[k - 1] .. b[k]
    b[k] = nil
    k = k - 1
  end
end

local function b_reset(b)
  for i = #b, 1, -1 do b[i] = nil end
  b.n = 0
end

-- The last `cap` bytes of what was added: a kept string plus a buffer of newer bytes.
local function t_new()
  return { s = "", b = b_new() }
end

local function t_add(t, s, cap)
  b_add(t.b, s)
  if t.b.n > cap then
    t.s = sub(concat(t.b), -cap)
    b_reset(t.b)
  end
end

local function t_get(t, cap)
  return sub(t.s .. concat(t.b), -cap)
end

local function non_neg_int(v)
  return type(v) == "number" and v >= 0 and v <= MAX_INT and floor(v) == v
end

local function is_null(v)
  return v == nil or v == cjson.null
end

-- A count from a details object: absent or null is unknown (nil, true); otherwise it
-- must be a non-negative integer, else the whole usage is refused (nil, false).
local function detail(details, key)
  if is_null(details) then return nil, true end
  if type(details) ~= "table" then return nil, false end
  local v = details[key]
  if is_null(v) then return nil, true end
  if non_neg_int(v) then return v, true end
  return nil, false
end

-- usageFromOpenAi (plugins/shared/usage.ts), in Lua.
local function map_usage(u, source)
  if type(u) ~= "table" then return nil end
  local responses = u.input_tokens ~= nil or u.output_tokens ~= nil
  local prompt, completion
  if responses then
    prompt, completion = u.input_tokens, u.output_tokens
  else
    prompt, completion = u.prompt_tokens, u.completion_tokens
    if is_null(completion) then completion = 0 end
  end
  local total = u.total_tokens
  if not (non_neg_int(prompt) and non_neg_int(completion) and non_neg_int(total)) then
    return nil
  end
  local cached, ok1 = detail(responses and u.input_tokens_details or u.prompt_tokens_details, "cached_tokens")
  local reasoning, ok2 = detail(responses and u.output_tokens_details or u.completion_tokens_details, "reasoning_tokens")
  if not (ok1 and ok2) then return nil end
  return {
    prompt_tokens = prompt,
    completion_tokens = completion,
    total_tokens = total,
    cached_tokens = cached,
    reasoning_tokens = reasoning,
    source = source,
  }
end

-- Position of the `}` closing the object that opens at `i`, strings and escapes
-- respected; nil when it does not close within `s`.
local function object_end(s, i)
  local depth = 0
  while true do
    i = find(s, '[{}%[%]"]', i)
    if not i then return nil end
    local c = byte(s, i)
    if c == 34 then -- a string: skip to its closing quote
      local j = i + 1
      while true do
        j = find(s, '["\\]', j)
        if not j then return nil end
        if byte(s, j) == 92 then
          j = j + 2
        else
          break
        end
      end
      i = j + 1
    else
      if c == 123 or c == 91 then
        depth = depth + 1
      else
        depth = depth - 1
        if depth == 0 then return i end
      end
      i = i + 1
    end
  end
end

-- The last well-formed usage object in `s` (a tail of a JSON text), mapped; nil if none.
local function usage_in_tail(s, source)
  local starts, n = {}, 0
  local init = 1
  while true do
    local p, e = find(s, USAGE_KEY, init)
    if not p then break end
    local bs, j = 0, p - 1
    while j >= 1 and byte(s, j) == 92 do
      bs, j = bs + 1, j - 1
    end
    if bs % 2 == 0 then -- not an escaped quote inside a string
      n = n + 1
      starts[n] = e
    end
    init = p + 1
  end
  for k = n, 1, -1 do
    local e = object_end(s, starts[k])
    if e then
      local usage = map_usage(cjson.decode(sub(s, starts[k], e)), source)
      if usage then return usage end
    end
  end
  return nil
end

local function publish(st, usage)
  if st.preset then return end
  st.published = true
  kong.ctx.shared.llm_usage = usage
  kong.log.set_serialize_value("llm.usage", {
    prompt_tokens = usage.prompt_tokens,
    completion_tokens = usage.completion_tokens,
    total_tokens = usage.total_tokens,
    cached_tokens = usage.cached_tokens,
    reasoning_tokens = usage.reasoning_tokens,
    source = usage.source,
  })
end

-- The end of the body: the answer's facts when no usage was published.
local function publish_none(st)
  if st.preset or st.published then return end
  local none = {
    source = "none",
    status = st.status,
    answer_bytes = st.bytes,
    stream = st.stream,
    encoded = st.encoded,
  }
  kong.ctx.shared.llm_usage = none
  kong.log.set_serialize_value("llm.usage", {
    source = "none",
    status = st.status,
    answer_bytes = st.bytes,
    stream = st.stream,
    encoded = st.encoded,
  })
end

local function first(v)
  if type(v) == "table" then return v[1] end
  return v
end

local function init()
  if kong.response.get_source() ~= "service" then return SKIP end
  local status = kong.response.get_status()
  local headers = kong.response.get_headers()
  local encoding = first(headers["content-encoding"])
  local ct = first(headers["content-type"])
  ct = type(ct) == "string" and lower(ct) or nil
  local st = {
    mode = "off",
    preset = kong.ctx.shared.llm_usage ~= nil,
    published = false,
    bytes = 0,
    -- nginx's status is always an integer by now; 0 would only say it was not
    status = type(status) == "number" and status or 0,
    stream = ct ~= nil and find(ct, "^%s*text/event%-stream") ~= nil,
    encoded = type(encoding) == "string" and lower(encoding) ~= "identity",
  }
  if not cjson then
    if not warned then
      warned = true
      kong.log.err("llm usage capture disabled: require 'cjson.safe' failed ",
                   "(add cjson.safe to untrusted_lua_sandbox_requires)")
    end
    return st
  end
  if st.status < 200 or st.status > 299 or st.encoded or ct == nil then return st end
  if find(ct, "^%s*application/json") then
    st.mode = "json"
    st.tail = t_new()
    return st
  end
  if not st.stream then return st end
  st.mode = "sse"
  local guard, limiter = kong.ctx.shared.llm_guard, kong.ctx.shared.llm_rate_limit
  st.drop = ((type(guard) == "table" and guard.include_usage_injected == true)
    or (type(limiter) == "table" and limiter.include_usage_injected == true))
    and headers["content-length"] == nil
  -- the current line: pieces while short; head and tail once over LINE_MAX
  st.line = b_new()
  st.lover = false
  -- the current event: its data values (or the tail of its data once over LINE_MAX)
  st.data, st.ndata, st.ldata = {}, 0, 0
  st.ebig, st.etail = false, nil
  -- held bytes of the current event (drop mode)
  st.hold = b_new()
  st.hpass = false
  return st
end

-- The end of an event: read its data; in drop mode, emit or drop its held bytes.
-- `final`: the body ended without the event's blank line (read it, never drop it).
local function dispatch(st, out, final)
  local drop_it = false
  if st.ebig then
    local usage = usage_in_tail(st.etail, "stream")
    if usage then publish(st, usage) end
  elseif st.ndata > 0 then
    local data = st.ndata == 1 and st.data[1] or concat(st.data, "\n", 1, st.ndata)
    if find(data, USAGE_KEY) then
      local obj = cjson.decode(data)
      if type(obj) == "table" then
        local u = obj.usage
        if type(u) ~= "table" and type(obj.response) == "table" then u = obj.response.usage end
        local usage = map_usage(u, "stream")
        if usage then publish(st, usage) end
        local choices = obj.choices
        drop_it = type(obj.usage) == "table" and type(choices) == "table" and next(choices) == nil
      end
    end
  end
  for i = st.ndata, 1, -1 do st.data[i] = nil end
  st.ndata, st.ldata, st.ebig, st.etail = 0, 0, false, nil
  if st.drop then
    if not (drop_it and not final and not st.hpass) and st.hold.n > 0 then
      out[#out + 1] = concat(st.hold)
    end
    b_reset(st.hold)
    st.hpass = false
  end
end

local function add_data(st, v)
  if st.ebig then
    st.etail = sub(st.etail .. "\n" .. v, -TAIL_MAX)
    return
  end
  if st.ldata + #v > LINE_MAX then
    local joined = st.ndata > 0 and (concat(st.data, "\n", 1, st.ndata) .. "\n" .. v) or v
    st.ebig, st.etail = true, sub(joined, -TAIL_MAX)
    for i = st.ndata, 1, -1 do st.data[i] = nil end
    st.ndata, st.ldata = 0, 0
    return
  end
  st.ndata = st.ndata + 1
  st.data[st.ndata] = v
  st.ldata = st.ldata + #v + 1
end

-- A complete line (without its "\n").
local function on_line(st, line, out)
  local n = #line
  if n == 0 or (n == 1 and byte(line, 1) == 13) then
    return dispatch(st, out, false)
  end
  if sub(line, 1, 5) == "data:" then
    local first = byte(line, 6) == 32 and 7 or 6
    local last = byte(line, n) == 13 and n - 1 or n
    add_data(st, sub(line, first, last))
  end
end

-- An over-long line ended: only its head and tail are known.
local function on_long_line(st, head, tail)
  if sub(head, 1, 5) == "data:" then
    st.ebig = true
    st.etail = tail
    for i = st.ndata, 1, -1 do st.data[i] = nil end
    st.ndata, st.ldata = 0, 0
  end
end

local function line_add(st, s)
  if s == "" then return end
  if st.lover then
    t_add(st.ltail, s, TAIL_MAX)
    return
  end
  b_add(st.line, s)
  if st.line.n > LINE_MAX then
    local all = concat(st.line)
    b_reset(st.line)
    st.lover = true
    st.lhead = sub(all, 1, 16)
    st.ltail = t_new()
    t_add(st.ltail, all, TAIL_MAX)
  end
end

local function hold(st, s, out)
  if s == "" then return end
  if st.hpass then
    out[#out + 1] = s
    return
  end
  b_add(st.hold, s)
  if st.hold.n > HOLD_MAX then -- too big to be the usage-only event: pass it on
    out[#out + 1] = concat(st.hold)
    b_reset(st.hold)
    st.hpass = true
  end
end

local function sse_chunk(st, chunk, eof)
  local out = st.drop and {} or nil
  local pos, len = 1, #chunk
  while pos <= len do
    local nl = find(chunk, "\n", pos, true)
    if not nl then
      local rest = sub(chunk, pos)
      line_add(st, rest)
      if out then hold(st, rest, out) end
      break
    end
    local piece = sub(chunk, pos, nl - 1)
    if out then hold(st, sub(chunk, pos, nl), out) end
    if st.lover then
      t_add(st.ltail, piece, TAIL_MAX)
      local head, tail = st.lhead, t_get(st.ltail, TAIL_MAX)
      st.lover, st.lhead, st.ltail = false, nil, nil
      on_long_line(st, head, tail)
    elseif st.line.n > 0 then
      b_add(st.line, piece)
      local line = concat(st.line)
      b_reset(st.line)
      on_line(st, line, out)
    else
      on_line(st, piece, out)
    end
    pos = nl + 1
  end
  if eof then
    -- an unterminated last line is discarded by SSE clients: not read here either
    if st.ndata > 0 or st.ebig then
      dispatch(st, out or {}, true)
    elseif out and st.hold.n > 0 then
      out[#out + 1] = concat(st.hold)
      b_reset(st.hold)
    end
  end
  if out then
    ngx.arg[1] = concat(out)
  end
end

return function()
  local ctx = ngx.ctx
  local st = ctx.llm_usage_capture
  if st == nil then
    st = init()
    ctx.llm_usage_capture = st
  end
  local mode = st.mode
  if mode == "skip" then return end

  local chunk, eof = ngx.arg[1], ngx.arg[2]
  if type(chunk) ~= "string" then chunk = "" end
  st.bytes = st.bytes + #chunk

  if mode == "json" then
    if chunk ~= "" then t_add(st.tail, chunk, TAIL_MAX) end
    if eof then
      local usage = usage_in_tail(t_get(st.tail, TAIL_MAX), "response")
      if usage then publish(st, usage) end
    end
  elseif mode == "sse" then
    sse_chunk(st, chunk, eof)
  end
  if eof then
    publish_none(st)
    ctx.llm_usage_capture = SKIP -- the body is over: let the buffers go
  end
end
