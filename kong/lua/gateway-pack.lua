-- llm-gateway-pack: an access chunk for Kong's bundled pre-function plugin.
--
-- Packs the request into kong.ctx.shared.llm_gateway_request (PackedRequest,
-- plugins/llm-gateway/contract.ts), so the llm-gateway JS plugin reads it with ONE
-- kong.ctx.shared.get instead of a PDK round trip per getter (get_headers, get_path,
-- get_raw_query, get_raw_body, get_forwarded_ip):
--
--   request_id    ngx.var.kong_request_id (what kong.log.serialize() logs as
--                 request.id, kong/pdk/log.lua)
--   method        kong.request.get_method()
--   path          kong.request.get_path()
--   raw_query     kong.request.get_raw_query()
--   headers       kong.request.get_headers(): Kong's default of at most 100 header
--                 lines (kong/pdk/request.lua get_headers -> ngx.req.get_headers), as
--                 the JS getter gets them
--   forwarded_ip  kong.client.get_forwarded_ip()
--   body_base64   ngx.encode_base64(kong.request.get_raw_body()), only when the
--                 request has a body (Content-Length > 0, or a Transfer-Encoding) and
--                 it is in memory. Base64 because a Lua string in kong.ctx.shared
--                 crosses the RPC as a MessagePack str, which kong-pdk decodes as
--                 UTF-8: a body with invalid UTF-8 would reach the stages altered
--   body_unread   true when it has a body get_raw_body() cannot return: larger than
--                 client_body_buffer_size, nginx spooled it to a file, and
--                 kong/pdk/request.lua get_raw_body() then returns nil and an error
--                 (without max_allowed_file_size it never reads the file). The JS
--                 side answers 500 when a stage needs it, as Kong does for a JS
--                 plugin calling get_raw_body() then.
--
-- Whether the request has a body is read from ngx.var (content_length,
-- http_transfer_encoding), not from the headers table: get_headers() stops at 100
-- lines, and a Content-Length past them would read as "no body". A request without a
-- body is never read (get_raw_body() calls ngx.req.read_body(), needless work for a
-- GET). The pre-function runs before every plugin (priority 1000000), so the pack
-- holds the request as the client sent it. Needs no `require`.

local type, tonumber = type, tonumber
local encode_base64 = ngx.encode_base64

return function()
  local request = kong.request
  local var = ngx.var

  local packed = {
    request_id = var.kong_request_id,
    method = request.get_method(),
    path = request.get_path(),
    raw_query = request.get_raw_query(),
    -- the first return value only: the second says "truncated"
    headers = (request.get_headers()),
    forwarded_ip = kong.client.get_forwarded_ip(),
  }

  local length = tonumber(var.content_length)
  if (length ~= nil and length > 0) or var.http_transfer_encoding ~= nil then
    local body = request.get_raw_body()
    if type(body) == "string" then
      packed.body_base64 = encode_base64(body)
    else
      packed.body_unread = true
    end
  end

  kong.ctx.shared.llm_gateway_request = packed
end
