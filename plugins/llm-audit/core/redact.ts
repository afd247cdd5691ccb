/**
 * Redaction of what an audit record copies from the request: header values, query
 * values, the path, captured prompts and answers. Two gates, both always applied:
 * 1. by name: a header or query parameter named in `SENSITIVE_NAMES` or the operator's
 *    list is written as `[REDACTED]` whatever it holds (after llm-auth, `authorization`
 *    holds the company's OpenAI key; `cookie` holds sessions);
 * 2. by content: every value goes through the shared engine's detectors
 *    (plugins/shared/redaction, the one engine; this file only decides what to write
 *    for a span). A secret span is always replaced by `[REDACTED:<type>]`, even if the
 *    operator's policy says `allow` for it: an audit log is a copy that outlives the
 *    request, and a leaked key in it is an incident. Other spans follow the policy:
 *    `allow` keeps the text, `mask` writes the engine's mask, `redact`/`block` the label.
 *
 * Bounds: a value is scanned over its first `maxBytes + SCAN_MARGIN_UNITS` UTF-16 units
 * only (the detectors are linear, but a 10 MB header is not worth scanning), then cut
 * to `maxBytes`. Scanning before cutting means a secret that straddles the cut is
 * replaced whole, never left as a prefix no detector recognizes. The margin covers
 * the longest secret format (a PEM private key, ~3.3 KB for RSA-4096).
 * Pure: no Kong, no I/O.
 */
import { maskValue, SECRET_TYPES, type RedactionPolicy } from '../../shared/redaction';
import { prefixFor, truncateUtf8, type BoundedText } from './text';

/** Written instead of a value whose name marks it secret. */
export const REDACTED = '[REDACTED]';
/** UTF-16 units scanned past a value's byte budget (see the file comment). */
export const SCAN_MARGIN_UNITS = 16 * 1024;

/**
 * Header and query names whose values are never written. Lower case; compared with
 * the lower-cased name. `api-key` is Azure OpenAI's header, `x-api-key` the common
 * gateway one; `proxy-authorization` and `set-cookie` are the other credential carriers.
 */
export const SENSITIVE_NAMES: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
  'api_key',
  'apikey',
  'access_token',
  'client_secret',
  // other gateways' and clouds' credential headers and parameters a client may send
  'x-auth-token',
  'x-access-token',
  'x-goog-api-key',
  'ocp-apim-subscription-key',
  'x-functions-key',
  'x-amz-security-token',
  'refresh_token',
  'id_token',
  'token',
  'key',
  'password',
  'secret',
  'signature',
  'sig',
];

const SECRETS: ReadonlySet<string> = new Set(SECRET_TYPES);

/** The compiled redaction settings of one audit config (built once, not per request). */
export interface ValueRedactor {
  readonly policy: RedactionPolicy;
  /** Lower-cased names whose values are written as `[REDACTED]`. */
  readonly names: ReadonlySet<string>;
}

/** The redactor for `policy` with the default names plus `extraNames` (case-insensitive). */
export function compileValueRedactor(policy: RedactionPolicy, extraNames: readonly string[] = []): ValueRedactor {
  const names = new Set(SENSITIVE_NAMES);
  for (const n of extraNames) if (typeof n === 'string' && n !== '') names.add(n.toLowerCase());
  return { policy, names };
}

/** What is written for one detected span of entity `type`. */
function replacement(policy: RedactionPolicy, type: string, value: string): string {
  if (SECRETS.has(type)) return `[REDACTED:${type}]`;
  switch (policy.actionFor(type)) {
    case 'allow':
      return value;
    case 'mask':
      return maskValue(type as Parameters<typeof maskValue>[0], value);
    default:
      return `[REDACTED:${type}]`;
  }
}

/**
 * `text` with every detected span replaced (see the file comment), then cut to
 * `maxBytes` of UTF-8. Never throws on a string; a non-string gives an empty text.
 */
export function redactText(policy: RedactionPolicy, text: string, maxBytes: number): BoundedText {
  if (typeof text !== 'string') return { text: '', truncated: false, original_bytes: 0 };
  const scanned = prefixFor(text, Math.max(0, Math.floor(maxBytes)) + SCAN_MARGIN_UNITS);
  const spans = policy.scan(scanned);
  let out = '';
  let at = 0;
  for (const s of spans) {
    out += scanned.slice(at, s.start) + replacement(policy, s.type, scanned.slice(s.start, s.end));
    at = s.end;
  }
  out += scanned.slice(at);
  const cut = truncateUtf8(out, maxBytes);
  const original = Buffer.byteLength(text, 'utf8');
  return { text: cut.text, truncated: cut.truncated || scanned.length < text.length, original_bytes: original };
}

/** One value of a named field (header or query parameter): by name, then by content. */
export function redactNamedValue(r: ValueRedactor, name: string, value: string, maxBytes: number): string {
  if (r.names.has(name.toLowerCase())) return REDACTED;
  return redactText(r.policy, value, maxBytes).text;
}
