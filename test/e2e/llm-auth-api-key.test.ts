/**
 * llm-auth end to end with API keys, as an OpenAI SDK user meets it: kong/kong.test.yml
 * (the shipped kong.yml against the mock upstream), the official openai SDK as the
 * client. Runs against the bridge, or against a real Kong container (KONG_PROXY_URL).
 */
import OpenAI from 'openai';
import { demoKey, itWithBridge, startGateway, UPSTREAM_OPENAI_KEY, type Gateway } from '../support/gateway';
import { startUpstream, type UpstreamMock } from '../support/upstream';

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'Say hello' }] };

describe('llm-auth with API keys (kong.test.yml)', () => {
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

  const client = (apiKey: string, extra: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}) =>
    new OpenAI({ apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0, ...extra });

  it('lets a valid key through and sends the company key upstream instead of the client key', async () => {
    const completion = await client(demoKey('alice')).chat.completions.create(chat);
    expect(completion.choices[0].message.content).toContain('Say hello');
    const [req] = await upstream.recorded();
    expect(req.headers.authorization).toBe(`Bearer ${UPSTREAM_OPENAI_KEY}`);
    expect(JSON.stringify(req.headers)).not.toContain(demoKey('alice'));
  });

  it('accepts the Azure-style api-key header and removes it before proxying', async () => {
    const res = await fetch(`${gateway.url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'api-key': demoKey('alice') },
      body: JSON.stringify({ model: 'text-embedding-3-small', input: 'hello' }),
    });
    expect(res.status).toBe(200);
    const [req] = await upstream.recorded();
    expect(req.headers['api-key']).toBeUndefined();
    expect(req.headers.authorization).toBe(`Bearer ${UPSTREAM_OPENAI_KEY}`);
  });

  it('accepts x-api-key and removes it before proxying', async () => {
    const res = await fetch(`${gateway.url}/v1/models`, { headers: { 'x-api-key': demoKey('bob') } });
    expect(res.status).toBe(200);
    const [req] = await upstream.recorded();
    expect(req.headers['x-api-key']).toBeUndefined();
    expect(JSON.stringify(req.headers)).not.toContain(demoKey('bob'));
  });

  it('never forwards a client-chosen OpenAI-Organization or OpenAI-Project', async () => {
    await client(demoKey('alice'), { organization: 'org-someone-else', project: 'proj-x' }).chat.completions.create(chat);
    const [req] = await upstream.recorded();
    expect(req.headers['openai-organization']).toBeUndefined();
    expect(req.headers['openai-project']).toBeUndefined();
  });

  it('answers 401 in OpenAI format, with a Bearer challenge, when the key is missing', async () => {
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(chat),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="kong"/);
    const body = await res.json();
    expect(body).toEqual({ error: { message: expect.any(String), type: 'authentication_error', param: null, code: 'missing_api_key' } });
    expect(await upstream.recorded()).toHaveLength(0);
  });

  it('surfaces a wrong key as OpenAI.AuthenticationError without echoing it', async () => {
    const wrong = 'sk-llm-demo-alice-this-is-not-the-right-key-000000';
    const err = await client(wrong).chat.completions.create(chat).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err.status).toBe(401);
    expect(err.code).toBe('invalid_api_key');
    expect(JSON.stringify(err.error)).not.toContain(wrong);
    expect(await upstream.recorded()).toHaveLength(0);
  });

  it('rejects a non-Bearer Authorization scheme as malformed', async () => {
    const res = await fetch(`${gateway.url}/v1/models`, { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('malformed_credential');
  });

  it('keeps the admin route from a user key (403) and lets an admin key through', async () => {
    const denied = await client(demoKey('alice')).files.list().catch((e) => e);
    expect(denied).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(denied.code).toBe('insufficient_scope');
    expect(denied.message).toContain('openai:admin');
    expect(await upstream.recorded()).toHaveLength(0);

    // the mock has no /v1/files: its 404 proves the admin request reached the upstream
    const reached = await client(demoKey('ops-admin')).files.list().catch((e) => e);
    expect(reached).toBeInstanceOf(OpenAI.NotFoundError);
    const [req] = await upstream.recorded();
    expect(req.path).toBe('/v1/files');
    expect(req.headers.authorization).toBe(`Bearer ${UPSTREAM_OPENAI_KEY}`);
  });

  it('streams a chat completion for a valid key, chunk by chunk (llm-auth buffers nothing)', async () => {
    await upstream.setChunkDelay(60);
    const stream = await client(demoKey('bob')).chat.completions.create({ ...chat, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let usage = null;
    const arrivals: number[] = [];
    for await (const chunk of stream) {
      arrivals.push(Date.now());
      text += chunk.choices[0]?.delta?.content ?? '';
      usage = chunk.usage ?? usage;
    }
    expect(text).toContain('Say hello');
    expect(usage).not.toBeNull();
    expect(arrivals.length).toBeGreaterThanOrEqual(4);
    expect(arrivals.at(-1)! - arrivals[0]).toBeGreaterThan(150);
  });

  itWithBridge('authenticates the Kong consumer and publishes the identity in kong.ctx.shared', async () => {
    await client(demoKey('alice')).chat.completions.create(chat);
    const trace = gateway.bridge!.traces.at(-1)!;
    expect(trace.consumer).toMatchObject({ username: 'alice' });
    // a null tenant would vanish on the Lua side; alice has one
    expect(trace.shared.llm_auth).toEqual({
      consumer: 'alice',
      tenant: 'acme',
      credential_id: 'alice-key-1',
      scopes: ['openai:chat', 'openai:embeddings'],
      auth_method: 'api_key',
    });
  });

  // /v1/embeddings: the separate plugins (chat completions go through llm-gateway, test/llm-gateway)
  itWithBridge('makes 4 PDK calls for an API key: headers, authenticate, upstream headers, then the mark', async () => {
    await client(demoKey('alice')).embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });
    const trace = gateway.bridge!.traces.at(-1)!;
    expect(trace.pdkCalls.filter((c) => c.plugin === 'llm-auth').map((c) => c.method)).toEqual([
      'kong.request.get_headers',
      'kong.client.authenticate',
      'kong.service.request.set_headers',
      'kong.ctx.shared.set',
    ]);
  });

  itWithBridge('answers 503 on the chat route while the llm-gateway server is down, and serves again once Kong restarted it', async () => {
    const server = gateway.bridge!.servers.get('llm-gateway')!;
    const pid = server.pid;
    await server.kill('SIGKILL');
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${demoKey('alice')}` },
      body: JSON.stringify(chat),
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('gateway_plugin_unavailable');
    expect(await upstream.recorded()).toHaveLength(0);
    await server.waitReady();
    expect(server.pid).not.toBe(pid);
    const completion = await client(demoKey('alice'), { maxRetries: 2 }).chat.completions.create(chat);
    expect(completion.object).toBe('chat.completion');
  });

  itWithBridge('answers 503 through the bypass guard while the llm-auth server is down', async () => {
    const server = gateway.bridge!.servers.get('llm-auth')!;
    const pid = server.pid;
    await server.kill('SIGKILL');
    const res = await fetch(`${gateway.url}/v1/embeddings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${demoKey('alice')}` },
      body: JSON.stringify({ model: 'text-embedding-3-small', input: 'hello' }),
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('gateway_plugin_unavailable');
    expect(await upstream.recorded()).toHaveLength(0);
    await server.waitReady();
    expect(server.pid).not.toBe(pid);
    const completion = await client(demoKey('alice'), { maxRetries: 2 }).chat.completions.create(chat);
    expect(completion.object).toBe('chat.completion');
  });
});
