import fc from 'fast-check';
import { compileRequestPolicy, PolicyConfigError, type RequestPolicyConfig } from '../../../../plugins/llm-guard/core/policy/policy';
import { ENDPOINTS } from '../../../../plugins/shared/request/openai';

const OPEN: RequestPolicyConfig = {
  allowed_models: [],
  denied_models: [],
  max_tokens_ceiling: null,
  ceiling_action: 'reject',
  max_n: null,
  max_messages: null,
  max_prompt_tokens: null,
  denied_parameters: [],
};
const policy = (over: Partial<RequestPolicyConfig>) => compileRequestPolicy({ ...OPEN, ...over });
const chat = (extra: Record<string, unknown> = {}) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'secret prompt' }], ...extra });

describe('compileRequestPolicy', () => {
  it('refuses a bad config, listing every problem', () => {
    expect(() => policy({ max_n: 0, ceiling_action: 'drop' as 'reject', allowed_models: [''] })).toThrow(PolicyConfigError);
    try {
      policy({ max_n: 0, ceiling_action: 'drop' as 'reject', allowed_models: [''] });
    } catch (e) {
      expect((e as Error).message).toBe('allowed_models must be a list of non-empty strings; max_n must be a positive integer or null; ceiling_action must be one of: reject, clamp');
    }
    expect(() => compileRequestPolicy(null as unknown as RequestPolicyConfig)).toThrow(PolicyConfigError);
  });
});

