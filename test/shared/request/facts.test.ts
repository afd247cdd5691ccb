import fc from 'fast-check';
import { readRequestFacts, type RequestFacts } from '../../../plugins/shared/request/facts';
import { luaRoundTrip } from '../../bridge/lua-values';

const FULL: RequestFacts = {
  endpoint: 'chat.completions',
  model: 'gpt-4o-mini',
  stream: true,
  include_usage_injected: true,
  prompt_tokens: 124,
  prompt_tokens_method: 'exact',
  requested_completion_tokens: 300,
  findings: { pii: { email: 2 }, injection: [{ rule_id: 'ignore-previous', category: 'jailbreak' }], blocked: false },
  body_rewritten: true,
};

const EMPTY: RequestFacts = {
  endpoint: 'embeddings',
  model: null,
  stream: false,
  include_usage_injected: false,
  prompt_tokens: null,
  prompt_tokens_method: null,
  requested_completion_tokens: null,
  findings: { pii: {}, injection: [], blocked: false },
  body_rewritten: false,
};

describe('readRequestFacts', () => {
  it('reads published facts back unchanged', () => {
    expect(readRequestFacts(FULL)).toEqual(FULL);
    expect(readRequestFacts(EMPTY)).toEqual(EMPTY);
  });

  it('undoes the trip through Lua: absent members are null, empty tables are {} and []', () => {
    const back = luaRoundTrip(EMPTY) as Record<string, unknown>;
    expect(back.model).toBeUndefined();
    expect((back.findings as Record<string, unknown>).pii).toEqual([]);
    expect(readRequestFacts(back)).toEqual(EMPTY);
    expect(readRequestFacts(luaRoundTrip(FULL))).toEqual(FULL);
    expect(readRequestFacts({ ...EMPTY, findings: [] })).toEqual(EMPTY);
    expect(readRequestFacts({ ...EMPTY, findings: { pii: {}, injection: {}, blocked: false } })).toEqual(EMPTY);
  });

  it.each([
    ['not an object', 'x'],
    ['an unknown endpoint', { ...FULL, endpoint: 'images' }],
    ['a string token count', { ...FULL, prompt_tokens: '12' }],
    ['a negative token count', { ...FULL, requested_completion_tokens: -1 }],
    ['an unknown method', { ...FULL, prompt_tokens_method: 'guess' }],
    ['a non-boolean stream', { ...FULL, stream: 'yes' }],
    ['bad pii counts', { ...FULL, findings: { ...FULL.findings, pii: { email: 'two' } } }],
    ['a bad injection finding', { ...FULL, findings: { ...FULL.findings, injection: [{ rule_id: 1 }] } }],
  ])('refuses %s', (_what, value) => {
    expect(readRequestFacts(value)).toBeNull();
  });

  it('keeps a __proto__ detector name as data', () => {
    const facts = readRequestFacts({ ...FULL, findings: { ...FULL.findings, pii: JSON.parse('{"__proto__": 3}') } })!;
    expect(Object.getPrototypeOf(facts.findings.pii)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(facts.findings.pii, '__proto__')).toBe(true);
  });

  it('never throws (property)', () => {
    fc.assert(fc.property(fc.anything(), (v) => { readRequestFacts(v); }), { numRuns: 1000 });
  });
});
