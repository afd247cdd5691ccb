/** The pure parts of the adapter: OpenAI's duration format, the headers, the 429, the published decision read back, usd limits. */
import { openAiDuration, rateLimitHeaders, retryAfterHeader } from '../../../plugins/llm-rate-limit/core/headers';
import { readPublishedDecision, refusal } from '../../../plugins/llm-rate-limit/core/decision';
import { toSpec } from '../../../plugins/llm-rate-limit/core/plan';
import type { CheckResult, LimitResult } from '../../../plugins/llm-rate-limit/core/limiter';
import { LimitConfigError } from '../../../plugins/llm-rate-limit/core/errors';

const lim = (id: string, unit: LimitResult['unit'], limit: number, remaining: number, resetMs: number, allowed = true, retryAfterMs: number | null = 0): LimitResult =>
  ({ id, unit, limit, remaining, resetMs, allowed, retryAfterMs });

describe('openAiDuration (Go time.Duration text, as OpenAI sends x-ratelimit-reset-*)', () => {
  it.each([
    [0, '0ms'], [20, '20ms'], [999, '999ms'], [1000, '1s'], [1500, '1.5s'], [1234, '1.234s'], [1230, '1.23s'],
    [60_000, '1m0s'], [360_000, '6m0s'], [3_723_000, '1h2m3s'], [3_600_000, '1h0m0s'], [86_400_000, '24h0m0s'], [0.2, '1ms'],
  ])('%d ms -> %s', (ms, text) => expect(openAiDuration(ms)).toBe(text));
});

describe('rateLimitHeaders', () => {
  it('reports the tightest requests and tokens limits, IETF headers for the nearest exhaustion, never usd', () => {
    const h = rateLimitHeaders([
      lim('rpm', 'requests', 60, 59, 60_000),
      lim('rpd', 'requests', 1000, 10, 86_400_000),
      lim('tpm', 'tokens', 40_000, 30_000, 60_000),
      lim('usd', 'usd', 50_000_000, 0, 86_400_000),
    ]);
    expect(h).toEqual({
      'RateLimit-Limit': '1000', 'RateLimit-Remaining': '10', 'RateLimit-Reset': '86400',
      'x-ratelimit-limit-requests': '1000', 'x-ratelimit-remaining-requests': '10', 'x-ratelimit-reset-requests': '24h0m0s',
      'x-ratelimit-limit-tokens': '40000', 'x-ratelimit-remaining-tokens': '30000', 'x-ratelimit-reset-tokens': '1m0s',
    });
  });
  it('sends nothing for usd-only limits, and Retry-After only when a wait helps', () => {
    expect(rateLimitHeaders([lim('usd', 'usd', 5, 0, 1000)])).toEqual({});
    expect(retryAfterHeader(null)).toEqual({});
    expect(retryAfterHeader(1)).toEqual({ 'Retry-After': '1' });
    expect(retryAfterHeader(1001)).toEqual({ 'Retry-After': '2' });
  });
});

describe('refusal', () => {
  const result = (limits: LimitResult[]): CheckResult => ({ allowed: false, limits, retryAfterMs: 1, reservation: null, source: 'local' });
  it('names the limit that can never fit first, in OpenAI words, with type tokens', () => {
    const r = refusal(result([lim('rpm', 'requests', 60, 0, 1000, false, 1000), lim('tpm', 'tokens', 100, 100, 0, false, null)]), { requests: 1, tokens: 500, usd: 0 }, {});
    expect(r).toMatchObject({ status: 429, type: 'tokens', code: 'rate_limit_exceeded' });
    expect(r.message).toBe('Request too large for limit tpm: it needs 500 tokens and the limit is 100. Lower max_tokens or shorten the prompt.');
  });
  it('else the longest wait; USD in dollars as insufficient_quota', () => {
    const r = refusal(result([lim('rpm', 'requests', 60, 0, 1000, false, 1000), lim('usd', 'usd', 50_000_000, 1_500, 0, false, 3_600_000)]), { requests: 1, tokens: 0, usd: 2_000 }, { 'Retry-After': '3600' });
    expect(r).toMatchObject({ status: 429, type: 'insufficient_quota', code: 'insufficient_quota', headers: { 'Retry-After': '3600' } });
    expect(r.message).toBe('Rate limit reached for usd on USD: limit 50, remaining 0.0015, requested 0.002. Please try again in 1h0m0s.');
  });
});

describe('readPublishedDecision (after the trip through Lua)', () => {
  const good = {
    allowed: true,
    limit_set: 'default',
    reservation: { key: 'k', source: 'redis', at: 5, charges: [{ id: 'tpm', unit: 'tokens', amount: 10, bucket: 3 }, { id: 'global.tpm', unit: 'tokens', amount: 10, bucket: 3, key: '~global' }] },
    request: { endpoint: 'chat.completions', stream: true, include_usage: true }, // model and prompt_tokens were null: absent
  };
  it('reads what the access phase published, null members restored', () => {
    expect(readPublishedDecision(good)).toEqual({
      limit_set: 'default',
      reservation: good.reservation,
      request: { endpoint: 'chat.completions', model: null, stream: true, include_usage: true, prompt_tokens: null },
    });
  });
  it.each([
    ['refused', { ...good, allowed: false }],
    ['no reservation', { ...good, reservation: undefined }],
    ['a charge with a fractional amount', { ...good, reservation: { ...good.reservation, charges: [{ id: 'x', unit: 'tokens', amount: 1.5, bucket: 0 }] } }],
    ['a unit it does not know', { ...good, reservation: { ...good.reservation, charges: [{ id: 'x', unit: 'gold', amount: 1, bucket: 0 }] } }],
    ['not an object', []],
  ])('refuses %s', (_n, v) => expect(readPublishedDecision(v)).toBeNull());
});

describe('toSpec', () => {
  const base = { algorithm: 'sliding_window' as const, window_seconds: 60, sub_windows: null, refill_per_second: null };
  it('turns USD into integer micro-dollars and keeps token counts whole', () => {
    expect(toSpec({ ...base, id: 'd', unit: 'usd', limit: 50.25 })).toMatchObject({ limit: 50_250_000, sub_windows: undefined });
    expect(() => toSpec({ ...base, id: 't', unit: 'tokens', limit: 1.5 })).toThrow(LimitConfigError);
    expect(() => toSpec({ ...base, id: 'u', unit: 'usd', limit: 1e-9 })).toThrow(LimitConfigError);
  });
});
