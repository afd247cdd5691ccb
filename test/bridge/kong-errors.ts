/**
 * The bodies Kong writes itself, with the messages and templates of Kong 3.10:
 * - `kong.response.error` (kong/pdk/response.lua `_RESPONSE.error`, messages from
 *   its HTTP_ERROR_MESSAGES), also how Kong answers a plugin's Lua error in access
 *   (kong/init.lua: delayed_response 500 flushed through kong.response.error);
 * - the nginx `error_page` handler (kong/error_handlers.lua) for statuses in
 *   nginx_kong.lua's error_page list produced with no body: an exit without a body,
 *   an upstream that failed;
 * - the templates and Accept negotiation of kong/tools/http.lua
 *   (get_response_type, get_mime_type, get_error_template).
 */
import type { Headers } from './request-context';

/** nginx_kong.lua: `error_page 400 404 405 408 411 412 413 414 417 /kong_error_handler; 494; 500 502 503 504`. */
export const ERROR_PAGE_STATUSES = new Set([400, 404, 405, 408, 411, 412, 413, 414, 417, 494, 500, 502, 503, 504]);

/** kong/error_handlers.lua BODIES. */
const ERROR_HANDLER_BODIES: Record<number, string> = {
  400: 'Bad request', 404: 'Not found', 405: 'Method not allowed', 408: 'Request timeout', 411: 'Length required',
  412: 'Precondition failed', 413: 'Payload too large', 414: 'URI too long', 417: 'Expectation failed',
  494: 'Request header or cookie too large', 500: 'An unexpected error occurred',
  502: 'An invalid response was received from the upstream server', 503: 'The upstream server is currently unavailable',
  504: 'The upstream server is timing out',
};

/** kong/pdk/response.lua HTTP_ERROR_MESSAGES (kong.response.error's defaults). */
const HTTP_ERROR_MESSAGES: Record<number, string> = {
  400: 'Bad request', 401: 'Unauthorized', 402: 'Payment required', 403: 'Forbidden', 404: 'Not found',
  405: 'Method not allowed', 406: 'Not acceptable', 407: 'Proxy authentication required', 408: 'Request timeout',
  409: 'Conflict', 410: 'Gone', 411: 'Length required', 412: 'Precondition failed', 413: 'Payload too large',
  414: 'URI too long', 415: 'Unsupported media type', 416: 'Range not satisfiable', 417: 'Expectation failed',
  418: "I'm a teapot", 421: 'Misdirected request', 422: 'Unprocessable entity', 423: 'Locked', 424: 'Failed dependency',
  425: 'Too early', 426: 'Upgrade required', 428: 'Precondition required', 429: 'Too many requests',
  431: 'Request header fields too large', 451: 'Unavailable for legal reasons', 494: 'Request header or cookie too large',
  500: 'An unexpected error occurred', 501: 'Not implemented', 502: 'An invalid response was received from the upstream server',
  503: 'The upstream server is currently unavailable', 504: 'The upstream server is timing out',
  505: 'HTTP version not supported', 506: 'Variant also negotiates', 507: 'Insufficient storage', 508: 'Loop detected',
  510: 'Not extended', 511: 'Network authentication required',
};

const MIME_JSON = 'application/json; charset=utf-8';
/** kong/tools/http.lua MIME_TYPES. */
const MIME_TYPES: Record<string, string> = {
  'text/html': 'text/html; charset=utf-8',
  'application/json': MIME_JSON,
  'text/plain': 'text/plain; charset=utf-8',
  'application/xml': 'application/xml; charset=utf-8',
  application: MIME_JSON,
  text: 'text/plain; charset=utf-8',
  default: MIME_JSON,
};

/** kong/tools/http.lua ERROR_TEMPLATES: message then request id, not escaped (as Kong). */
const TEMPLATES: Record<string, (message: string, rid: string) => string> = {
  [MIME_JSON]: (m, r) => `{\n  "message":"${m}",\n  "request_id":"${r}"\n}`,
  'text/html; charset=utf-8': (m, r) =>
    `<!doctype html>\n<html>\n  <head>\n    <meta charset="utf-8">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>${m}.</p>\n    <p>request_id: ${r}</p>\n  </body>\n</html>\n`,
  'application/xml; charset=utf-8': (m, r) => `<?xml version="1.0" encoding="UTF-8"?>\n<error>\n  <message>${m}</message>\n  <requestid>${r}</requestid>\n</error>\n`,
  'text/plain; charset=utf-8': (m, r) => `${m}\nrequest_id: ${r}\n`,
};

/** http.lua ACCEPT_PATTERN: a media range, then its q (if any). */
const ACCEPT = /^((?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*)\s*\/\s*(?:[a-z0-9][a-z0-9\-!#$&^_+.]+|\*))(?:\s*;\s*q\s*=\s*(1(?:\.0{0,3})?|0(?:\.\d{0,3})?)|\s*;\s*[a-z0-9][a-z0-9\-!#$&^_+.]+(?:=[^;]*)?)*/i;

/** http.lua get_mime_type(content_header): exact type, `type/*`, or the default. */
function mimeType(value: string): string {
  const bare = value.trim().split(';')[0];
  const parts = bare.split('/');
  if (parts.length > 1) {
    const found = parts[1] === '*' ? (parts[0] === '*' ? MIME_TYPES.default : MIME_TYPES[parts[0]]) : MIME_TYPES[bare];
    if (found) return found;
  }
  return MIME_TYPES.default;
}

/** http.lua get_response_type(accept): the highest-q media range Kong knows; JSON by default. */
export function responseType(accept: string | string[] | undefined): string {
  let type = MIME_TYPES.default;
  if (accept === undefined) return type;
  let best = 0;
  for (const raw of (Array.isArray(accept) ? accept.join(',') : accept).split(',')) {
    const m = ACCEPT.exec(raw.trim());
    if (!m) continue;
    const qv = m[2] !== undefined ? Number(m[2]) : 1;
    if (qv > best) {
      best = qv;
      type = mimeType(m[1].replace(/\s+/g, ''));
    }
  }
  return type;
}

export interface KongBody {
  status: number;
  headers: Headers;
  body: Buffer;
}

function templated(status: number, mime: string, message: string, requestId: string, headers: Headers): KongBody {
  const body = Buffer.from((TEMPLATES[mime] ?? TEMPLATES[MIME_JSON])(message, requestId));
  headers.set('content-type', [mime]);
  headers.set('content-length', [String(body.length)]);
  return { status, headers, body };
}

/** kong.response.error(status, message): Content-Type from the caller, else the Accept header. */
export function pdkErrorBody(status: number, message: string | null, requestId: string, accept: string | string[] | undefined, headers: Headers): KongBody {
  const mime = headers.get('content-type')?.[0] ?? responseType(accept);
  return templated(status, mime, message ?? HTTP_ERROR_MESSAGES[status] ?? `The upstream server responded with ${status}`, requestId, headers);
}

/** error_handlers.lua: Accept, else the request's Content-Type, else error_default_type (text/plain). */
export function errorPageBody(status: number, request: Headers, requestId: string, headers: Headers): KongBody {
  const accept = request.get('accept') ?? request.get('content-type') ?? ['text/plain'];
  const message = ERROR_HANDLER_BODIES[status] ?? `The upstream server responded with ${status}`;
  return templated(status === 494 ? 400 : status, responseType(accept[0]), message, requestId, headers);
}
