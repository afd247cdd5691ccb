/**
 * kong.yml's post-function chunks as the bridge runs them on real requests (kong.test.yml
 * with llm-guard's include_usage on, the real plugin servers, the mock upstream): the
 * serialize copy in access, the header_filter on proxied answers and on exits, the
 * body_filter on the streamed upstream body. What each chunk does, byte for byte, is
 * checked against the Lua in lua/post-function-agreement.test.ts; this checks that the
 * bridge calls them where Kong does.
 */
import { SEPARATE_CHAT_GUARD, withSeparateChatRoute } from '../support/separate-chat';
import fs = require('fs');
import path = require('path');
import { REPO_ROOT } from '../bridge/kong-settings';
import { luaRoundTrip } from '../bridge/lua-values';
import type { RequestContext } from '../bridge/request-context';
import { readUnmeasuredAnswer, readUsage } from '../../plugins/shared/usage';
import { bridgeWithYml, type BridgeWith } from '../support/bridge-with';
import { TEST_AUDIT_KEY, UPSTREAM_OPENAI_KEY } from '../support/gateway';

const KEYS = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'kong', 'demo-keys.json'), 'utf8')) as Record<string, string>;


describe('post-function chunks in the bridge (kong.test.yml)', () => {
  let gw: BridgeWith;
  /** Set into kong.ctx.shared at the request's first PDK call, as llm-rate-limit would publish it. */
  let rateLimit: Record<string, unknown> | null = null;

  beforeAll(async () => {
    // the separate plugins on the chat route (kong.yml sends it through llm-gateway)
    const yml = withSeparateChatRoute(fs.readFileSync(path.join(REPO_ROOT, 'kong', 'kong.test.yml'), 'utf8'));
    gw = await bridgeWithYml(yml.replace(SEPARATE_CHAT_GUARD, 'config: { endpoint: chat.completions, include_usage: true }'), {
      env: { OPENAI_API_KEY: UPSTREAM_OPENAI_KEY, LLM_REDIS_HOST: process.env.LLM_REDIS_HOST ?? '127.0.0.1', LLM_AUDIT_KEY: TEST_AUDIT_KEY },
      onPdkCall: (_call, ctx: RequestContext) => {
        if (rateLimit && ctx.shared.llm_rate_limit === undefined) ctx.shared.llm_rate_limit = luaRoundTrip(rateLimit);
      },
    });
  });
  afterAll(() => gw?.close());
  beforeEach(async () => {
    rateLimit = null;
    await gw.bridge.drainLogPhase();
    gw.mock.reset();
  });

  const post = (body: unknown, key = KEYS.alice) =>
    fetch(`${gw.bridge.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const lastTrace = () => gw.bridge.traces[gw.bridge.traces.length - 1];
  const llm = () => (lastTrace().logged as { llm?: Record<string, unknown> }).llm;
  const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Mail jane.doe@example.com please' }] };

  it('streams without the usage-only event llm-guard asked for, and publishes its usage', async () => {
    const res = await post({ ...chat, stream: true });
    const text = await res.text();
    expect(res.status).toBe(200);
    // the upstream sent it (include_usage injected), the client never sees it
    const [upstream] = gw.mock.requests;
    expect(JSON.parse(upstream.body).stream_options).toEqual({ include_usage: true });
    expect(text).not.toContain('"choices":[]');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    const usage = readUsage(lastTrace().shared.llm_usage);
    expect(usage).toMatchObject({ source: 'stream' });
    expect(usage!.total_tokens).toBeGreaterThan(0);
    expect(readUsage(llm()!.usage)).toEqual(usage);
  });

  it('copies identity and request facts into the serialized log, without prompt text', async () => {
    const res = await post(chat);
    await res.text();
    const log = llm()!;
    expect(log.identity).toEqual({ consumer: 'alice', tenant: 'acme', credential_id: 'alice-key-1', auth_method: 'api_key', scopes: ['openai:chat', 'openai:embeddings'] });
    expect(log.request).toMatchObject({ endpoint: 'chat.completions', model: 'gpt-4o-mini', stream: false, body_rewritten: true });
    expect((log.request as { findings: { pii: Record<string, number> } }).findings.pii).toEqual({ email: 1 });
    expect(JSON.stringify(lastTrace().logged)).not.toContain('jane.doe');
    expect(readUsage(log.usage)).toMatchObject({ source: 'response' });
  });

  it('records an upstream error as an unmeasured answer, and puts our rate-limit headers in place of the upstream\'s', async () => {
    gw.mock.failNext(1, { status: 429 });
    const res = await post(chat);
    const body = await res.text();
    expect(res.status).toBe(429);
    // kong.yml's llm-rate-limit: 600 requests a minute per consumer; OpenAI's own 429
    // headers (the organization's quota) are gone
    expect(res.headers.get('x-ratelimit-limit-requests')).toBe('600');
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe('400000');
    expect(res.headers.get('ratelimit-limit')).not.toBeNull();
    expect(readUnmeasuredAnswer(lastTrace().shared.llm_usage)).toEqual({ source: 'none', status: 429, answer_bytes: Buffer.byteLength(body), stream: false, encoded: false });
    expect(llm()!.rate_limit).toMatchObject({ allowed: true, key_by: 'consumer', limit_set: 'default', store: 'redis' });
  });

  it('runs the header_filter on an exit too, and publishes no usage for it', async () => {
    rateLimit = { hide_upstream_headers: true, headers: { 'x-ratelimit-remaining-requests': '0' } };
    const res = await post(chat, 'sk-not-a-key');
    await res.text();
    expect(res.status).toBe(401);
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(lastTrace().shared.llm_usage).toBeUndefined();
    expect(llm()).toBeUndefined();
  });
});
