/**
 * kong/lua/usage-encoding.lua under LuaJIT, and the bridge's emulation of it on the
 * same inputs: Accept-Encoding: identity upstream exactly when the suite counts the
 * request's tokens (so the body_filter can read the answer's usage).
 */
import { usageEncodingChunk } from '../../bridge/post-function';
import { luaRoundTrip } from '../../bridge/lua-values';
import { runLua, type AccessResult, type LuaInput } from './lua-harness';

const cases: Array<{ name: string; shared?: Record<string, LuaInput>; identity: boolean }> = [
  { name: 'nothing published', identity: false },
  { name: 'llm-guard measured the request', shared: { llm_guard: { endpoint: 'chat.completions', stream: false } }, identity: true },
  { name: 'llm-guard did not check it', shared: { llm_guard: { checked: false } }, identity: false },
  { name: 'llm-rate-limit reserved tokens', shared: { llm_rate_limit: { allowed: true, request: { endpoint: 'embeddings', stream: false, include_usage: false } } }, identity: true },
  { name: 'llm-rate-limit counted requests only', shared: { llm_rate_limit: { allowed: true, log: { allowed: true } } }, identity: false },
  { name: 'marks that are not tables', shared: { llm_guard: true, llm_rate_limit: 'x' }, identity: false },
];

describe('usage-encoding.lua (post-function access)', () => {
  const lua = runLua('kong/lua/usage-encoding.lua', cases.map((c) => ({ kind: 'access' as const, name: c.name, shared: c.shared })), []).results as AccessResult[];

  it.each(cases.map((c, i) => [c.name, i] as const))('%s', (_n, i) => {
    const expected = cases[i].identity ? { 'accept-encoding': 'identity' } : {};
    expect(lua[i].ok).toBe(true);
    const upstream = Array.isArray(lua[i].upstream_headers) ? {} : lua[i].upstream_headers;
    expect(upstream).toEqual(expected);
    // the bridge does the same
    const ctx = { shared: luaRoundTrip(cases[i].shared ?? {}) as Record<string, unknown>, request: { headers: new Map([['accept-encoding', ['gzip, br']]]) } };
    usageEncodingChunk(ctx);
    expect(ctx.request.headers.get('accept-encoding')).toEqual(cases[i].identity ? ['identity'] : ['gzip, br']);
  });
});
