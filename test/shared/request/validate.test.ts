import { compileCustomSchema, compileOpenAiValidators, SchemaConfigError, validateRequest } from '../../../plugins/shared/request/validate';

describe('validateRequest', () => {
  it('accepts valid bodies of every endpoint', () => {
    expect(validateRequest('chat.completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })).toBeNull();
    expect(validateRequest('completions', { model: 'gpt-3.5-turbo-instruct', prompt: 'hi' })).toBeNull();
    expect(validateRequest('embeddings', { model: 'text-embedding-3-small', input: ['a'] })).toBeNull();
    expect(validateRequest('responses', { model: 'gpt-4o', input: 'hi', instructions: 'x' })).toBeNull();
  });

  it('names the first failing field as a param', () => {
    expect(validateRequest('chat.completions', { model: 'gpt-4o', messages: [{ role: 'root', content: 'x' }] })).toEqual({
      param: 'messages[0].role',
      message: "Invalid value for 'messages[0].role': must be equal to one of the allowed values.",
    });
    expect(validateRequest('chat.completions', { messages: [{ role: 'user', content: 'x' }] })).toEqual({ param: 'model', message: "Invalid value for 'model': is required." });
    expect(validateRequest('chat.completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }], temperature: 3 })?.param).toBe('temperature');
  });

  it('reports a body that is not an object without a param', () => {
    expect(validateRequest('embeddings', [1])).toEqual({ param: null, message: 'Invalid request body: must be object.' });
  });

  it('never quotes the data in its message', () => {
    const secret = 'my secret prompt';
    const issue = validateRequest('chat.completions', { model: 'gpt-4o', messages: [{ role: secret, content: secret }] });
    expect(JSON.stringify(issue)).not.toContain(secret);
  });

  it('compiles the validators once per process', () => {
    expect(compileOpenAiValidators()).toBe(compileOpenAiValidators());
  });
});

describe('compileCustomSchema', () => {
  it('validates bodies against a route schema', () => {
    const check = compileCustomSchema({ type: 'object', required: ['user'], properties: { user: { type: 'string', pattern: '^emp-[0-9]+$' } } });
    expect(check({ user: 'emp-12' })).toBeNull();
    expect(check({ user: 'bob' })).toMatchObject({ param: 'user' });
    expect(check({})).toEqual({ param: 'user', message: "Invalid value for 'user': is required." });
  });

  it('matches patterns in linear time (RE2), even a catastrophic one', () => {
    const check = compileCustomSchema({ type: 'string', pattern: '^(a+)+$' });
    const t0 = Date.now();
    expect(check('a'.repeat(5000) + '!')).not.toBeNull();
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it.each([
    ['a non-schema', 42],
    ['an unknown keyword (strict mode)', { type: 'object', propertys: {} }],
    ['a bad type', { type: 'strng' }],
    ['an unknown format', { type: 'string', format: 'emial' }],
    ['a pattern RE2 refuses', { type: 'string', pattern: '(?<=a)b' }],
  ])('refuses %s with a config error', (_what, schema) => {
    expect(() => compileCustomSchema(schema)).toThrow(SchemaConfigError);
  });
});
