import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions/completions';
import { MockOpenAI, estimateTokens, promptTokens } from './server';

describe('MockOpenAI', () => {
  const mock = new MockOpenAI();
  let client: OpenAI;

  beforeAll(async () => {
    const url = await mock.start();
    client = new OpenAI({ apiKey: 'sk-test', baseURL: `${url}/v1`, maxRetries: 0 });
  });
  afterAll(() => mock.stop());
  beforeEach(() => mock.reset());

  const messages = [
    { role: 'system' as const, content: 'Be brief.' },
    { role: 'user' as const, content: 'Tell me a short story about a cat' },
  ];
  const reply = 'Echo: Tell me a short story about a cat';

  /** Reads a chat stream to its end, as an SDK user would. */
  async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    return chunks;
  }

  describe('start and url', () => {
    it('listens on 127.0.0.1 and exposes the base URL', () => {
      expect(mock.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    });

    it('throws from url once stopped', async () => {
      const other = new MockOpenAI();
      await other.start();
      await other.stop();
      expect(() => other.url).toThrow('not started');
    });
  });

  describe('POST /v1/chat/completions', () => {
    it('answers a chat.completion echoing the last user message, with deterministic usage', async () => {
      const { data, response } = await client.chat.completions.create({ model: 'gpt-4o', messages }).withResponse();

      expect(data.id).toMatch(/^chatcmpl-/);
      expect(data.object).toBe('chat.completion');
      expect(data.model).toBe('gpt-4o');
      expect(data.system_fingerprint).toEqual(expect.any(String));
      expect(data.choices[0].message).toMatchObject({ role: 'assistant', content: reply, refusal: null });
      expect(data.choices[0].finish_reason).toBe('stop');
      // ceil((9 + 33) / 4) + 3 * 2 messages
      expect(data.usage).toMatchObject({ prompt_tokens: 17, completion_tokens: estimateTokens(reply) });
      expect(data.usage?.prompt_tokens).toBe(promptTokens(['Be brief.', 'Tell me a short story about a cat']));
      expect(data.usage?.total_tokens).toBe(17 + estimateTokens(reply));
      expect(response.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
      expect(response.headers.get('openai-processing-ms')).toMatch(/^\d+$/);
    });

    it('truncates the echoed text to 200 characters', async () => {
      const long = 'x'.repeat(500);
      const res = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: long }] });
      expect(res.choices[0].message.content).toBe(`Echo: ${'x'.repeat(200)}`);
    });

    it('streams role, word chunks and a stop chunk, without usage unless asked', async () => {
      const chunks = await collect(
        await client.chat.completions.create({ model: 'gpt-4o', messages, stream: true }),
      );

      expect(chunks[0].object).toBe('chat.completion.chunk');
      expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
      const content = chunks.slice(1, -1).map((c) => c.choices[0].delta.content);
      expect(content.length).toBeGreaterThanOrEqual(5);
      expect(content.join('')).toBe(reply);
      expect(chunks.at(-1)?.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
      expect(chunks.every((c) => c.usage === undefined)).toBe(true);
      expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    });

    it('streams a final usage chunk with empty choices when include_usage is set', async () => {
      const chunks = await collect(
        await client.chat.completions.create({
          model: 'gpt-4o',
          messages,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );

      const last = chunks.at(-1);
      expect(last?.choices).toEqual([]);
      expect(last?.usage).toMatchObject({ prompt_tokens: 17, completion_tokens: estimateTokens(reply) });
      expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
      expect(chunks.at(-2)?.choices[0].finish_reason).toBe('stop');
    });

    it('sends SSE frames ending with data: [DONE]', async () => {
      const res = await fetch(`${mock.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages, stream: true }),
      });
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const text = await res.text();
      expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
      expect(text.split('\n\n').filter(Boolean).every((frame) => frame.startsWith('data: '))).toBe(true);
    });

    it('delivers stream chunks incrementally, one chunk delay apart', async () => {
      mock.setChunkDelay(50);
      const started = Date.now();
      const res = await fetch(`${mock.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages, stream: true }),
      });
      const reader = res.body!.getReader();
      const readAt: number[] = [];
      for (let r = await reader.read(); !r.done; r = await reader.read()) readAt.push(Date.now() - started);

      // 11 frames (role, 9 words, stop) + [DONE]: 11 delays of 50 ms between first and last.
      expect(readAt.length).toBeGreaterThan(5);
      expect(readAt.at(-1)! - readAt[0]).toBeGreaterThanOrEqual(400);
      expect(readAt[0]).toBeLessThan(readAt.at(-1)! / 2);
    });

    it('rejects a request without messages as BadRequestError with param', async () => {
      const request = { model: 'gpt-4o' } as unknown as ChatCompletionCreateParamsNonStreaming;
      const err = await client.chat.completions.create(request).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'messages' });
    });

    it('rejects empty messages and a non-string model with the offending param', async () => {
      const empty = await client.chat.completions.create({ model: 'gpt-4o', messages: [] }).catch((e: unknown) => e);
      expect(empty).toMatchObject({ status: 400, param: 'messages', code: 'empty_array' });
      const request = { model: 4, messages } as unknown as ChatCompletionCreateParamsNonStreaming;
      const badModel = await client.chat.completions.create(request).catch((e: unknown) => e);
      expect(badModel).toMatchObject({ status: 400, param: 'model', code: 'invalid_type' });
    });

    it('rejects a body that is not JSON with 400 invalid_request_error', async () => {
      const res = await fetch(`${mock.url}/v1/chat/completions`, { method: 'POST', body: '{"model": ' });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        error: { message: expect.stringContaining('could not parse the JSON body'), type: 'invalid_request_error', param: null, code: null },
      });
    });
  });

  describe('POST /v1/completions', () => {
    it('answers a text_completion echoing the prompt', async () => {
      const res = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say hi' });
      expect(res.object).toBe('text_completion');
      expect(res.choices[0]).toMatchObject({ text: 'Echo: Say hi', index: 0, finish_reason: 'stop' });
      expect(res.usage).toEqual({ prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
    });
  });

  describe('POST /v1/embeddings', () => {
    it('answers one deterministic 8-dimension vector per input, in float or base64', async () => {
      // The SDK asks for base64 by default and decodes it to numbers.
      const res = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'] });
      const asFloats = await client.embeddings.create({
        model: 'text-embedding-3-small',
        input: 'alpha',
        encoding_format: 'float',
      });

      expect(res.object).toBe('list');
      expect(res.model).toBe('text-embedding-3-small');
      expect(res.data.map((d) => [d.object, d.index, d.embedding.length])).toEqual([
        ['embedding', 0, 8],
        ['embedding', 1, 8],
      ]);
      expect(res.data[0].embedding).toEqual(asFloats.data[0].embedding);
      expect(res.data[0].embedding).not.toEqual(res.data[1].embedding);
      expect(res.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
    });
  });

  describe('POST /v1/responses', () => {
    it('answers a completed response with an output_text message', async () => {
      const res = await client.responses.create({ model: 'gpt-4o', input: 'Hello there' });
      expect(res.id).toMatch(/^resp_/);
      expect(res).toMatchObject({ object: 'response', status: 'completed', model: 'gpt-4o' });
      expect(res.output[0]).toMatchObject({
        type: 'message',
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: 'Echo: Hello there', annotations: [] }],
      });
      expect(res.output_text).toBe('Echo: Hello there');
      expect(res.usage).toMatchObject({ input_tokens: promptTokens(['Hello there']), output_tokens: 5, total_tokens: 11 });
    });

    it('echoes the last user item of an array input', async () => {
      const res = await client.responses.create({
        model: 'gpt-4o',
        input: [
          { role: 'user', content: 'first' },
          { role: 'assistant', content: 'ok' },
          { role: 'user', content: [{ type: 'input_text', text: 'second' }] },
        ],
      });
      expect(res.output_text).toBe('Echo: second');
    });
  });

  describe('GET /v1/models', () => {
    it('lists models and retrieves one by id', async () => {
      const ids: string[] = [];
      for await (const model of client.models.list()) ids.push(model.id);
      expect(ids).toContain('gpt-4o');

      await expect(client.models.retrieve('gpt-4o')).resolves.toMatchObject({ id: 'gpt-4o', object: 'model', owned_by: 'system' });
    });

    it('answers 404 model_not_found for an unknown id', async () => {
      const err = await client.models.retrieve('gpt-nope').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.NotFoundError);
      expect(err).toMatchObject({ code: 'model_not_found' });
    });
  });

  describe('unknown paths', () => {
    it.each([
      ['POST', '/v1/nope'],
      ['POST', '/chat/completions'],
      ['GET', '/v1/chat/completions'],
    ])('answers %s %s with 404 in OpenAI error format', async (method, path) => {
      const res = await fetch(`${mock.url}${path}`, { method, body: method === 'POST' ? '{}' : undefined });
      expect(res.status).toBe(404);
      expect(res.headers.get('x-request-id')).toMatch(/^req_/);
      expect(await res.json()).toEqual({
        error: { message: `Invalid URL (${method} ${path})`, type: 'invalid_request_error', param: null, code: null },
      });
    });
  });

  describe('failNext', () => {
    it('makes a 429 surface as RateLimitError with the rate-limit headers, then recovers', async () => {
      mock.failNext(1, { status: 429 });
      const err = await client.chat.completions.create({ model: 'gpt-4o', messages }).catch((e: unknown) => e);

      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      const rateLimit = err as InstanceType<typeof OpenAI.RateLimitError>;
      expect(rateLimit).toMatchObject({ status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' });
      for (const name of [
        'x-ratelimit-limit-requests',
        'x-ratelimit-remaining-requests',
        'x-ratelimit-reset-requests',
        'x-ratelimit-limit-tokens',
        'x-ratelimit-remaining-tokens',
        'x-ratelimit-reset-tokens',
        'retry-after',
      ]) {
        expect(rateLimit.headers.get(name)).toEqual(expect.any(String));
      }
      expect(rateLimit.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(rateLimit.requestID).toMatch(/^req_/);

      await expect(client.chat.completions.create({ model: 'gpt-4o', messages })).resolves.toBeDefined();
    });

    it('makes a 500 surface as InternalServerError with type server_error', async () => {
      mock.failNext(1, { status: 500 });
      const err = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      expect(err).toMatchObject({ status: 500, type: 'server_error' });
    });

    it('fails exactly n requests and lets the caller override the message', async () => {
      mock.failNext(2, { status: 503, message: 'overloaded' });
      const answers: Response[] = [];
      for (let i = 0; i < 3; i++) answers.push(await fetch(`${mock.url}/v1/models`));
      expect(answers.map((a) => a.status)).toEqual([503, 503, 200]);
      expect(await answers[0].json()).toEqual({
        error: { message: 'overloaded', type: 'server_error', param: null, code: null },
      });
    });
  });

  describe('setLatency', () => {
    it('delays the first byte of the answer', async () => {
      mock.setLatency(150);
      const started = Date.now();
      await client.models.retrieve('gpt-4o');
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    });
  });

  describe('requests and reset', () => {
    it('records method, path, headers including Authorization, and the body', async () => {
      await client.chat.completions.create({ model: 'gpt-4o', messages });

      expect(mock.requests).toHaveLength(1);
      const [req] = mock.requests;
      expect(req).toMatchObject({ method: 'POST', path: '/v1/chat/completions' });
      expect(req.headers.authorization).toBe('Bearer sk-test');
      expect(req.headers['content-type']).toBe('application/json');
      expect(req.json).toEqual({ model: 'gpt-4o', messages });
      expect(JSON.parse(req.body)).toEqual(req.json);
      expect(req.receivedAt).toBeLessThanOrEqual(Date.now());
    });

    it('clears the record and the injected behaviour', async () => {
      await fetch(`${mock.url}/v1/models`);
      mock.failNext(1, { status: 500 });
      mock.setLatency(1000);
      mock.setChunkDelay(1000);
      mock.reset();

      expect(mock.requests).toEqual([]);
      const started = Date.now();
      expect((await fetch(`${mock.url}/v1/models`)).status).toBe(200);
      expect(Date.now() - started).toBeLessThan(500);
    });
  });

  describe('client hang-up', () => {
    it('survives a client aborting a stream and keeps serving', async () => {
      mock.setChunkDelay(20);
      const abort = new AbortController();
      const res = await fetch(`${mock.url}/v1/chat/completions`, {
        method: 'POST',
        body: JSON.stringify({ model: 'gpt-4o', messages, stream: true }),
        signal: abort.signal,
      });
      await res.body!.getReader().read();
      abort.abort();
      await new Promise((resolve) => setTimeout(resolve, 100));

      await expect(client.models.retrieve('gpt-4o')).resolves.toMatchObject({ id: 'gpt-4o' });
    });
  });

  describe('stop', () => {
    it('ends an in-flight stream instead of waiting for it', async () => {
      const other = new MockOpenAI();
      const url = await other.start();
      other.setChunkDelay(10_000);
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        body: JSON.stringify({ model: 'gpt-4o', messages, stream: true }),
      });
      const reader = res.body!.getReader();
      await reader.read();

      const started = Date.now();
      await other.stop();
      expect(Date.now() - started).toBeLessThan(1000);
      await expect(reader.read()).rejects.toThrow();
    });
  });
});
