import { countPromptTokens, countText, encodingForModel, MAX_RUN, requestedCompletionTokens } from '../../../plugins/shared/request/tokens';

/** OpenAI cookbook "How to count tokens with tiktoken": the API reported 129
 * prompt tokens for gpt-3.5-turbo/gpt-4-0613 and 124 for gpt-4o/gpt-4o-mini. */
const COOKBOOK = [
  { role: 'system', content: 'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.' },
  { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
  { role: 'system', name: 'example_assistant', content: 'Things working well together will increase revenue.' },
  { role: 'system', name: 'example_user', content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
  { role: 'system', name: 'example_assistant', content: "Let's talk later when we're less busy about how to do better." },
  { role: 'user', content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
];

describe('encodingForModel', () => {
  it.each([
    ['gpt-4o', 'o200k_base'], ['gpt-4o-mini-2024-07-18', 'o200k_base'], ['chatgpt-4o-latest', 'o200k_base'], ['gpt-4.1-nano', 'o200k_base'],
    ['gpt-4.5-preview', 'o200k_base'], ['gpt-5', 'o200k_base'], ['gpt-5.1', 'o200k_base'], ['o1-mini', 'o200k_base'], ['o3', 'o200k_base'], ['o4-mini', 'o200k_base'],
    ['ft:gpt-4o-mini-2024-07-18:acme::abc', 'o200k_base'],
    ['gpt-4', 'cl100k_base'], ['gpt-4-turbo', 'cl100k_base'], ['gpt-4-0613', 'cl100k_base'], ['gpt-3.5-turbo', 'cl100k_base'], ['text-embedding-3-small', 'cl100k_base'], ['text-embedding-ada-002', 'cl100k_base'],
  ])('uses the published encoding of %s', (model, encoding) => {
    expect(encodingForModel(model)).toEqual({ encoding, known: true });
  });

  it('guesses o200k_base for unknown models', () => {
    expect(encodingForModel('my-llama')).toEqual({ encoding: 'o200k_base', known: false });
    expect(encodingForModel(null)).toEqual({ encoding: 'o200k_base', known: false });
  });
});

describe('countText', () => {
  it('counts known values', () => {
    expect(countText('hello world', 'o200k_base').tokens).toBe(2);
    expect(countText('hello world', 'cl100k_base').tokens).toBe(2);
    expect(countText('Say this is a test', 'o200k_base').tokens).toBe(5);
  });

  it('counts special-token strings as text instead of throwing', () => {
    expect(countText('a <|endoftext|> b', 'o200k_base').tokens).toBeGreaterThan(3);
  });

  it('counts a long single run in slices, close to the exact count', () => {
    const run = 'abcdefghij'.repeat(300);
    const r = countText(run, 'o200k_base');
    expect(r.sliced).toBe(true);
    const exact = countText(run.slice(0, MAX_RUN), 'o200k_base').tokens; // sanity: slices are real counts
    expect(exact).toBeGreaterThan(0);
    expect(r.tokens).toBeGreaterThan(run.length / 10);
    expect(r.tokens).toBeLessThan(run.length / 2);
  });

  it('never cuts a surrogate pair', () => {
    const r = countText('😀'.repeat(1000), 'o200k_base');
    expect(r.sliced).toBe(true);
    expect(r.tokens).toBeGreaterThan(0);
  });
});

describe('countPromptTokens', () => {
  it('matches the usage OpenAI reports for the cookbook chat', () => {
    for (const model of ['gpt-3.5-turbo', 'gpt-4-0613']) expect(countPromptTokens('chat.completions', model, { model, messages: COOKBOOK })).toEqual({ tokens: 129, method: 'exact', encoding: 'cl100k_base' });
    for (const model of ['gpt-4o', 'gpt-4o-mini']) expect(countPromptTokens('chat.completions', model, { model, messages: COOKBOOK })).toEqual({ tokens: 124, method: 'exact', encoding: 'o200k_base' });
  });

  it('counts a one-line chat as 3 + role + content + 3', () => {
    // 3 + 'user' (1) + 'Say hello' (2) + 3 priming
    expect(countPromptTokens('chat.completions', 'gpt-4o-mini', { messages: [{ role: 'user', content: 'Say hello' }] })).toEqual({ tokens: 9, method: 'exact', encoding: 'o200k_base' });
    // 'Say this is a test!' is 6 tokens
    expect(countPromptTokens('chat.completions', 'gpt-4o-mini', { messages: [{ role: 'user', content: 'Say this is a test!' }] }).tokens).toBe(13);
  });

  it('counts text parts like a string and estimates when images or tools are present', () => {
    const parts = countPromptTokens('chat.completions', 'gpt-4o', { messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hello' }] }] });
    expect(parts).toEqual({ tokens: 9, method: 'exact', encoding: 'o200k_base' });
    const image = countPromptTokens('chat.completions', 'gpt-4o', { messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hello' }, { type: 'image_url', image_url: { url: 'https://x' } }] }] });
    expect(image).toEqual({ tokens: 9, method: 'estimated', encoding: 'o200k_base' });
    const tools = countPromptTokens('chat.completions', 'gpt-4o', { messages: [{ role: 'user', content: 'Say hello' }], tools: [{ type: 'function', function: { name: 'f', description: 'd' } }] });
    expect(tools.method).toBe('estimated');
    expect(tools.tokens).toBeGreaterThan(9);
  });

  it('marks an unknown model estimated', () => {
    expect(countPromptTokens('chat.completions', 'my-model', { messages: [{ role: 'user', content: 'Say hello' }] })).toEqual({ tokens: 9, method: 'estimated', encoding: 'o200k_base' });
  });

  it('counts completions and embeddings texts without overhead, token arrays by length', () => {
    expect(countPromptTokens('completions', 'gpt-3.5-turbo-instruct', { prompt: 'hello world' })).toEqual({ tokens: 2, method: 'exact', encoding: 'cl100k_base' });
    expect(countPromptTokens('embeddings', 'text-embedding-3-small', { input: ['hello world', 'hello world'] })).toEqual({ tokens: 4, method: 'exact', encoding: 'cl100k_base' });
    expect(countPromptTokens('embeddings', 'text-embedding-3-small', { input: [1, 2, 3] }).tokens).toBe(3);
    expect(countPromptTokens('completions', 'gpt-3.5-turbo-instruct', { prompt: [[1, 2], [3]] }).tokens).toBe(3);
  });

  it('always estimates the Responses API', () => {
    const r = countPromptTokens('responses', 'gpt-4o', { instructions: 'be nice', input: 'hello world' });
    expect(r.method).toBe('estimated');
    expect(r.tokens).toBe(3 + 1 + 2 + 3 + 1 + 2 + 3); // as two chat messages: developer + user
  });

  it('never throws on bodies of the wrong shape', () => {
    for (const body of [null, 1, 'x', [], { messages: [null, { content: 1 }, { content: [null] }] }, { input: {} }, { prompt: [1, 'a'] }]) {
      for (const endpoint of ['chat.completions', 'completions', 'embeddings', 'responses'] as const) {
        expect(typeof countPromptTokens(endpoint, null, body).tokens).toBe('number');
      }
    }
  });

  it('grows linearly: 512 KiB costs about 8 x 64 KiB and well under a second', () => {
    const words = 'The quick brown fox jumps over the lazy dog while Zürich, 東京 and São Paulo trade 12,345 shares; '.split(' ');
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const prose = (bytes: number) => {
      const out: string[] = [];
      let n = 0;
      while (n < bytes) {
        // words with random suffixes, so the merge cache does not hide the work
        const w = words[Math.floor(rand() * words.length)] + (rand() < 0.3 ? Math.floor(rand() * 1e6).toString(36) : '');
        out.push(w);
        n += w.length + 1;
      }
      return out.join(' ');
    };
    const time = (text: string) => {
      const body = { messages: [{ role: 'user', content: text }] };
      const t0 = process.hrtime.bigint();
      const r = countPromptTokens('chat.completions', 'gpt-4o', body);
      return { ms: Number(process.hrtime.bigint() - t0) / 1e6, tokens: r.tokens };
    };
    time(prose(1024)); // load the encoding
    const small = time(prose(64 * 1024));
    const large = time(prose(512 * 1024));
    const worst = time('qwertyuiopasdfghjklzxcvbnm'.repeat(20 * 1024).split('').sort(() => rand() - 0.5).join('')); // 512 KiB, one letter run
    // eslint-disable-next-line no-console
    console.log(`countPromptTokens: 64 KiB ${small.ms.toFixed(1)} ms, 512 KiB ${large.ms.toFixed(1)} ms (${(large.ms / 512).toFixed(3)} ms/KiB, ${large.tokens} tokens); 512 KiB single letter run ${worst.ms.toFixed(1)} ms`);
    expect(large.ms).toBeLessThan(1000);
    expect(large.ms).toBeLessThan(Math.max(small.ms, 5) * 8 * 4); // linear, with room for a busy machine
    expect(worst.ms).toBeLessThan(5000);
  });
});

describe('requestedCompletionTokens', () => {
  it('reads the limit member of each endpoint, times the choices', () => {
    expect(requestedCompletionTokens('chat.completions', { max_completion_tokens: 100, max_tokens: 5 })).toBe(100);
    expect(requestedCompletionTokens('chat.completions', { max_tokens: 50, n: 3 })).toBe(150);
    expect(requestedCompletionTokens('chat.completions', { max_completion_tokens: null, max_tokens: 50 })).toBe(50);
    expect(requestedCompletionTokens('completions', { max_tokens: 10, n: 2, best_of: 5 })).toBe(50);
    expect(requestedCompletionTokens('responses', { max_output_tokens: 70, n: 4 })).toBe(70);
    expect(requestedCompletionTokens('embeddings', { input: 'x' })).toBe(0);
  });
  it('is null when the request sets no limit or a nonsense one', () => {
    expect(requestedCompletionTokens('chat.completions', { n: 2 })).toBeNull();
    expect(requestedCompletionTokens('completions', {})).toBeNull();
    expect(requestedCompletionTokens('responses', { max_output_tokens: '70' })).toBeNull();
    expect(requestedCompletionTokens('chat.completions', null)).toBeNull();
  });
});
