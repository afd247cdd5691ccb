/**
 * llm-rate-limit's Kong adapter through the bridge and the real plugin server, with the
 * openai SDK as the client: request and token limits, reservations refused before
 * forwarding, overrides, the gateway-wide limit, the 429 and its headers, PDK calls
 * counted, a broken config, and Redis stopped and hung mid-test (fallback, 503,
 * recovery) on a redis-server of the test's own.
 */
import crypto = require('crypto');
import OpenAI from 'openai';
import type { KongBridge } from '../bridge/gateway';
import type { MockOpenAI } from '../mock-openai/server';
import { bridgeWithYml, type BridgeWith } from '../support/bridge-with';
import { rawRequest } from '../support/raw-http';
import { sparePort, TestRedisServer } from './core/support/redis-server';
import { estimateCompletionTokens } from '../../plugins/shared/usage-estimate';
import { readUnmeasuredAnswer, readUsage } from '../../plugins/shared/usage';
import { postFunctionConfig, readLuaSources } from '../../scripts/gen-kong-lua';

const PLUGIN = 'llm-rate-limit';
const ALICE_KEY = 'sk-llm-rl-alice-0123456789abcdefghijklmnopqrstuvwxyz';
const BOB_KEY = 'sk-llm-rl-bob-0123456789abcdefghijklmnopqrstuvwxyz01';
const sha256 = (s: string) => 'sha256:' + crypto.createHash('sha256').update(s).digest('hex');
const chat = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }], ...extra });
/** Each run its own counters: the local store lives as long as the plugin server. */
const RUN = crypto.randomBytes(4).toString('hex');

function kongYml(redisPort: number): string {
  const route = (name: string, plugins: string) => `
      - name: ${name}
        paths: [/${name}/v1]
        strip_path: true
        plugins:${plugins}`;
  const rl = (config: string) => `
          - name: llm-rate-limit
            config:
              namespace: ${name()}${config}`;
  let n = 0;
  function name() {
    return `t${RUN}-${n++}`;
  }
  const auth = `
          - name: llm-auth
            config:
              openai_api_key: "{vault://env/openai-api-key}"
              api_keys:
                - { id: alice-key, key_hash: "${sha256(ALICE_KEY)}", consumer: alice, tenant: acme, scopes: [chat] }
                - { id: bob-key, key_hash: "${sha256(BOB_KEY)}", consumer: bob, tenant: acme, scopes: [chat] }`;
  const guard = `
          - name: llm-guard
            config: {}`;
  const redis = (faultTolerant: boolean) => `
              policy: redis
              fault_tolerant: ${faultTolerant}
              redis: { port: ${redisPort}, timeout_ms: 100 }`;
  // the post-function as kong.yml has it (Lua from kong/lua/, emulated natively by the bridge)
  const postFunction = ['    plugins:', '      - name: post-function', ...postFunctionConfig(readLuaSources(), ['llm_rate_limit'], '        ')].join('\n');
  return `_format_version: "3.0"
services:
  - name: openai
    url: http://127.0.0.1:1/v1
${postFunction}
    routes:${route('requests', rl(`
              key_by: header
              header_name: x-team
              limits:
                - { id: rpm, unit: requests, limit: 3, window_seconds: 60 }`))}${route('tokens', guard + rl(`
              key_by: header
              header_name: x-team
              default_completion_tokens: 100
              limits:
                - { id: tpm, unit: tokens, limit: 2000, window_seconds: 60 }
                - { id: rpm, unit: requests, limit: 100, window_seconds: 60 }`))}${route('settle', `
          - name: llm-guard
            config: { include_usage: true }` + rl(`
              key_by: header
              header_name: x-team
              default_completion_tokens: 1000
              limits:
                - { id: tpm, unit: tokens, limit: 100000, window_seconds: 60 }`))}${route('estimate', `
          - name: llm-guard
            config: { include_usage: false }` + rl(`
              key_by: header
              header_name: x-team
              default_completion_tokens: 1000
              limits:
                - { id: tpm, unit: tokens, limit: 100000, window_seconds: 60 }`))}${route('nofacts', rl(`
              key_by: header
              header_name: x-team
              default_completion_tokens: 100
              limits:
                - { id: tpm, unit: tokens, limit: 2000, window_seconds: 60 }`))}${route('usd', guard + rl(`
              key_by: header
              header_name: x-team
              limits:
                - { id: daily-usd, unit: usd, limit: 0.001, window_seconds: 86400 }`))}${route('bucket', rl(`
              key_by: header
              header_name: x-team
              limits:
                - { id: burst, algorithm: token_bucket, unit: requests, limit: 2, refill_per_second: 4 }`))}${route('auth', auth + rl(`
              limits:
                - { id: rpm, unit: requests, limit: 5, window_seconds: 60 }
              consumer_overrides:
                alice:
                  - { id: rpm, unit: requests, limit: 1, window_seconds: 60 }`))}${route('global', rl(`
              key_by: header
              header_name: x-team
              limits:
                - { id: rpm, unit: requests, limit: 100, window_seconds: 60 }
              global_limits:
                - { id: org-rpm, unit: requests, limit: 3, window_seconds: 60 }`))}${route('strict-key', rl(`
              key_by: header
              header_name: x-team
              key_missing: reject
              limits:
                - { id: rpm, unit: requests, limit: 3, window_seconds: 60 }`))}${route('broken', rl(`
              limits:
                - { id: odd, unit: requests, limit: 3, window_seconds: 1, sub_windows: 7 }`))}${route('edge', rl(`
              key_by: header
              header_name: x-team${redis(true)}
              limits:
                - { id: r2s, unit: requests, limit: 3, window_seconds: 2 }`))}${route('nohost', rl(`
              policy: redis
              redis: { host: "{vault://env/llm-rl-test-unset-host}" }
              limits:
                - { id: rpm, unit: requests, limit: 3, window_seconds: 60 }`))}${route('redis-ft', rl(`
              key_by: header
              header_name: x-team${redis(true)}
              limits:
                - { id: rpm, unit: requests, limit: 3, window_seconds: 60 }`))}${route('redis-strict', rl(`
              key_by: header
              header_name: x-team${redis(false)}
              limits:
                - { id: rpm, unit: requests, limit: 3, window_seconds: 60 }`))}
consumers:
  - username: alice
  - username: bob
`;
}

