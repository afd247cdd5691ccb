/**
 * What one access decision says, in two forms: the refusal a client gets (OpenAI's 429,
 * so SDKs raise RateLimitError), and the value published once in `kong.ctx.shared`
 * (`llm_rate_limit`) for the log phase (which settles the reservation), the Lua
 * companions (headers to set, the serialized-log fields under `log`) and llm-audit.
 * `readPublishedDecision` reads it back after its trip through Kong's Lua side.
 * Pure: no Kong, no I/O.
 */
import type { Rejection } from '../../shared/openai-error';
import type { Endpoint } from '../../shared/request/openai';
import { ENDPOINTS } from '../../shared/request/openai';
import { openAiDuration } from './headers';
import type { CheckResult, LimitResult, Reservation } from './limiter';
import { UNITS, type Unit } from './limits';
import { isObj, isNonNegInt as nonNegInt, isInt as int } from '../../shared/values';

/** The request as the log phase needs it to settle (usage-actual.ts RequestSide). */
export interface DecisionRequest {
  endpoint: Endpoint;
  model: string | null;
  stream: boolean;
  include_usage: boolean;
  prompt_tokens: number | null;
}

/** What Kong's log plugins carry under `llm.rate_limit` (no key, no identity). */
export interface DecisionLog {
  allowed: boolean;
  key_by: string;
  limit_set: string;
  /** 'local' | 'redis'; a Redis fault decided locally says 'local'. */
  store: string;
  limits: { id: string; unit: Unit; limit: number; remaining: number; reset_ms: number }[];
  reserved: { tokens: number; usd_micros: number };
  /** The limit that refused (absent when allowed). */
  refused_by?: string;
}

export interface PublishedDecision {
  allowed: boolean;
  limit_set: string;
  /** Admitted: what the log phase settles. */
  reservation?: Reservation;
  request?: DecisionRequest;
  /** This plugin added stream_options.include_usage (the usage-capture Lua drops that chunk). */
  include_usage_injected: boolean;
  /** Headers the header_filter Lua sets on the answer (absent with hide_client_headers). */
  headers?: Record<string, string>;
  hide_upstream_headers: boolean;
  log: DecisionLog;
}

export const logLimits = (limits: readonly LimitResult[]): DecisionLog['limits'] =>
  limits.map((l) => ({ id: l.id, unit: l.unit, limit: l.limit, remaining: l.remaining, reset_ms: l.resetMs }));

const UNIT_TEXT: Record<Unit, string> = { requests: 'requests', tokens: 'tokens', usd: 'USD' };
const show = (unit: Unit, n: number): string => (unit === 'usd' ? (n / 1_000_000).toFixed(6).replace(/\.?0+$/, '') : String(n));

/** The limit to name in a refusal: one no wait can satisfy first, else the longest wait. */
export function refusingLimit(result: CheckResult): LimitResult {
  const refusing = result.limits.filter((l) => !l.allowed);
  return refusing.find((l) => l.retryAfterMs === null) ?? refusing.reduce((a, b) => ((b.retryAfterMs ?? 0) > (a.retryAfterMs ?? 0) ? b : a));
}

/**
 * OpenAI's 429 for a refused check: `type` names the budget (`requests`, `tokens`;
 * `insufficient_quota` for a USD budget, as OpenAI says for an exhausted quota),
 * `code` `rate_limit_exceeded` (`insufficient_quota` for USD). The message names the
 * limit id and its figures, never the key.
 */
export function refusal(result: CheckResult, requested: Record<Unit, number>, headers: Record<string, string>): Rejection {
  const l = refusingLimit(result);
  const unit = UNIT_TEXT[l.unit];
  const usd = l.unit === 'usd';
  const message =
    l.retryAfterMs === null
      ? `Request too large for limit ${l.id}: it needs ${show(l.unit, requested[l.unit])} ${unit} and the limit is ${show(l.unit, l.limit)}. Lower max_tokens or shorten the prompt.`
      : `Rate limit reached for ${l.id} on ${unit}: limit ${show(l.unit, l.limit)}, remaining ${show(l.unit, l.remaining)}, requested ${show(l.unit, requested[l.unit])}. Please try again in ${openAiDuration(l.retryAfterMs)}.`;
  return {
    status: 429,
    type: usd ? 'insufficient_quota' : l.unit === 'requests' ? 'requests' : 'tokens',
    code: usd ? 'insufficient_quota' : 'rate_limit_exceeded',
    param: null,
    message,
    headers,
  };
}

const isUnit = (v: unknown): v is Unit => (UNITS as readonly unknown[]).includes(v);

function readReservation(v: unknown): Reservation | null {
  if (!isObj(v) || typeof v.key !== 'string' || typeof v.source !== 'string' || !int(v.at) || !Array.isArray(v.charges)) return null;
  const charges: Reservation['charges'] = [];
  for (const c of v.charges) {
    if (!isObj(c) || typeof c.id !== 'string' || !isUnit(c.unit) || !nonNegInt(c.amount) || !int(c.bucket)) return null;
    if (c.key !== undefined && typeof c.key !== 'string') return null;
    charges.push(c.key === undefined ? { id: c.id, unit: c.unit, amount: c.amount, bucket: c.bucket } : { id: c.id, unit: c.unit, amount: c.amount, bucket: c.bucket, key: c.key });
  }
  return { key: v.key, source: v.source, at: v.at, charges };
}

function readRequest(v: unknown): DecisionRequest | null {
  if (!isObj(v) || !(ENDPOINTS as readonly unknown[]).includes(v.endpoint) || typeof v.stream !== 'boolean' || typeof v.include_usage !== 'boolean') return null;
  const model = v.model ?? null;
  const prompt = v.prompt_tokens ?? null;
  if ((model !== null && typeof model !== 'string') || (prompt !== null && !nonNegInt(prompt))) return null;
  return { endpoint: v.endpoint as Endpoint, model, stream: v.stream, include_usage: v.include_usage, prompt_tokens: prompt };
}

/**
 * The admitted decision's settlement inputs as `kong.ctx.shared.get` returns them, or
 * null when `value` is not an admitted decision of this plugin with a reservation.
 */
export function readPublishedDecision(value: unknown): { limit_set: string; reservation: Reservation; request: DecisionRequest | null } | null {
  if (!isObj(value) || value.allowed !== true || typeof value.limit_set !== 'string') return null;
  const reservation = readReservation(value.reservation);
  if (!reservation) return null;
  return { limit_set: value.limit_set, reservation, request: value.request === undefined ? null : readRequest(value.request) };
}
