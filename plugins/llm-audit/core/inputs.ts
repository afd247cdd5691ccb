/**
 * Readers for what the audit record is built from. Each value crossed Kong's socket
 * (kong.log.serialize(), kong.ctx.shared): treat it as hostile. A reader returns the
 * value in our shape or null, never throws, and bounds every string, list and map it
 * keeps (counts below), so a request cannot make its own record huge.
 * Header and query VALUES are not read here: redact.ts decides what is written.
 * Pure: no Kong, no I/O.
 */
import type { PublishedIdentity } from '../../shared/marks';
import { isObj, nonNegInt, plainString } from './text';

/** Kong's default limit on request headers (lua_max_req_headers) and query args. */
export const MAX_FIELDS = 100;
/** Bytes kept of an id or a name (consumer, route, request id, ...). */
export const MAX_ID_BYTES = 256;
/** Entries kept of a findings map or a rate-limit decision's limits. */
export const MAX_ENTRIES = 64;
/** Finding types and limit ids: what the suite emits (`email`, `custom:emp_id`, `rpm.tokens`). */
const KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,80}$/;
/** Header names are HTTP tokens (RFC 9110 §5.6.2). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;

/** A list of values: one string, or several (a repeated header or query parameter). */
export type FieldValue = string | string[] | true;

/**
 * A header or query table as Kong serializes it, bounded: names lower-cased (headers)
 * or kept (query), at most `MAX_FIELDS` names, at most `MAX_FIELDS` values per name.
 * `true` is a query flag without `=`. Values are not yet redacted.
 */
export function readFieldTable(v: unknown, lowerNames: boolean): Map<string, FieldValue> | null {
  if (!isObj(v)) return Array.isArray(v) && v.length === 0 ? new Map() : null;
  const out = new Map<string, FieldValue>();
  for (const [rawName, raw] of Object.entries(v)) {
    if (out.size >= MAX_FIELDS) break;
    const name = lowerNames ? rawName.toLowerCase() : rawName;
    if (lowerNames ? !HEADER_NAME.test(name) : name.length === 0 || name.length > 256) continue;
    if (raw === true) out.set(name, true);
    else if (typeof raw === 'string') out.set(name, raw);
    else if (Array.isArray(raw)) {
      const vals = raw.filter((x): x is string => typeof x === 'string').slice(0, MAX_FIELDS);
      if (vals.length > 0) out.set(name, vals);
    }
  }
  return out;
}

/** `{ id, name }` of a Kong entity (route, service), each bounded, null when absent. */
export function readEntity(v: unknown): { id: string | null; name: string | null } {
  if (!isObj(v)) return { id: null, name: null };
  return { id: plainString(v.id, MAX_ID_BYTES), name: plainString(v.name, MAX_ID_BYTES) };
}

/** The identity llm-auth published (null members arrive absent), or null. */
export function readIdentity(v: unknown): Pick<PublishedIdentity, 'consumer' | 'tenant' | 'credential_id' | 'auth_method'> | null {
  if (!isObj(v)) return null;
  const credential = plainString(v.credential_id, MAX_ID_BYTES);
  const method = v.auth_method;
  if (credential === null || credential === '') return null;
  if (method !== 'api_key' && method !== 'jwt' && method !== 'oauth2_introspection' && method !== 'anonymous') return null;
  return {
    consumer: plainString(v.consumer, MAX_ID_BYTES),
    tenant: plainString(v.tenant, MAX_ID_BYTES),
    credential_id: credential,
    auth_method: method,
  };
}

/** Entity type (or category) to count, bounded; null when `v` is not such a map. */
export function readCounts(v: unknown): Record<string, number> | null {
  if (Array.isArray(v) && v.length === 0) return {};
  if (!isObj(v)) return null;
  const out: Record<string, number> = {};
  let n = 0;
  for (const [k, c] of Object.entries(v)) {
    const count = nonNegInt(c);
    if (!KEY_PATTERN.test(k) || count === null) continue;
    if (n++ >= MAX_ENTRIES) break;
    // defineProperty: a key named __proto__ stays an ordinary member
    Object.defineProperty(out, k, { value: count, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** One limit's state in the rate-limit decision llm-rate-limit publishes. */
export interface RateLimitState {
  id: string;
  unit: string;
  limit: number;
  remaining: number;
  reset_ms: number | null;
}

/**
 * The rate-limit decision as the record carries it: what llm-rate-limit publishes
 * under `log` in `kong.ctx.shared.llm_rate_limit` (plugins/llm-rate-limit/core/
 * decision.ts `DecisionLog`), which Kong's log plugins also get as `llm.rate_limit`.
 */
export interface RateLimitDecision {
  allowed: boolean;
  key_by: string | null;
  limit_set: string | null;
  store: string | null;
  /** The limit that refused; null when admitted. */
  refused_by: string | null;
  limits: RateLimitState[];
  reserved: { tokens: number | null; usd_micros: number | null };
}

const WORD = /^[a-z_]{1,16}$/;
const NAME = 256;

/**
 * llm-rate-limit's decision log (or its whole published value, whose `log` it reads),
 * or null when absent or not of that shape (a malformed decision is not half-trusted).
 * `[]` (Lua's empty table) for `limits` reads as no limits.
 */
export function readRateLimit(v: unknown): RateLimitDecision | null {
  const log = isObj(v) && isObj(v.log) ? v.log : v;
  if (!isObj(log) || typeof log.allowed !== 'boolean') return null;
  const raw = log.limits ?? [];
  if (!Array.isArray(raw) || raw.length > MAX_ENTRIES) return null;
  const limits: RateLimitState[] = [];
  for (const l of raw) {
    if (!isObj(l) || typeof l.id !== 'string' || !KEY_PATTERN.test(l.id)) return null;
    if (typeof l.unit !== 'string' || !WORD.test(l.unit)) return null;
    const limit = nonNegInt(l.limit);
    const remaining = nonNegInt(l.remaining);
    if (limit === null || remaining === null) return null;
    limits.push({ id: l.id, unit: l.unit, limit, remaining, reset_ms: nonNegInt(l.reset_ms) });
  }
  const word = (x: unknown) => (typeof x === 'string' && WORD.test(x) ? x : null);
  const reserved = isObj(log.reserved) ? log.reserved : {};
  return {
    allowed: log.allowed,
    key_by: word(log.key_by),
    limit_set: plainString(log.limit_set, NAME),
    store: word(log.store),
    refused_by: typeof log.refused_by === 'string' && KEY_PATTERN.test(log.refused_by) ? log.refused_by : null,
    limits,
    reserved: { tokens: nonNegInt(reserved.tokens), usd_micros: nonNegInt(reserved.usd_micros) },
  };
}
