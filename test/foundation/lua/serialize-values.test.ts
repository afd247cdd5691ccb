/**
 * kong/lua/serialize-values.lua (a post-function header_filter chunk) under LuaJIT in Kong's
 * default sandbox (no `require`): what our JS plugins published in kong.ctx.shared
 * reaches Kong's serialized log, and only the members named in the Lua.
 */
import { ANSWER_CHECK, FACTS, IDENTITY, RATE_LIMIT_LOG, USAGE } from './ctx-values';
import { runLua, type AccessCase, type AccessResult, type LuaInput } from './lua-harness';

const CODE = 'kong/lua/serialize-values.lua';

function run(cases: Omit<AccessCase, 'kind'>[]): AccessResult[] {
  return runLua(CODE, cases.map((c) => ({ ...c, kind: 'access' as const })), []).results as AccessResult[];
}

const serialized = (r: AccessResult) => JSON.parse(r.serialized) as Record<string, unknown>;

describe('serialize-values.lua (post-function header_filter)', () => {
  it('copies identity, request facts and the rate-limit log under llm.*', () => {
    const [r] = run([
      { name: 'all', shared: { llm_auth: IDENTITY, llm_guard: FACTS, llm_rate_limit: { headers: { 'x-ratelimit-remaining-requests': '7' }, log: RATE_LIMIT_LOG } } },
    ]);
    expect(r.ok).toBe(true);
    expect(serialized(r)).toEqual({ 'llm.identity': IDENTITY, 'llm.request': FACTS, 'llm.rate_limit': RATE_LIMIT_LOG });
    expect(r.logs).toEqual([]);
  });

  it('copies only the named members of llm_auth and llm_guard: anything else a plugin adds stays out of the log', () => {
    const [r] = run([
      {
        name: 'extra members',
        shared: {
          llm_auth: { ...IDENTITY, token: 'sk-live-secret', claims: { email: 'alice@example.com' } },
          llm_guard: { ...FACTS, prompt: 'my card is 4111 1111 1111 1111', messages: [{ content: 'hello' }] },
        },
      },
    ]);
    expect(serialized(r)).toEqual({ 'llm.identity': IDENTITY, 'llm.request': FACTS });
    expect(r.serialized).not.toMatch(/secret|example\.com|4111|hello/);
  });

  it('an absent member (a nil in Lua: no tenant, no model) is absent from the log', () => {
    const { tenant: _t, ...noTenant } = IDENTITY;
    const { model: _m, prompt_tokens: _p, ...noModel } = FACTS;
    const [r] = run([{ name: 'sparse', shared: { llm_auth: noTenant, llm_guard: noModel } }]);
    expect(serialized(r)).toEqual({ 'llm.identity': noTenant, 'llm.request': noModel });
  });

  it('skips values that are not tables, and a rate-limit value without a log table', () => {
    const results = run([
      { name: 'nothing' },
      { name: 'marks only', shared: { llm_auth: true, llm_guard: 'done', llm_rate_limit: 1 } },
      { name: 'rate limit without log', shared: { llm_rate_limit: { headers: {}, hide_upstream_headers: true } } },
      { name: 'rate limit log not a table', shared: { llm_rate_limit: { log: 'allow' } } },
    ]);
    for (const r of results) {
      expect({ name: r.name, ok: r.ok, serialized: r.serialized, logs: r.logs }).toEqual({ name: r.name, ok: true, serialized: '{}', logs: [] });
    }
  });

  it('keeps strings, numbers, booleans and tables to six levels; drops deeper tables', () => {
    const deep: LuaInput = { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } };
    const [r] = run([{ name: 'deep', shared: { llm_rate_limit: { log: { ok: 1, deep } } } }]);
    // log is level 0, deep 1, a 2, ..., e 6: e's table is past the limit
    expect(serialized(r)).toEqual({ 'llm.rate_limit': { ok: 1, deep: { a: { b: { c: { d: {} } } } } } });
  });

  describe("llm-response-guard's answer_check -> llm.response", () => {
    it('copies it from the usage value (an answer with usage) and from the mark (one without)', () => {
      const [withUsage, withoutUsage, blocked] = run([
        { name: 'in the usage', shared: { llm_usage: { ...USAGE, answer_check: ANSWER_CHECK }, llm_response_guard: { checked: true } } },
        { name: 'in the mark', shared: { llm_response_guard: { checked: true, answer_check: ANSWER_CHECK } } },
        { name: 'withheld', shared: { llm_usage: { ...USAGE, answer_check: { findings: { email: 1 }, blocked: true } } } },
      ]);
      // the usage llm-response-guard read from the whole answer is logged too (the body_filter leaves a published one alone)
      expect(serialized(withUsage)).toEqual({ 'llm.response': ANSWER_CHECK, 'llm.usage': USAGE });
      expect(serialized(withoutUsage)).toEqual({ 'llm.response': ANSWER_CHECK });
      expect(serialized(blocked)).toEqual({ 'llm.response': { findings: { email: 1 }, blocked: true }, 'llm.usage': USAGE });
      for (const r of [withUsage, withoutUsage, blocked]) expect(r.logs).toEqual([]);
    });

    it('takes the usage value first when both hold one', () => {
      const [r] = run([
        {
          name: 'both',
          shared: {
            llm_usage: { ...USAGE, answer_check: { findings: { phone: 1 }, blocked: false } },
            llm_response_guard: { checked: true, answer_check: { findings: { email: 9 }, blocked: true } },
          },
        },
      ]);
      expect(serialized(r)).toEqual({ 'llm.response': { findings: { phone: 1 }, blocked: false }, 'llm.usage': USAGE });
    });

    it('copies findings and blocked only, and the usage members only: answer text a plugin might add stays out', () => {
      const [r] = run([
        {
          name: 'extra',
          shared: { llm_usage: { ...USAGE, answer_check: { ...ANSWER_CHECK, answer: 'mail jane.doe@example.com', spans: ['sk-live-secret'] } } },
        },
      ]);
      expect(serialized(r)).toEqual({ 'llm.response': ANSWER_CHECK, 'llm.usage': USAGE });
      expect(r.serialized).not.toMatch(/example\.com|secret/);
    });

    it('logs a usage published before the body as llm.usage, with no llm.response when there is no check', () => {
      const [r] = run([{ name: 'plain usage', shared: { llm_usage: USAGE, llm_response_guard: { checked: true } } }]);
      expect(serialized(r)).toEqual({ 'llm.usage': USAGE });
    });

    it('writes nothing without a check or a usage: an unmeasured answer, the bare marks, a check that is not a table', () => {
      const results = run([
        { name: 'unmeasured', shared: { llm_usage: { source: 'none', status: 200, answer_bytes: 10, stream: false, encoded: false } } },
        { name: 'marks only', shared: { llm_usage: true, llm_response_guard: true } },
        { name: 'check not a table', shared: { llm_usage: { ...USAGE, source: 'other', answer_check: 'email' }, llm_response_guard: { answer_check: 2 } } },
      ]);
      for (const r of results) {
        expect({ name: r.name, ok: r.ok, serialized: r.serialized, logs: r.logs }).toEqual({ name: r.name, ok: true, serialized: '{}', logs: [] });
      }
    });
  });

  it('leaves kong.ctx.shared as it was, and never answers (the guard after it does)', () => {
    const shared = { llm_auth: IDENTITY, llm_guard: FACTS };
    const [r] = run([{ name: 'no change', shared }]);
    expect(r.shared).toEqual(shared);
    expect(r.exited).toBeUndefined();
  });
});
