/**
 * Both UpstreamMock implementations. RemoteUpstream is driven against an in-process
 * MockOpenAI with the control API on, which is exactly what the docker-compose
 * container runs, so the HTTP path the real-Kong mode depends on is tested here too.
 */
import { MockOpenAI } from '../mock-openai/server';
import { LocalUpstream, RemoteUpstream, startUpstream } from './upstream';

const messages = [{ role: 'user' as const, content: 'Tell me a short story about a cat' }];

/** POSTs a chat completion straight to the mock, as the gateway would. */
function chat(url: string, extra: object = {}): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test' },
    body: JSON.stringify({ model: 'gpt-4o', messages, ...extra }),
  });
}

describe('RemoteUpstream against the control API', () => {
  const mock = new MockOpenAI({ control: true });
  let upstream: RemoteUpstream;

  beforeAll(async () => {
    upstream = new RemoteUpstream(`${await mock.start(0, '127.0.0.1')}/`);
  });
  afterAll(() => mock.stop());
  beforeEach(() => upstream.reset());

  it('takes the base URL without a trailing slash', () => {
    expect(upstream.url).toBe(mock.url);
  });

  it('returns the recorded requests, the same as the mock holds, and never records control calls', async () => {
    expect((await chat(upstream.url)).status).toBe(200);
    const recorded = await upstream.recorded();
    await upstream.recorded();

    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ method: 'POST', path: '/v1/chat/completions' });
    expect(recorded[0].headers.authorization).toBe('Bearer sk-test');
    expect(recorded[0].json).toEqual({ model: 'gpt-4o', messages });
    expect(recorded).toStrictEqual(mock.requests);
    expect(mock.requests.map((r) => r.path)).toEqual(['/v1/chat/completions']);
  });

  it('keeps json undefined for a body that is not JSON, as the in-process record does', async () => {
    await fetch(`${upstream.url}/v1/models`);
    const [record] = await upstream.recorded();
    expect(record).toHaveProperty('json', undefined);
    expect(record).toStrictEqual(mock.requests[0]);
  });

  it('resets the record and the injected behaviour', async () => {
    await chat(upstream.url);
    await upstream.failNext(1, { status: 500 });
    await upstream.setLatency(1000);
    await upstream.setChunkDelay(1000);
    await upstream.reset();

    expect(await upstream.recorded()).toEqual([]);
    const started = Date.now();
    expect((await chat(upstream.url, { stream: true })).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('injects a 429 with OpenAI rate-limit headers, then recovers', async () => {
    await upstream.failNext(1, { status: 429, headers: { 'retry-after': '20' } });
    // A control call in between does not use the failure up.
    await upstream.recorded();

    const res = await chat(upstream.url);
    expect(res.status).toBe(429);
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(res.headers.get('x-ratelimit-limit-requests')).toEqual(expect.any(String));
    expect(res.headers.get('x-ratelimit-reset-tokens')).toEqual(expect.any(String));
    expect(res.headers.get('retry-after')).toBe('20');
    expect(await res.json()).toMatchObject({ error: { type: 'rate_limit_error', code: 'rate_limit_exceeded' } });
    expect((await chat(upstream.url)).status).toBe(200);
  });

  it('fails exactly n requests with the given message', async () => {
    await upstream.failNext(2, { status: 503, message: 'overloaded', code: null });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${upstream.url}/v1/models`)).status);
    expect(statuses).toEqual([503, 503, 200]);
  });

  it('sets the latency of answers but not of control calls', async () => {
    await upstream.setLatency(300);
    let started = Date.now();
    await upstream.recorded();
    expect(Date.now() - started).toBeLessThan(250);

    started = Date.now();
    await fetch(`${upstream.url}/v1/models`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('sets the delay between stream chunks', async () => {
    await upstream.setChunkDelay(50);
    const res = await chat(upstream.url, { stream: true });
    const reader = res.body!.getReader();
    const readAt: number[] = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) readAt.push(Date.now());
    // 11 frames and [DONE]: 11 delays of 50 ms.
    expect(readAt.at(-1)! - readAt[0]).toBeGreaterThanOrEqual(400);
  });

  it.each([
    ['fail', 'not json', 'The body must be a JSON object.', null],
    ['fail', '[]', 'The body must be a JSON object.', null],
    ['fail', '{"n":-1,"spec":{"status":429}}', 'n must be an integer >= 0', 'n'],
    ['fail', '{"n":1.5,"spec":{"status":429}}', 'n must be an integer >= 0', 'n'],
    ['fail', '{"n":1}', 'spec must be an object', 'spec'],
    ['fail', '{"n":1,"spec":{"status":418}}', 'spec.status must be one of 429, 500, 503', 'spec.status'],
    ['fail', '{"n":1,"spec":{"status":429,"retryAfter":2}}', 'spec.retryAfter is not a FailureSpec field', 'spec.retryAfter'],
    ['fail', '{"n":1,"spec":{"status":429,"code":5}}', 'spec.code must be a string or null', 'spec.code'],
    ['fail', '{"n":1,"spec":{"status":429,"headers":{"retry-after":2}}}', 'spec.headers must be an object of strings', 'spec.headers'],
    ['latency', '{}', 'ms must be a number >= 0', 'ms'],
    ['latency', '{"ms":-5}', 'ms must be a number >= 0', 'ms'],
    ['chunk-delay', '{"ms":"50"}', 'ms must be a number >= 0', 'ms'],
  ])('answers POST /__mock/%s with body %s by 400 and changes nothing', async (op, body, message, param) => {
    const res = await fetch(`${upstream.url}/__mock/${op}`, { method: 'POST', body });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { message, type: 'invalid_request_error', param, code: null } });
    expect((await fetch(`${upstream.url}/v1/models`)).status).toBe(200);
  });

  it('rejects a bad call made through RemoteUpstream with the status and message', async () => {
    await expect(upstream.setLatency(-1)).rejects.toThrow(/POST \/__mock\/latency: 400 .*ms must be a number/);
  });

  it('answers an unknown control path with 404 and a wrong method with 405, unrecorded', async () => {
    const unknown = await fetch(`${upstream.url}/__mock/nope`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    const wrongMethod = await fetch(`${upstream.url}/__mock/reset`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect(mock.requests).toEqual([]);
  });
});

describe('MockOpenAI with control off', () => {
  const mock = new MockOpenAI();
  beforeAll(() => mock.start(0, '127.0.0.1'));
  afterAll(() => mock.stop());

  it('treats /__mock/requests as an unknown path: 404 in OpenAI format, recorded', async () => {
    const res = await fetch(`${mock.url}/__mock/requests`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: { message: 'Invalid URL (GET /__mock/requests)', type: 'invalid_request_error', param: null, code: null },
    });
    expect(mock.requests.map((r) => r.path)).toEqual(['/__mock/requests']);
  });

  it('makes RemoteUpstream fail with a hint about MOCK_CONTROL', async () => {
    await expect(new RemoteUpstream(mock.url).reset()).rejects.toThrow(/404 .*MOCK_CONTROL=on/);
  });
});

describe('LocalUpstream', () => {
  let upstream: LocalUpstream;
  beforeAll(async () => {
    upstream = await LocalUpstream.start();
  });
  afterAll(() => upstream.close());

  it('runs a mock on 127.0.0.1 and drives it in-process', async () => {
    expect(upstream.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(upstream.url).toBe(upstream.mock.url);

    await chat(upstream.url);
    const recorded = await upstream.recorded();
    expect(recorded.map((r) => r.path)).toEqual(['/v1/chat/completions']);

    await upstream.failNext(1, { status: 500 });
    expect((await chat(upstream.url)).status).toBe(500);

    await upstream.reset();
    expect(await upstream.recorded()).toEqual([]);
    // The earlier snapshot is not emptied by reset().
    expect(recorded).toHaveLength(1);
  });

  it('sets latency and chunk delay on the mock', async () => {
    await upstream.setLatency(100);
    await upstream.setChunkDelay(10);
    const started = Date.now();
    await (await chat(upstream.url, { stream: true })).text();
    // 100 ms latency plus 11 chunk delays of 10 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    await upstream.reset();
  });

  it('rejects bad arguments as the mock does', async () => {
    await expect(upstream.failNext(-1, { status: 429 })).rejects.toThrow(RangeError);
  });

  it('stops the mock on close', async () => {
    const other = await LocalUpstream.start();
    await other.close();
    expect(() => other.mock.url).toThrow('not started');
    await expect(fetch(`${other.url}/v1/models`)).rejects.toThrow();
  });
});

describe('startUpstream', () => {
  const saved = process.env.MOCK_OPENAI_URL;
  afterEach(() => {
    if (saved === undefined) delete process.env.MOCK_OPENAI_URL;
    else process.env.MOCK_OPENAI_URL = saved;
  });

  it('starts a LocalUpstream without MOCK_OPENAI_URL', async () => {
    delete process.env.MOCK_OPENAI_URL;
    const upstream = await startUpstream();
    try {
      expect(upstream).toBeInstanceOf(LocalUpstream);
    } finally {
      await upstream.close();
    }
  });

  it('returns a RemoteUpstream for MOCK_OPENAI_URL', async () => {
    process.env.MOCK_OPENAI_URL = 'http://mock-openai:8080';
    const upstream = await startUpstream();
    expect(upstream).toBeInstanceOf(RemoteUpstream);
    expect(upstream.url).toBe('http://mock-openai:8080');
  });
});
