/** What an answer actually used, from what the response side published. */
import { actualUsage, type RequestSide } from '../../plugins/shared/usage-actual';
import { estimateCompletionTokens } from '../../plugins/shared/usage-estimate';

const req: RequestSide = { endpoint: 'chat.completions', model: 'gpt-4o-mini', stream: true, include_usage: false, prompt_tokens: 12 };

describe('actualUsage', () => {
  it('takes exact usage as reported', () => {
    expect(actualUsage(req, { prompt_tokens: 13, completion_tokens: 40, total_tokens: 53, cached_tokens: 0, source: 'stream' })).toEqual({
      prompt_tokens: 13, completion_tokens: 40, total_tokens: 53, cached_tokens: 0, method: 'exact', error_bound: 0, reasoning_unseen: false,
    });
  });
  it('estimates from the answer size when no usage was read, with the estimate\'s bound', () => {
    const a = actualUsage(req, { source: 'none', status: 200, answer_bytes: 9000, stream: true, encoded: false })!;
    const e = estimateCompletionTokens({ endpoint: 'chat.completions', model: 'gpt-4o-mini', stream: true, bytes: 9000, include_usage: false })!;
    expect(a).toEqual({ prompt_tokens: 12, completion_tokens: e.completion_tokens, total_tokens: 12 + e.completion_tokens, cached_tokens: null, method: 'estimated', error_bound: e.error_bound, reasoning_unseen: false });
    expect(a.completion_tokens).toBeGreaterThan(10);
  });
  it('counts nothing for an error answer (OpenAI bills none)', () => {
    expect(actualUsage(req, { source: 'none', status: 429, answer_bytes: 300, stream: false, encoded: false })).toMatchObject({ total_tokens: 0, method: 'not_billed' });
  });
  it('knows nothing of a compressed answer, an uncounted prompt, or nothing published', () => {
    expect(actualUsage(req, { source: 'none', status: 200, answer_bytes: 300, stream: false, encoded: true })).toBeNull();
    expect(actualUsage({ ...req, prompt_tokens: null }, { source: 'none', status: 200, answer_bytes: 300, stream: false, encoded: false })).toBeNull();
    expect(actualUsage(req, undefined)).toBeNull();
    expect(actualUsage(req, [])).toBeNull();
  });
});