describe('llm-rate-limit through the bridge', () => {
  let mock: MockOpenAI;
  let bridge: KongBridge;
  let env: BridgeWith;
  let redis: TestRedisServer;

  const client = (route: string, team: string | null, apiKey = 'sk-client') =>
    new OpenAI({ apiKey, baseURL: `${bridge.url}/${route}/v1`, maxRetries: 0, defaultHeaders: team === null ? {} : { 'x-team': team } });
  const calls = () => bridge.traces.at(-1)!.pdkCalls.filter((c) => c.plugin === PLUGIN && c.phase === 'access').map((c) => c.method);
  const decision = () => bridge.traces.at(-1)!.shared.llm_rate_limit as Record<string, any>;
  const team = () => `team-${crypto.randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    redis = new TestRedisServer(await sparePort());
    await redis.start();
    env = await bridgeWithYml(kongYml(redis.port), { env: { OPENAI_API_KEY: 'sk-upstream-rl-test' } });
    ({ bridge, mock } = env);
  });
  afterAll(async () => {
    await env?.close();
    await redis?.stop();
  });
  beforeEach(() => mock.reset());

  it('admits up to the request limit, then answers 429 in OpenAI format that the SDK raises as RateLimitError', async () => {
    const c = client('requests', team());
    for (let i = 0; i < 3; i++) await c.chat.completions.create(chat('hello'));
    expect(mock.requests).toHaveLength(3);
    const err = await c.chat.completions.create(chat('hello')).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.status).toBe(429);
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.type).toBe('requests');
    expect(err.message).toMatch(/Rate limit reached for rpm on requests: limit 3, remaining 0, requested 1\. Please try again in \d/);
    expect(Number(err.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(err.headers.get('retry-after'))).toBeLessThanOrEqual(66);
    expect(err.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(err.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(err.headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+m)?\d+(\.\d+)?s$|^\d+ms$/);
    expect(err.headers.get('ratelimit-limit')).toBe('3');
    expect(err.headers.get('ratelimit-remaining')).toBe('0');
    expect(mock.requests).toHaveLength(3);
    expect(decision().log).toMatchObject({ allowed: false, key_by: 'header', refused_by: 'rpm', store: 'local' });
    // Kong's log plugins get the refusal too (the post-function's header_filter runs on exits)
    await bridge.drainLogPhase();
    const logged = bridge.traces.at(-1)!.logged as { llm?: { rate_limit?: unknown } };
    expect(logged.llm?.rate_limit).toMatchObject({ allowed: false, refused_by: 'rpm', limits: [{ id: 'rpm', unit: 'requests', limit: 3, remaining: 0 }] });
    // another key has its own budget
    await client('requests', team()).chat.completions.create(chat('hello'));
    expect(mock.requests).toHaveLength(4);
  });

  it('replaces OpenAI\'s own x-ratelimit-* (the organization\'s quota) with the client\'s, set by the header_filter Lua', async () => {
    const { response } = await client('requests', team()).chat.completions.create(chat('hello')).withResponse();
    expect(response.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(response.headers.get('x-ratelimit-remaining-requests')).toBe('2');
    expect(response.headers.get('x-ratelimit-reset-requests')).toMatch(/^1m\d+(\.\d+)?s$/);
    expect(response.headers.get('ratelimit-limit')).toBe('3');
    expect(response.headers.get('ratelimit-remaining')).toBe('2');
    // the organization's token quota is not ours to show
    expect(response.headers.get('x-ratelimit-limit-tokens')).toBeNull();
    expect(response.headers.get('x-ratelimit-remaining-tokens')).toBeNull();
  });

  it('costs 2 PDK calls on a request-only limit and publishes the decision once', async () => {
    await client('requests', team()).chat.completions.create(chat('hello'));
    expect(calls()).toEqual(['kong.request.get_header', 'kong.ctx.shared.set']);
    await bridge.drainLogPhase();
    expect(bridge.traces.at(-1)!.pdkCalls.filter((c) => c.plugin === PLUGIN && c.phase === 'log')).toEqual([]);
    expect(decision()).toMatchObject({ allowed: true, limit_set: 'default', hide_upstream_headers: true });
    expect(decision().headers).toMatchObject({ 'x-ratelimit-limit-requests': '3', 'x-ratelimit-remaining-requests': '2', 'RateLimit-Limit': '3' });
  });

  it('reserves prompt + max tokens from llm-guard\'s facts in 3 PDK calls, and refuses an oversized max_tokens before forwarding', async () => {
    const c = client('tokens', team());
    await c.chat.completions.create(chat('count my tokens', { max_tokens: 50 }));
    expect(calls()).toEqual(['kong.request.get_header', 'kong.ctx.shared.get', 'kong.ctx.shared.set']);
    const facts = bridge.traces.at(-1)!.shared.llm_guard as Record<string, number>;
    expect(decision().log.reserved.tokens).toBe(facts.prompt_tokens + 50);
    const err = await c.chat.completions.create(chat('too much', { max_tokens: 5000 })).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.type).toBe('tokens');
    expect(err.message).toMatch(/Request too large for limit tpm: it needs \d+ tokens and the limit is 2000/);
    // no wait helps: no Retry-After
    expect(err.headers.get('retry-after')).toBeNull();
    expect(mock.requests).toHaveLength(1);
  });

  it('without llm-guard, counts the body itself and reserves the default completion tokens', async () => {
    await client('nofacts', team()).chat.completions.create(chat('no guard here'));
    expect(calls()).toEqual(['kong.request.get_header', 'kong.ctx.shared.get', 'kong.request.get_path', 'kong.request.get_raw_body', 'kong.ctx.shared.set']);
    const d = decision();
    expect(d.request).toMatchObject({ endpoint: 'chat.completions', model: 'gpt-4o-mini', stream: false });
    expect(d.log.reserved.tokens).toBe(d.request.prompt_tokens + 100);
  });

  it('refuses an absurd max_tokens as too large (no 500), and still counts a body it cannot parse', async () => {
    const c = client('nofacts', team());
    const err = await c.chat.completions.create(chat('x', { max_tokens: Number.MAX_SAFE_INTEGER })).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.message).toMatch(/Request too large for limit tpm/);
    // not JSON to us: forwarded with its completion tokens reserved (the answer settles it)
    const res = await rawRequest(bridge.url, 'POST', '/nofacts/v1/chat/completions', [['content-type', 'application/json'], ['x-team', team()]], '{"model": "gpt-4o-mini", "messages": [}');
    expect(res.status).toBe(400); // the mock refuses it, as OpenAI would
    expect(decision().log.reserved.tokens).toBe(100);
    expect(decision().request).toMatchObject({ endpoint: 'chat.completions', stream: false });
  });

  it('adds stream_options.include_usage to a stream when no guard did, and says so', async () => {
    const stream = await client('nofacts', team()).chat.completions.create({ ...chat('stream it'), stream: true });
    for await (const _ of stream) void _;
    expect((mock.requests[0].json as any).stream_options).toEqual({ include_usage: true });
    expect(decision().include_usage_injected).toBe(true);
    expect(calls()).toContain('kong.service.request.set_raw_body');
  });

  it('reserves a request\'s most cost against a USD budget, settles it to the actual cost, and refuses what cannot fit with insufficient_quota', async () => {
    const c = client('usd', team());
    // gpt-4o-mini: $0.15 / $0.60 per 1M tokens: 1000 completion tokens reserve $0.0006+
    await c.chat.completions.create(chat('cheap', { max_tokens: 1000 }));
    expect(decision().log.reserved.usd_micros).toBeGreaterThan(600);
    await bridge.drainLogPhase();
    // settled to the few tokens used: a second such reservation fits the $0.001 day
    await c.chat.completions.create(chat('cheap', { max_tokens: 1000 }));
    const err = await c.chat.completions.create(chat('dear', { max_tokens: 2000 })).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.type).toBe('insufficient_quota');
    expect(err.code).toBe('insufficient_quota');
    expect(err.message).toMatch(/^429 Request too large for limit daily-usd: it needs 0\.0012\d* USD and the limit is 0\.001\./);
    // USD budgets are not advertised in headers
    expect(err.headers.get('ratelimit-limit')).toBeNull();
    expect(mock.requests).toHaveLength(2);
  });

  it('refills a token bucket', async () => {
    const c = client('bucket', team());
    await c.chat.completions.create(chat('1'));
    await c.chat.completions.create(chat('2'));
    await expect(c.chat.completions.create(chat('3'))).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    await new Promise((r) => setTimeout(r, 300)); // 4 per second: one back after 250 ms
    await c.chat.completions.create(chat('4'));
    expect(mock.requests).toHaveLength(3);
  });

  it('applies a consumer override from llm-auth\'s identity, and the default limits to others', async () => {
    const alice = client('auth', null, ALICE_KEY);
    await alice.chat.completions.create(chat('hi'));
    expect(decision().limit_set).toBe('consumer:alice');
    await expect(alice.chat.completions.create(chat('hi'))).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    const bob = client('auth', null, BOB_KEY);
    await bob.chat.completions.create(chat('hi'));
    await bob.chat.completions.create(chat('hi'));
    expect(decision()).toMatchObject({ allowed: true, limit_set: 'default' });
    expect(calls()).toEqual(['kong.ctx.shared.get', 'kong.ctx.shared.set']);
  });

  it('shares a gateway-wide limit across keys', async () => {
    await client('global', team()).chat.completions.create(chat('1'));
    await client('global', team()).chat.completions.create(chat('2'));
    await client('global', team()).chat.completions.create(chat('3'));
    const err = await client('global', team()).chat.completions.create(chat('4')).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.message).toContain('global.org-rpm');
  });

  it('falls back to the client address when the key is missing, or refuses with key_missing reject', async () => {
    await client('requests', null).chat.completions.create(chat('no team'));
    expect(decision().log.key_by).toBe('ip');
    const err = await client('strict-key', null).chat.completions.create(chat('no team')).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.code).toBe('rate_limit_key_missing');
  });

  it('answers 500 in OpenAI format for a config whose limits cannot work, and forwards nothing', async () => {
    const res = await rawRequest(bridge.url, 'POST', '/broken/v1/chat/completions', [['content-type', 'application/json']], JSON.stringify(chat('x')));
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body).error.code).toBe('llm_rate_limit_misconfigured');
    expect(mock.requests).toHaveLength(0);
  });

  it('admits no burst across a window edge (Redis): what a fixed window would let through twice is refused', async () => {
    const c = client('edge', team());
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // just before an edge of the fixed 2 s windows (epoch-aligned, as fixed-window limiters count)
    const toEdge = 2000 - (Date.now() % 2000);
    await sleep(toEdge < 600 ? toEdge + 1500 : toEdge - 500);
    for (let i = 0; i < 3; i++) await c.chat.completions.create(chat(`before ${i}`));
    expect(decision().log.store).toBe('redis');
    await sleep(2000 - (Date.now() % 2000) + 50); // just past the edge
    const after = await Promise.all([0, 1, 2].map((i) => c.chat.completions.create(chat(`after ${i}`)).catch((e) => e)));
    expect(after.every((e) => e instanceof OpenAI.RateLimitError)).toBe(true);
    expect(mock.requests).toHaveLength(3);
    // once the first three are a window (+ one sub-window) old, the budget is back
    await sleep(2300);
    await c.chat.completions.create(chat('later'));
    expect(mock.requests).toHaveLength(4);
  });

  it('answers 500 and logs why when the Redis host reference does not resolve (Kong passes "")', async () => {
    const res = await rawRequest(bridge.url, 'POST', '/nohost/v1/chat/completions', [['content-type', 'application/json']], JSON.stringify(chat('x')));
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body).error.code).toBe('llm_rate_limit_misconfigured');
    const logged = bridge.logs.map((l) => l.message);
    expect(logged).toEqual(expect.arrayContaining([expect.stringContaining('unable to resolve reference {vault://env/llm-rl-test-unset-host}')]));
    expect(logged).toEqual(expect.arrayContaining([expect.stringContaining('"error":"config.redis.host: length must be at least 1"')]));
    expect(mock.requests).toHaveLength(0);
  });

  it('shares counters in Redis; when Redis stops, falls back to local counters or answers 503 as configured, never waiting past the timeout, and recovers', async () => {
    const ft = client('redis-ft', team());
    const strictTeam = team();
    const strict = client('redis-strict', strictTeam);
    await ft.chat.completions.create(chat('1'));
    await strict.chat.completions.create(chat('1'));
    expect(decision().log.store).toBe('redis');

    await redis.stop();
    let t = Date.now();
    await ft.chat.completions.create(chat('2'));
    expect(Date.now() - t).toBeLessThan(1500);
    expect(decision().log.store).toBe('local');
    t = Date.now();
    const err = await strict.chat.completions.create(chat('2')).catch((e) => e);
    expect(Date.now() - t).toBeLessThan(1500);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(503);
    expect(err.code).toBe('rate_limit_store_unavailable');
    // the fault reached Kong's error log (not only the server's stderr, which Kong logs at info)
    expect(bridge.logs.some((l) => l.level === 'err' && l.plugin === PLUGIN && l.message.includes('"event":"store_unavailable"'))).toBe(true);

    await redis.start();
    // the client reconnects in the background (backoff up to 2 s)
    let store = '';
    for (let i = 0; i < 40 && store !== 'redis'; i++) {
      await new Promise((r) => setTimeout(r, 150));
      const res = await strict.chat.completions.create(chat('again')).catch((e) => e);
      store = res instanceof Error ? '' : decision().log.store;
    }
    expect(store).toBe('redis');
  });

  it('answers a hung Redis within the timeout (fault tolerant)', async () => {
    const ft = client('redis-ft', team());
    await ft.chat.completions.create(chat('warm'));
    redis.pause();
    try {
      const t = Date.now();
      await ft.chat.completions.create(chat('hung'));
      expect(Date.now() - t).toBeLessThan(1500);
      expect(decision().log.store).toBe('local');
    } finally {
      redis.resume();
    }
  });

  describe('settling reservations with the answer\'s usage (log phase)', () => {
    /** tpm remaining as the next request's check saw it, before its own reservation. */
    async function usedSoFar(route: string, who: string): Promise<number> {
      await bridge.drainLogPhase();
      await client(route, who).chat.completions.create(chat('probe', { max_tokens: 1 }));
      const d = decision();
      return 100000 - d.log.limits[0].remaining - d.log.reserved.tokens;
    }

    it('settles a JSON answer to its exact usage', async () => {
      const who = team();
      await client('settle', who).chat.completions.create(chat('settle me exactly', { max_tokens: 700 }));
      const reserved = decision().log.reserved.tokens;
      const usage = readUsage(bridge.traces.at(-1)!.shared.llm_usage)!;
      expect(usage.source).toBe('response');
      expect(reserved).toBeGreaterThan(usage.total_tokens);
      expect(calls()).toHaveLength(3);
      // the post-function asked OpenAI for an uncompressed answer (the SDK asks for gzip)
      expect(mock.requests[0].headers['accept-encoding']).toBe('identity');
      const trace = bridge.traces.at(-1)!;
      await bridge.drainLogPhase();
      expect(trace.pdkCalls.filter((c) => c.plugin === PLUGIN && c.phase === 'log').map((c) => c.method)).toEqual(['kong.ctx.shared.get', 'kong.ctx.shared.get']);
      expect(await usedSoFar('settle', who)).toBe(usage.total_tokens);
    });

    it('settles a stream to the usage of the chunk it asked for, which the client never sees', async () => {
      const who = team();
      const stream = await client('settle', who).chat.completions.create({ ...chat('stream and settle'), stream: true });
      let text = '';
      for await (const chunk of stream) {
        expect(chunk.choices.length).toBeGreaterThan(0); // the usage-only chunk was dropped
        expect(chunk.usage ?? null).toBeNull();
        text += chunk.choices[0].delta.content ?? '';
      }
      expect(text).toBe('Echo: stream and settle');
      expect((mock.requests[0].json as any).stream_options).toEqual({ include_usage: true });
      const usage = readUsage(bridge.traces.at(-1)!.shared.llm_usage)!;
      expect(usage.source).toBe('stream');
      expect(await usedSoFar('settle', who)).toBe(usage.total_tokens);
    });

    it('settles a stream without usage to the estimate from its size, plus its error bound', async () => {
      const who = team();
      const stream = await client('estimate', who).chat.completions.create({ ...chat('a stream that reports no usage at all, so its size must tell'), stream: true });
      for await (const _ of stream) void _;
      const d = decision();
      const answer = readUnmeasuredAnswer(bridge.traces.at(-1)!.shared.llm_usage)!;
      expect(answer).toMatchObject({ source: 'none', status: 200, stream: true, encoded: false });
      const est = estimateCompletionTokens({ endpoint: 'chat.completions', model: 'gpt-4o-mini', stream: true, bytes: answer.answer_bytes, include_usage: false })!;
      // settled to the top of the estimate's bound: never admits past the limit
      expect(await usedSoFar('estimate', who)).toBe(d.request.prompt_tokens + est.completion_tokens + est.error_bound);
    });

    it('refunds everything for an error answer', async () => {
      const who = team();
      mock.failNext(1, { status: 500 });
      await client('settle', who).chat.completions.create(chat('fail')).catch(() => undefined);
      expect(await usedSoFar('settle', who)).toBe(0);
    });
  });
});
