/**
 * llm-rate-limit and the post-function's Lua end to end with kong/kong.test.yml (the
 * shipped kong.yml against the mock upstream; Redis from LLM_REDIS_HOST) and the
 * official openai SDK. Runs against the bridge, or against a real Kong
 * (KONG_PROXY_URL; scripts/e2e-host-kong.sh).
 */
import OpenAI from 'openai';
import { demoKey, startGateway, type Gateway } from '../support/gateway';
import { startUpstream, type UpstreamMock } from '../support/upstream';

const chat = (content: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }] });

describe('llm-rate-limit (kong.test.yml)', () => {
  let upstream: UpstreamMock;
  let gateway: Gateway;

  beforeAll(async () => {
    upstream = await startUpstream();
    gateway = await startGateway(upstream);
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });
  beforeEach(async () => {
    await gateway.bridge?.drainLogPhase();
    await upstream.reset();
  });

  const client = () => new OpenAI({ apiKey: demoKey('bob'), baseURL: `${gateway.url}/v1`, maxRetries: 0 });

  it('answers with the consumer\'s quota in OpenAI\'s headers instead of the organization\'s, and asks OpenAI for an uncompressed answer', async () => {
    const { response } = await client().chat.completions.create(chat('quota?')).withResponse();
    // kong.yml: 600 requests and 400,000 tokens a minute per consumer; the mock sends 10000 / 30000000
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('600');
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBe('400000');
    expect(Number(response.headers.get('x-ratelimit-remaining-requests'))).toBeLessThan(600);
    expect(response.headers.get('ratelimit-limit')).not.toBeNull();
    const [req] = await upstream.recorded();
    expect(req.headers['accept-encoding']).toBe('identity');
  });

  it('streams without the usage-only chunk it asked OpenAI for', async () => {
    const stream = await client().chat.completions.create({ ...chat('stream me'), stream: true as const });
    let text = '';
    for await (const chunk of stream) {
      expect(chunk.choices.length).toBeGreaterThan(0);
      text += chunk.choices[0].delta?.content ?? '';
    }
    expect(text).toBe('Echo: stream me');
    const [req] = await upstream.recorded();
    expect(JSON.parse(req.body).stream_options).toEqual({ include_usage: true });
  });
});