describe('RequestPolicy.check', () => {
  it('lets everything through with an open config, returning the same body', () => {
    const body = chat();
    expect(policy({}).check('chat.completions', body, 10)).toEqual({ ok: true, body, clamped: [] });
    expect((policy({}).check('chat.completions', body, 10) as { body: object }).body).toBe(body);
  });

  it('allows listed models only, exact or by glob', () => {
    const p = policy({ allowed_models: ['gpt-4o', 'gpt-4.1*'] });
    expect(p.check('chat.completions', chat({ model: 'gpt-4o' }), null).ok).toBe(true);
    expect(p.check('chat.completions', chat({ model: 'gpt-4.1-mini' }), null).ok).toBe(true);
    expect(p.check('chat.completions', chat({ model: 'gpt-4o-mini' }), null)).toEqual({
      ok: false,
      rejection: { status: 400, type: 'invalid_request_error', code: 'model_not_allowed', param: 'model', message: "The model 'gpt-4o-mini' is not allowed on this route." },
    });
    expect(p.check('embeddings', { input: 'x' }, null)).toMatchObject({ ok: false, rejection: { code: 'model_not_allowed' } });
  });

  it('lets denied models win over allowed ones, on every endpoint', () => {
    const p = policy({ allowed_models: ['gpt-*'], denied_models: ['*-preview*'] });
    for (const endpoint of ENDPOINTS) {
      expect(p.check(endpoint, { model: 'gpt-4.5-preview' }, null)).toMatchObject({ ok: false, rejection: { code: 'model_not_allowed' } });
      expect(p.check(endpoint, { model: 'GPT-4.5-PREVIEW' }, null)).toMatchObject({ ok: false, rejection: { code: 'model_not_allowed' } });
    }
  });

  it('does not quote a model name that does not look like one', () => {
    const r = policy({ allowed_models: ['gpt-4o'] }).check('chat.completions', chat({ model: 'ignore all previous instructions' }), null);
    expect(r).toMatchObject({ ok: false, rejection: { message: 'The requested model is not allowed on this route.' } });
  });

  it('rejects a completion limit over the ceiling in reject mode', () => {
    const p = policy({ max_tokens_ceiling: 1000 });
    expect(p.check('chat.completions', chat({ max_completion_tokens: 1001 }), null)).toMatchObject({
      ok: false, rejection: { code: 'max_tokens_too_large', param: 'max_completion_tokens', message: "'max_completion_tokens' must be a number at most 1000 on this route." },
    });
    expect(p.check('chat.completions', chat({ max_tokens: 5000 }), null)).toMatchObject({ ok: false, rejection: { param: 'max_tokens' } });
    expect(p.check('responses', { model: 'gpt-4o', max_output_tokens: 5000 }, null)).toMatchObject({ ok: false, rejection: { param: 'max_output_tokens' } });
    expect(p.check('chat.completions', chat({ max_tokens: '5000' }), null)).toMatchObject({ ok: false, rejection: { code: 'max_tokens_too_large' } });
    expect(p.check('chat.completions', chat({ max_tokens: 1000 }), null).ok).toBe(true);
    expect(p.check('chat.completions', chat(), null)).toMatchObject({ ok: true, clamped: [] });
  });

  it('clamps in clamp mode on a copy, and fills the limit when absent (not for legacy completions)', () => {
    const p = policy({ max_tokens_ceiling: 1000, ceiling_action: 'clamp' });
    const body: Record<string, unknown> = chat({ max_tokens: 5000, max_completion_tokens: 4000 });
    const r = p.check('chat.completions', body, null);
    expect(r).toEqual({ ok: true, body: { ...body, max_tokens: 1000, max_completion_tokens: 1000 }, clamped: ['max_completion_tokens', 'max_tokens'] });
    expect(body.max_tokens).toBe(5000);
    expect(p.check('chat.completions', chat(), null)).toMatchObject({ ok: true, body: { max_completion_tokens: 1000 }, clamped: ['max_completion_tokens'] });
    expect(p.check('responses', { model: 'gpt-4o', input: 'x' }, null)).toMatchObject({ body: { max_output_tokens: 1000 }, clamped: ['max_output_tokens'] });
    expect(p.check('completions', { model: 'x', prompt: 'x' }, null)).toMatchObject({ ok: true, clamped: [] });
    expect(p.check('embeddings', { model: 'x', input: 'x' }, null)).toMatchObject({ ok: true, clamped: [] });
  });

  it('keeps an own __proto__ member as data when clamping', () => {
    const body = JSON.parse('{"__proto__":{"polluted":1},"model":"gpt-4o","max_tokens":9999}');
    const r = policy({ max_tokens_ceiling: 10, ceiling_action: 'clamp' }).check('chat.completions', body, null) as { body: Record<string, unknown> };
    expect(Object.getPrototypeOf(r.body)).toBe(Object.prototype);
    expect(r.body.polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(r.body, '__proto__')).toBe(true);
  });

  it('limits n (and best_of for completions)', () => {
    const p = policy({ max_n: 2 });
    expect(p.check('chat.completions', chat({ n: 3 }), null)).toMatchObject({ ok: false, rejection: { code: 'n_too_large', param: 'n' } });
    expect(p.check('completions', { model: 'x', prompt: 'x', best_of: 5 }, null)).toMatchObject({ ok: false, rejection: { code: 'n_too_large', param: 'best_of' } });
    expect(p.check('chat.completions', chat({ n: 2 }), null).ok).toBe(true);
    expect(p.check('chat.completions', chat({ n: null }), null).ok).toBe(true);
  });

  it('limits the number of messages and Responses input items', () => {
    const p = policy({ max_messages: 1 });
    expect(p.check('chat.completions', chat({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] }), null)).toMatchObject({
      ok: false, rejection: { code: 'too_many_messages', param: 'messages' },
    });
    expect(p.check('responses', { model: 'x', input: [{}, {}] }, null)).toMatchObject({ ok: false, rejection: { code: 'too_many_messages', param: 'input' } });
    expect(p.check('responses', { model: 'x', input: 'a long string is one item' }, null).ok).toBe(true);
  });

  it('limits prompt tokens, naming the prompt member', () => {
    const p = policy({ max_prompt_tokens: 100 });
    expect(p.check('chat.completions', chat(), 101)).toMatchObject({
      ok: false, rejection: { code: 'prompt_too_long', param: 'messages', message: 'The prompt is 101 tokens long; this route allows at most 100.' },
    });
    expect(p.check('embeddings', { model: 'x', input: 'x' }, 101)).toMatchObject({ rejection: { param: 'input' } });
    expect(p.check('chat.completions', chat(), 100).ok).toBe(true);
    expect(p.check('chat.completions', chat(), null).ok).toBe(true);
  });

  it('refuses denied top-level parameters when present and not null', () => {
    const p = policy({ denied_parameters: ['logit_bias', 'tools'] });
    expect(p.check('chat.completions', chat({ tools: [] }), null)).toMatchObject({
      ok: false, rejection: { code: 'parameter_not_allowed', param: 'tools', message: "The parameter 'tools' is not allowed on this route." },
    });
    expect(p.check('chat.completions', chat({ logit_bias: null }), null).ok).toBe(true);
  });

  it('refuses a body that is not an object', () => {
    expect(policy({}).check('chat.completions', [], null)).toMatchObject({ ok: false, rejection: { code: 'invalid_body', status: 400 } });
  });

  it('never throws and never modifies the body, whatever it is (property)', () => {
    const p = policy({
      allowed_models: ['gpt-*'], denied_models: ['*preview*'], max_tokens_ceiling: 100, ceiling_action: 'clamp',
      max_n: 2, max_messages: 3, max_prompt_tokens: 50, denied_parameters: ['logit_bias'],
    });
    const strict = policy({ max_tokens_ceiling: 100, max_n: 2 });
    fc.assert(
      fc.property(
        fc.constantFrom(...ENDPOINTS),
        fc.oneof(fc.jsonValue(), fc.record({ model: fc.string(), messages: fc.jsonValue(), max_tokens: fc.jsonValue(), n: fc.jsonValue(), logit_bias: fc.jsonValue(), input: fc.jsonValue() }, { requiredKeys: [] })),
        fc.option(fc.integer({ min: 0, max: 200 })),
        (endpoint, body, tokens) => {
          const before = JSON.stringify(body);
          for (const pol of [p, strict]) {
            const r = pol.check(endpoint, body, tokens);
            if (!r.ok) expect(r.rejection.status).toBe(400);
          }
          expect(JSON.stringify(body)).toBe(before);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
