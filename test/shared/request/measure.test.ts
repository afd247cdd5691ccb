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
  it('returns null for what is not a JSON object, and nothing to add where usage already comes', () => {
    expect(measureRequest('chat.completions', 'not json', { includeUsage: true })).toBeNull();
    expect(measureRequest('chat.completions', '[1,2]', { includeUsage: true })).toBeNull();
    expect(measureRequest('chat.completions', '{"a":' + '['.repeat(100) + ']'.repeat(100) + '}', { includeUsage: true })).toBeNull();
    expect(withStreamUsage('responses', { stream: true })).toBeNull();
    expect(withStreamUsage('chat.completions', { stream: true, stream_options: { include_usage: true } })).toBeNull();
    expect(withStreamUsage('completions', { stream: true, stream_options: 'x' })).toEqual({ stream: true, stream_options: { include_usage: true } });
  });
});
