/**
 * kong/lua/ratelimit-headers.lua (a post-function header_filter) under LuaJIT in Kong's
 * default sandbox (no `require` allowed: it needs none). The shim keeps response
 * headers by lower-cased name, as nginx matches them, and validates set_header's
 * arguments as Kong's PDK does.
 */
import { runLua, type HeaderCase, type HeaderResult, type LuaInput } from './lua-harness';

const CODE = 'kong/lua/ratelimit-headers.lua';

/** What OpenAI sends on every answer: the limits of the company's organization. */
const UPSTREAM = {
  'content-type': 'application/json',
  'openai-processing-ms': '312',
  'x-request-id': 'req_abc',
  'x-ratelimit-limit-requests': '10000',
  'x-ratelimit-limit-tokens': '30000000',
  'x-ratelimit-remaining-requests': '9999',
  'x-ratelimit-remaining-tokens': '29999980',
  'x-ratelimit-reset-requests': '6ms',
  'x-ratelimit-reset-tokens': '0s',
};

/** kong.ctx.shared as llm-rate-limit publishes it: one table, other members ignored here. */
const published = (rl: Record<string, LuaInput>) => ({ llm_rate_limit: { decision: 'allow', log: { limit: 'requests' }, ...rl } });

function run(cases: Omit<HeaderCase, 'kind'>[]): HeaderResult[] {
  return runLua(CODE, cases.map((c) => ({ ...c, kind: 'header' as const })), []).results as HeaderResult[];
}

describe('ratelimit-headers.lua (post-function header_filter)', () => {
  it('replaces the upstream value of each header we publish and keeps the others', () => {
    const [r] = run([
      {
        name: 'replace',
        headers: UPSTREAM,
        shared: published({
          headers: {
            'X-RateLimit-Limit-Requests': '10',
            'x-ratelimit-remaining-requests': '7',
            'x-ratelimit-reset-requests': '42s',
          },
        }),
      },
    ]);
    expect(r.ok).toBe(true);
    expect(r.headers).toEqual({
      ...UPSTREAM,
      'x-ratelimit-limit-requests': '10',
      'x-ratelimit-remaining-requests': '7',
      'x-ratelimit-reset-requests': '42s',
    });
    expect(r.logs).toEqual([]);
  });

  it('hide_upstream_headers clears every upstream x-ratelimit-* header (any case), ours stay', () => {
    const upstream = { ...UPSTREAM, 'X-RateLimit-Limit-Project-Tokens': '5' };
    const [hideAndSet, hideOnly] = run([
      {
        name: 'hide + set',
        headers: upstream,
        shared: published({ hide_upstream_headers: true, headers: { 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '7' } }),
      },
      { name: 'hide only', headers: upstream, shared: published({ hide_upstream_headers: true }) },
    ]);
    const others = { 'content-type': 'application/json', 'openai-processing-ms': '312', 'x-request-id': 'req_abc' };
    expect(hideAndSet.headers).toEqual({ ...others, 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '7' });
    expect(hideOnly.headers).toEqual(others);
    expect([hideAndSet.ok, hideOnly.ok]).toEqual([true, true]);
  });

  it('nothing published (or hide not exactly true): the response is untouched', () => {
    const results = run([
      { name: 'nothing', headers: UPSTREAM },
      { name: 'hide false', headers: UPSTREAM, shared: published({ hide_upstream_headers: false }) },
      { name: 'hide "true"', headers: UPSTREAM, shared: published({ hide_upstream_headers: 'true' }) },
      { name: 'headers not a table', headers: UPSTREAM, shared: published({ headers: 'x-ratelimit-limit-requests: 1' }) },
      { name: 'llm_rate_limit not a table', headers: UPSTREAM, shared: { llm_rate_limit: true } },
      // the old contract's keys are not read any more
      { name: 'old keys', headers: UPSTREAM, shared: { llm_rate_limit_hide: true, llm_rate_limit_headers: { 'x-ratelimit-limit-requests': '1' } } },
    ]);
    for (const r of results) {
      expect({ name: r.name, ok: r.ok, headers: r.headers, logs: r.logs }).toEqual({ name: r.name, ok: true, headers: UPSTREAM, logs: [] });
    }
  });

  it('on an answer of our own (no upstream x-ratelimit-*), hiding clears nothing else and our headers are set', () => {
    const own = { 'content-type': 'application/json', 'retry-after': '3' };
    const [r] = run([
      { name: 'exit 429', headers: own, shared: published({ hide_upstream_headers: true, headers: { 'x-ratelimit-remaining-requests': '0' } }) },
    ]);
    expect(r.headers).toEqual({ ...own, 'x-ratelimit-remaining-requests': '0' });
  });

  it('a bad entry is skipped and logged; the good ones are still set; the filter never throws', () => {
    const [r] = run([
      {
        name: 'bad entries',
        headers: UPSTREAM,
        shared: published({
          headers: {
            'x-ratelimit-remaining-requests': '7',
            'x-ratelimit-limit-tokens': 1000,
            'x-ratelimit-reset-tokens': 1.5,
            'x-ratelimit-bad': { nested: 'x' },
            'x-ratelimit-flag': true,
            'x-ratelimit-injected': '1\r\nset-cookie: a=b',
            'x-ratelimit-nul': 'a\u0000b',
            'bad name\r\nset-cookie: a': '1',
            '': '1',
          },
        }),
      },
    ]);
    expect(r.ok).toBe(true);
    expect(r.headers).toEqual({ ...UPSTREAM, 'x-ratelimit-remaining-requests': '7', 'x-ratelimit-limit-tokens': '1000', 'x-ratelimit-reset-tokens': '1.5' });
    expect(r.logs.sort()).toEqual([
      'err: llm rate-limit header skipped: (invalid name) = (string)',
      'err: llm rate-limit header skipped: (invalid name) = (string)',
      'err: llm rate-limit header skipped: x-ratelimit-bad = (table)',
      'err: llm rate-limit header skipped: x-ratelimit-flag = (boolean)',
      'err: llm rate-limit header skipped: x-ratelimit-injected = (string)',
      'err: llm rate-limit header skipped: x-ratelimit-nul = (string)',
    ]);
  });
});
