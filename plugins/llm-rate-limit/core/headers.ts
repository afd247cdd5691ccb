/**
 * The rate-limit headers a client gets, from one check's per-limit results:
 * - IETF (draft-ietf-httpapi-ratelimit-headers, as Kong's rate-limiting sends them):
 *   `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds) of the limit
 *   closest to exhaustion among the request and token limits;
 * - OpenAI's own (https://platform.openai.com/docs/guides/rate-limits, "Rate limits in
 *   headers"): `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` of the tightest
 *   requests limit and the tightest tokens limit, the reset in OpenAI's duration format
 *   (`6m0s`, `1.5s`, `20ms`), so SDKs and clients read the gateway's quota where they
 *   read OpenAI's;
 * - `Retry-After` (whole seconds, at least 1) on a refusal that a wait can cure.
 * USD budgets are never in headers (micro-dollars mean nothing to a client): a refusal
 * by one says so in its error body. Pure.
 */
import type { LimitResult } from './limiter';
import type { Unit } from './limits';

/** OpenAI's reset format: Go's time.Duration text (`1h2m3s`, `6m0s`, `1.5s`, `20ms`). */
export function openAiDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total < 1000) return `${total}ms`;
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const secMs = total % 60_000;
  const whole = Math.floor(secMs / 1000);
  const frac = secMs % 1000;
  const s = frac === 0 ? `${whole}s` : `${whole}.${String(frac).padStart(3, '0').replace(/0+$/, '')}s`;
  if (h > 0) return `${h}h${m}m${s}`;
  if (m > 0) return `${m}m${s}`;
  return s;
}

/** The limit nearest exhaustion (lowest remaining share; the later reset on a tie). */
function tightest(limits: readonly LimitResult[], units: readonly Unit[]): LimitResult | null {
  let best: LimitResult | null = null;
  for (const l of limits) {
    if (!units.includes(l.unit)) continue;
    if (best === null) {
      best = l;
      continue;
    }
    const a = l.remaining / l.limit;
    const b = best.remaining / best.limit;
    if (a < b || (a === b && l.resetMs > best.resetMs)) best = l;
  }
  return best;
}

const seconds = (ms: number): string => String(Math.max(0, Math.ceil(ms / 1000)));

/** Response headers for a check's results (empty when no request or token limit applies). */
export function rateLimitHeaders(limits: readonly LimitResult[]): Record<string, string> {
  const out: Record<string, string> = {};
  const ietf = tightest(limits, ['requests', 'tokens']);
  if (ietf) {
    out['RateLimit-Limit'] = String(ietf.limit);
    out['RateLimit-Remaining'] = String(ietf.remaining);
    out['RateLimit-Reset'] = seconds(ietf.resetMs);
  }
  for (const unit of ['requests', 'tokens'] as const) {
    const l = tightest(limits, [unit]);
    if (!l) continue;
    out[`x-ratelimit-limit-${unit}`] = String(l.limit);
    out[`x-ratelimit-remaining-${unit}`] = String(l.remaining);
    out[`x-ratelimit-reset-${unit}`] = openAiDuration(l.resetMs);
  }
  return out;
}

/** `Retry-After` for a wait of `ms` (null: no wait helps, no header). */
export function retryAfterHeader(ms: number | null): Record<string, string> {
  return ms === null ? {} : { 'Retry-After': String(Math.max(1, Math.ceil(ms / 1000))) };
}
