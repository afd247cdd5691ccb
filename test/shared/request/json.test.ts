import fc from 'fast-check';
import { INVALID_JSON_MESSAGE, jsonFailureRejection, parseJsonBody, type JsonLimits } from '../../../plugins/shared/request/json';

const LIMITS: JsonLimits = { maxDepth: 32, maxStringBytes: 1024, maxArrayLength: 100, maxKeys: 50 };

describe('parseJsonBody', () => {
  it('parses a Buffer, a Uint8Array and a string alike', () => {
    const json = '{"model":"gpt-4o","messages":[{"role":"user","content":"héllo"}]}';
    for (const body of [Buffer.from(json), new Uint8Array(Buffer.from(json)), json]) {
      expect(parseJsonBody(body, LIMITS)).toEqual({ ok: true, value: JSON.parse(json) });
    }
  });

  it('refuses malformed JSON with a constant message that quotes nothing', () => {
    const r = parseJsonBody('{"content": "secret prompt" oops}', LIMITS);
    expect(r).toEqual({ ok: false, status: 400, message: INVALID_JSON_MESSAGE, param: null, code: 'invalid_json' });
  });

  it.each([
    ['an empty body', ''],
    ['a truncated body', '{"a":'],
    ['trailing garbage', '{} {}'],
  ])('refuses %s as invalid_json', (_what, body) => {
    expect(parseJsonBody(body, LIMITS)).toMatchObject({ ok: false, code: 'invalid_json' });
  });

  it('refuses invalid UTF-8 instead of replacing it', () => {
    const bad = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    expect(parseJsonBody(bad, LIMITS)).toMatchObject({ ok: false, status: 400, code: 'invalid_json' });
    const lone = Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]); // an encoded UTF-16 surrogate
    expect(parseJsonBody(lone, LIMITS)).toMatchObject({ ok: false, code: 'invalid_json' });
  });

  it('accepts a leading byte order mark', () => {
    expect(parseJsonBody(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')]), LIMITS)).toEqual({ ok: true, value: { a: 1 } });
  });

  it('refuses 10^6 levels of nesting before parsing, quickly', () => {
    const spy = jest.spyOn(JSON, 'parse');
    try {
      for (const body of ['['.repeat(1e6), '{"a":'.repeat(1e6), Buffer.from('['.repeat(1e6) + ']'.repeat(1e6))]) {
        const t0 = Date.now();
        expect(parseJsonBody(body, LIMITS)).toMatchObject({ ok: false, status: 400, code: 'json_too_deep', param: null });
        expect(Date.now() - t0).toBeLessThan(1000);
      }
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it('counts depth from 1 at the top level and ignores brackets inside strings', () => {
    expect(parseJsonBody('[[1]]', { ...LIMITS, maxDepth: 2 })).toMatchObject({ ok: true });
    expect(parseJsonBody('[[[1]]]', { ...LIMITS, maxDepth: 2 })).toMatchObject({ ok: false, code: 'json_too_deep' });
    expect(parseJsonBody('["[[[[\\"[[[["]', { ...LIMITS, maxDepth: 1 })).toEqual({ ok: true, value: ['[[[["[[[['] });
  });

  it('names the string over the byte limit by its path, counting UTF-8 bytes', () => {
    const body = { messages: [{ content: 'ok' }, { content: 'ok' }, { content: 'ok' }, { content: 'é'.repeat(513) }] };
    expect(parseJsonBody(JSON.stringify(body), LIMITS)).toEqual({
      ok: false, status: 400, code: 'string_too_long', param: 'messages[3].content',
      message: 'A string in the JSON body of your request is longer than 1024 bytes.',
    });
    expect(parseJsonBody(JSON.stringify({ c: 'é'.repeat(512) }), LIMITS)).toMatchObject({ ok: true });
  });

  it('refuses a huge string without echoing it', () => {
    const r = parseJsonBody(JSON.stringify({ input: 'x'.repeat(8 * 1024 * 1024) }), LIMITS);
    expect(r).toMatchObject({ ok: false, code: 'string_too_long', param: 'input' });
    expect(JSON.stringify(r).length).toBeLessThan(300);
  });

  it('applies the string limit to member names too', () => {
    expect(parseJsonBody(JSON.stringify({ a: { ['k'.repeat(2000)]: 1 } }), LIMITS)).toMatchObject({ ok: false, code: 'string_too_long', param: 'a' });
  });

  it('names the array over the length limit', () => {
    expect(parseJsonBody(JSON.stringify({ input: [[], new Array(101).fill(0)] }), LIMITS)).toMatchObject({ ok: false, code: 'array_too_long', param: 'input[1]' });
    expect(parseJsonBody(JSON.stringify(new Array(101).fill(0)), LIMITS)).toMatchObject({ ok: false, code: 'array_too_long', param: null });
  });

  it('names the object over the member limit, and has none by default', () => {
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i]));
    expect(parseJsonBody(JSON.stringify({ metadata: many }), LIMITS)).toMatchObject({ ok: false, code: 'too_many_keys', param: 'metadata' });
    const { maxKeys: _none, ...noKeyLimit } = LIMITS;
    expect(parseJsonBody(JSON.stringify({ metadata: many }), noKeyLimit)).toMatchObject({ ok: true });
  });

  it('quotes odd member names in a param and cuts long ones', () => {
    expect(parseJsonBody('{"a.b":["' + 'x'.repeat(2000) + '"]}', LIMITS)).toMatchObject({ param: '["a.b"][0]' });
  });

  it('keeps "__proto__" as an own member and pollutes nothing', () => {
    const r = parseJsonBody('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"a":[{"__proto__":{"polluted":true}}]}', LIMITS);
    expect(r.ok).toBe(true);
    const v = (r as { value: Record<string, unknown> }).value;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(v, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect({ ...v }.polluted).toBeUndefined();
  });

  it('turns a failure into an OpenAI invalid_request_error', () => {
    const r = parseJsonBody('nope', LIMITS);
    if (r.ok) throw new Error('expected a failure');
    expect(jsonFailureRejection(r)).toEqual({ status: 400, type: 'invalid_request_error', code: 'invalid_json', param: null, message: INVALID_JSON_MESSAGE });
  });

  it('never throws, whatever the bytes (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.integer({ min: 0, max: 8 }), (bytes, depth) => {
        const r = parseJsonBody(bytes, { maxDepth: depth, maxStringBytes: 16, maxArrayLength: 4, maxKeys: 4 });
        expect(r.ok || r.status === 400).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with JSON.parse on valid JSON within the limits (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        const text = JSON.stringify(value);
        const r = parseJsonBody(Buffer.from(text), { maxDepth: 64, maxStringBytes: 1 << 20, maxArrayLength: 1 << 20 });
        expect(r).toEqual({ ok: true, value: JSON.parse(text) });
      }),
      { numRuns: 500 },
    );
  });
});
