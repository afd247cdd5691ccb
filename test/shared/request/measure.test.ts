/** The facts of a body llm-guard did not check (llm-rate-limit reads it itself). */
import { measureRequest, withStreamUsage } from '../../../plugins/shared/request/measure';
import { countPromptTokens } from '../../../plugins/shared/request/tokens';

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hello there, how are you?' }] };

describe('measureRequest', () => {
  it('counts the prompt as llm-guard would and reads the completion bound', () => {
    const m = measureRequest('chat.completions', JSON.stringify({ ...chat, max_completion_tokens: 200, n: 2 }), { includeUsage: true })!;
    expect(m.body).toBeNull();
    expect(m.facts).toEqual({
      endpoint: 'chat.completions',
      model: 'gpt-4o-mini',
      stream: false,
      include_usage_injected: false,
      prompt_tokens: countPromptTokens('chat.completions', 'gpt-4o-mini', chat).tokens,
      prompt_tokens_method: 'exact',
      requested_completion_tokens: 400,
      findings: { pii: {}, injection: [], blocked: false },
      body_rewritten: false,
    });
  });
  it('asks a stream for its usage, keeping the other stream options', () => {
    const m = measureRequest('chat.completions', JSON.stringify({ ...chat, stream: true, stream_options: { include_obfuscation: false } }), { includeUsage: true })!;
    expect(JSON.parse(m.body!).stream_options).toEqual({ include_obfuscation: false, include_usage: true });
    expect(m.facts).toMatchObject({ stream: true, include_usage_injected: true, body_rewritten: true });
    expect(measureRequest('chat.completions', JSON.stringify({ ...chat, stream: true }), { includeUsage: false })!.body).toBeNull();
  });
  it('gives facts without a prompt count for what is not a JSON object (the answer can still settle), and nothing to add where usage already comes', () => {
    for (const body of ['not json', '[1,2]', '{"a":' + '['.repeat(200) + ']'.repeat(200) + '}']) {
      expect(measureRequest('chat.completions', body, { includeUsage: true })).toEqual({
        facts: expect.objectContaining({ endpoint: 'chat.completions', model: null, prompt_tokens: null, requested_completion_tokens: null, body_rewritten: false }),
        body: null,
      });
    }
    // what OpenAI accepts must count: 8k token ids, tool parameters nested 40 deep
    const ids = measureRequest('embeddings', JSON.stringify({ model: 'text-embedding-3-small', input: Array.from({ length: 8000 }, (_, i) => i) }), { includeUsage: true });
    expect(ids.facts.prompt_tokens).toBe(8000);
    let params: Record<string, unknown> = { type: 'string' };
    for (let i = 0; i < 40; i++) params = { type: 'object', properties: { x: params } };
    const nested = measureRequest('chat.completions', JSON.stringify({ ...chat, tools: [{ type: 'function', function: { name: 'f', parameters: params } }] }), { includeUsage: true });
    expect(nested.facts.prompt_tokens).toBeGreaterThan(0);
    expect(withStreamUsage('responses', { stream: true })).toBeNull();
    expect(withStreamUsage('chat.completions', { stream: true, stream_options: { include_usage: true } })).toBeNull();
    expect(withStreamUsage('completions', { stream: true, stream_options: 'x' })).toEqual({ stream: true, stream_options: { include_usage: true } });
  });
});
