import fc from 'fast-check';
import { readUnmeasuredAnswer, readUsage, usageFromOpenAi, USAGE_CTX_KEY, type LlmUsage, type UnmeasuredAnswer } from '../../plugins/shared/usage';
import { luaRoundTrip } from '../bridge/lua-values';

describe('usageFromOpenAi', () => {
  it('reads Chat Completions usage with its details', () => {
    expect(
      usageFromOpenAi({
        prompt_tokens: 19,
        completion_tokens: 10,
        total_tokens: 29,
        prompt_tokens_details: { cached_tokens: 3, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 4, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
      }),
    ).toEqual({ prompt_tokens: 19, completion_tokens: 10, total_tokens: 29, cached_tokens: 3, reasoning_tokens: 4 });
  });

  it('reads legacy Completions usage, details unknown', () => {
    expect(usageFromOpenAi({ prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 })).toEqual({
      prompt_tokens: 5,
      completion_tokens: 7,
      total_tokens: 12,
      cached_tokens: null,
      reasoning_tokens: null,
    });
  });

  it('reads Embeddings usage as zero completion tokens', () => {
    expect(usageFromOpenAi({ prompt_tokens: 8, total_tokens: 8 })).toEqual({
      prompt_tokens: 8,
      completion_tokens: 0,
      total_tokens: 8,
      cached_tokens: null,
      reasoning_tokens: null,
    });
  });

  it('maps Responses usage onto the Chat names', () => {
    expect(
      usageFromOpenAi({
        input_tokens: 36,
        input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
        output_tokens: 87,
        output_tokens_details: { reasoning_tokens: 64 },
        total_tokens: 123,
      }),
    ).toEqual({ prompt_tokens: 36, completion_tokens: 87, total_tokens: 123, cached_tokens: 0, reasoning_tokens: 64 });
  });

  it('treats null details as unknown', () => {
    expect(usageFromOpenAi({ prompt_tokens: 1, completion_tokens: 1, total_tokens: 2, prompt_tokens_details: null })?.cached_tokens).toBeNull();
  });

  it.each([
    ['null', null],
    ['an array', [1, 2]],
    ['a string', '{"prompt_tokens":1}'],
    ['no prompt tokens', { completion_tokens: 1, total_tokens: 1 }],
    ['no total', { prompt_tokens: 1, completion_tokens: 1 }],
    ['a negative count', { prompt_tokens: -1, completion_tokens: 1, total_tokens: 0 }],
    ['a fractional count', { prompt_tokens: 1.5, completion_tokens: 1, total_tokens: 2.5 }],
    ['a string count', { prompt_tokens: '1', completion_tokens: 1, total_tokens: 2 }],
    ['an unsafe integer', { prompt_tokens: 2 ** 60, completion_tokens: 0, total_tokens: 2 ** 60 }],
    ['Responses usage without output tokens', { input_tokens: 3, total_tokens: 3 }],
    ['a bad cached count', { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2, prompt_tokens_details: { cached_tokens: -2 } }],
    ['details that are not an object', { input_tokens: 1, output_tokens: 1, total_tokens: 2, output_tokens_details: 7 }],
  ])('refuses %s', (_name, value) => {
    expect(usageFromOpenAi(value)).toBeNull();
  });

  it('never throws and returns only non-negative integers (property)', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        const u = usageFromOpenAi(v);
        if (u === null) return;
        for (const n of [u.prompt_tokens, u.completion_tokens, u.total_tokens]) expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('readUsage', () => {
  const FULL: LlmUsage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, cached_tokens: 2, reasoning_tokens: 1, source: 'stream' };
  const SPARSE: LlmUsage = { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3, cached_tokens: null, reasoning_tokens: null, source: 'response' };

  it('uses the key the Lua body_filter writes', () => {
    expect(USAGE_CTX_KEY).toBe('llm_usage');
  });

  it('reads a published usage back unchanged through Lua', () => {
    expect(readUsage(luaRoundTrip(FULL))).toEqual(FULL);
  });

  it('reads absent members (Lua nil) as null', () => {
    const back = luaRoundTrip(SPARSE) as Record<string, unknown>;
    expect('cached_tokens' in back).toBe(false);
    expect(readUsage(back)).toEqual(SPARSE);
  });

  it.each([
    ['an empty table', []],
    ['an empty object', {}],
    ['no source', { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }],
    ['an unknown source', { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2, source: 'guess' }],
    ['a bad reasoning count', { ...SPARSE, reasoning_tokens: 'x' }],
    ['a missing completion count', { prompt_tokens: 1, total_tokens: 1, source: 'response' }],
  ])('refuses %s', (_name, value) => {
    expect(readUsage(value)).toBeNull();
  });
});

describe('readUnmeasuredAnswer', () => {
  const NONE: UnmeasuredAnswer = { source: 'none', status: 200, answer_bytes: 1234, stream: true, encoded: false };

  it('reads the record back unchanged through Lua', () => {
    expect(readUnmeasuredAnswer(luaRoundTrip(NONE))).toEqual(NONE);
    const gzip = { ...NONE, status: 502, stream: false, encoded: true, answer_bytes: 0 };
    expect(readUnmeasuredAnswer(luaRoundTrip(gzip))).toEqual(gzip);
  });

  it('returns a fresh object with only its fields (extra members dropped)', () => {
    const extra = { ...NONE, prompt: 'secret text' };
    expect(readUnmeasuredAnswer(extra)).toEqual(NONE);
  });

  it('is refused by readUsage, and a usage is refused by it: one key, two shapes', () => {
    expect(readUsage(NONE)).toBeNull();
    expect(readUnmeasuredAnswer({ prompt_tokens: 1, completion_tokens: 1, total_tokens: 2, source: 'stream' })).toBeNull();
  });

  it.each([
    ['null', null],
    ['an empty table', []],
    ['an empty object', {}],
    ['a list', [NONE]],
    ['another source', { ...NONE, source: 'stream' }],
    ['a member lost in the Lua round trip (status null)', luaRoundTrip({ ...NONE, status: null })],
    ['no answer_bytes', luaRoundTrip({ ...NONE, answer_bytes: undefined })],
    ['no stream flag', luaRoundTrip({ ...NONE, stream: undefined })],
    ['no encoded flag', luaRoundTrip({ ...NONE, encoded: undefined })],
    ['a status as text', { ...NONE, status: '200' }],
    ['status 0', { ...NONE, status: 0 }],
    ['status 600', { ...NONE, status: 600 }],
    ['a fractional status', { ...NONE, status: 200.5 }],
    ['negative bytes', { ...NONE, answer_bytes: -1 }],
    ['fractional bytes', { ...NONE, answer_bytes: 1.5 }],
    ['bytes past 2^53', { ...NONE, answer_bytes: 2 ** 53 }],
    ['a flag as text', { ...NONE, stream: 'true' }],
    ['a flag as a number', { ...NONE, encoded: 0 }],
  ])('refuses %s', (_name, value) => {
    expect(readUnmeasuredAnswer(value)).toBeNull();
  });

  it('never throws and accepts only the exact shape (property)', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        const r = readUnmeasuredAnswer(v);
        if (r !== null) expect(Object.keys(r).sort()).toEqual(['answer_bytes', 'encoded', 'source', 'status', 'stream']);
      }),
    );
  });
});
