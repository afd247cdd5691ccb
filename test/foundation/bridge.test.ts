/**
 * The bridge and our plugin server, driven end to end with the fixture plugins
 * (test/fixtures/plugin-servers) and the official openai SDK as the client.
 */
import http = require('http');
import path = require('path');
import OpenAI from 'openai';
import { KongBridge } from '../bridge/gateway';
import { REPO_ROOT } from '../bridge/kong-settings';
import { MockOpenAI } from '../mock-openai/server';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');

interface LogReport {
  serialized: Record<string, any>;
  shared: unknown;
  at: number;
}

/** A real HTTP endpoint the probe's log phase posts to. */
async function startCollector(): Promise<{ url: string; reports: LogReport[]; close(): Promise<void> }> {
  const reports: LogReport[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      reports.push(JSON.parse(body));
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as import('net').AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/log`, reports, close: () => new Promise((r) => server.close(() => r())) };
}

async function until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'one two three four five six seven eight' }] };

describe('KongBridge with the probe plugins', () => {
  let mock: MockOpenAI;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let bridge: KongBridge;

  beforeAll(async () => {
    mock = new MockOpenAI();
    await mock.start();
    collector = await startCollector();
    bridge = await KongBridge.start({
      kongYml: path.join(FIXTURES, 'kong.probe.yml'),
      kongEnvFile: path.join(FIXTURES, 'kong.env'),
      serviceUrls: { upstream: mock.url, 'upstream-chat': mock.url },
      env: { PROBE_LOG_URL: collector.url },
    });
  });

  afterAll(async () => {
    await bridge?.stop();
    await collector?.close();
    await mock?.stop();
  });

  beforeEach(async () => {
    await bridge.drainLogPhase();
    mock.reset();
    collector.reports.length = 0;
  });

  const client = (base = '/v1') => new OpenAI({ apiKey: 'sk-client', baseURL: bridge.url + base, maxRetries: 0 });

  async function streamArrivals(base: string): Promise<{ arrivals: number[]; text: string; response: Response }> {
    const { data, response } = await client(base).chat.completions.create({ ...chat, stream: true }).withResponse();
    const arrivals: number[] = [];
    let text = '';
    for await (const chunk of data) {
      arrivals.push(Date.now());
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    return { arrivals, text, response };
  }

  it('proxies a request through the plugin, which changes upstream headers', async () => {
    const completion = await client().chat.completions.create(chat);
    expect(completion.choices[0].message.content).toContain('one two three');
    expect(mock.requests).toHaveLength(1);
    expect(mock.requests[0].headers['x-probe']).toBe('seen');
  });

  it('streams SSE chunks incrementally when no plugin has a response phase', async () => {
    mock.setChunkDelay(80);
    const { arrivals, text } = await streamArrivals('/v1');
    expect(text).toContain('one two three');
    expect(arrivals.length).toBeGreaterThanOrEqual(5);
    // chunks are 80 ms apart upstream and arrive spread out the same way
    expect(arrivals[arrivals.length - 1] - arrivals[0]).toBeGreaterThan(300);
  });

  it('buffers the whole SSE stream when a plugin has a response phase', async () => {
    mock.setChunkDelay(80);
    const { arrivals, text, response } = await streamArrivals('/buffered/v1');
    expect(text).toContain('one two three');
    expect(response.headers.get('x-probe-buffered-bytes')).toMatch(/^[1-9]\d*$/);
    expect(arrivals.length).toBeGreaterThanOrEqual(5);
    // everything arrives in one piece at the end
    expect(arrivals[arrivals.length - 1] - arrivals[0]).toBeLessThan(60);
  });

  it('short-circuits the upstream on kong.response.exit', async () => {
    const err = await client()
      .chat.completions.create(chat, { headers: { 'x-probe-exit': '403' } })
      .catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.message).toContain('rejected by probe');
    expect(mock.requests).toHaveLength(0);
  });

  it('runs the log phase after the client has the response, with serialize() data', async () => {
    const { response } = await client().chat.completions.create(chat).withResponse();
    const clientDone = Date.now();
    const { sentAt } = bridge.traces.at(-1)!;
    expect(response.status).toBe(200);
    await until(() => collector.reports.length === 1);
    const report = collector.reports[0];
    // the log phase starts only once the response is out
    expect(sentAt).toBeGreaterThan(0);
    expect(sentAt).toBeLessThanOrEqual(clientDone);
    expect(report.at).toBeGreaterThanOrEqual(sentAt);
    expect(report.serialized.response.status).toBe(200);
    expect(report.serialized.request.method).toBe('POST');
    expect(report.serialized.upstream_uri).toBe('/v1/chat/completions');
    // Kong redacts the authorization header in serialize()
    expect(report.serialized.request.headers.authorization).toBe('REDACTED');
    // ctx.shared set in access is visible in log; the null field is gone, as in Lua
    expect(report.shared).toEqual({ seen: true, tags: [] });
  });

  it('runs the log phase for a request a plugin rejected', async () => {
    await client().chat.completions.create(chat, { headers: { 'x-probe-exit': '429' } }).catch(() => undefined);
    await until(() => collector.reports.length === 1);
    expect(collector.reports[0].serialized.response.status).toBe(429);
    expect(collector.reports[0].serialized.source).toBe('kong');
  });

  it('lets the request through when the handler throws (Kong fails open) and logs it at error level', async () => {
    const before = bridge.logs.length;
    const completion = await client().chat.completions.create(chat, { headers: { 'x-probe-throw': '1' } });
    expect(completion.object).toBe('chat.completion');
    expect(mock.requests).toHaveLength(1);
    await until(() => bridge.logs.slice(before).some((l) => l.level === 'err' && l.message.includes('handler_exception')));
    const line = bridge.logs.slice(before).find((l) => l.level === 'err' && l.message.includes('handler_exception'))!;
    const parsed = JSON.parse(line.message);
    expect(parsed).toMatchObject({ level: 'error', event: 'handler_exception', plugin: 'probe', phase: 'access' });
    // quoted fragments of the message (possibly request data) are not logged
    expect(line.message).not.toContain('secret prompt text');
  });

  it('ends the request with Kong\'s 500 when a PDK call fails (no StepError)', async () => {
    const res = await fetch(bridge.url + '/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-probe-bad-pdk': '1' },
      body: JSON.stringify(chat),
    });
    expect(res.status).toBe(500);
    // init.lua: kong.response.error(500) — JSON unless Accept asks otherwise, with Kong's request id
    expect(await res.json()).toEqual({ message: 'An unexpected error occurred', request_id: res.headers.get('x-kong-request-id') ?? expect.any(String) });
    expect(mock.requests).toHaveLength(0);
  });

  it('answers a phase without any PDK call', async () => {
    const res = await fetch(bridge.url + '/noop/v1/models');
    expect(res.status).toBe(200);
    expect(mock.requests[0].path).toBe('/v1/models');
  });

  it('restarts a killed plugin server, re-creates its instances, and skips the plugin meanwhile', async () => {
    const server = bridge.servers.get('probe')!;
    const oldPid = server.pid;
    await server.kill('SIGKILL');
    // while it is down, Kong skips the plugin: the exit header has no effect
    await until(() => server.pid === undefined || server.pid !== oldPid, 2000);
    const during = await fetch(bridge.url + '/v1/chat/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-probe-exit': '403' },
      body: JSON.stringify(chat),
    });
    expect(during.status).toBe(200);
    await server.waitReady();
    expect(server.pid).not.toBe(oldPid);
    // back: the instance is started again ("no plugin instance" -> StartInstance)
    const after = await client().chat.completions.create(chat, { headers: { 'x-probe-exit': '403' } }).catch((e) => e);
    expect(after).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(bridge.logs.some((l) => l.level === 'warn' && /no plugin instance/.test(l.message))).toBe(true);
  });
});

describe('KongBridge request bodies', () => {
  let mock: MockOpenAI;
  const big = { ...chat, messages: [{ role: 'user' as const, content: 'x'.repeat(64 * 1024) }] };

  beforeAll(async () => {
    mock = new MockOpenAI();
    await mock.start();
  });
  afterAll(() => mock.stop());

  async function withBridge(kongEnv: Record<string, string>, fn: (b: KongBridge) => Promise<void>) {
    const bridge = await KongBridge.start({
      kongYml: path.join(FIXTURES, 'kong.probe.yml'),
      kongEnvFile: path.join(FIXTURES, 'kong.env'),
      kongEnv,
      serviceUrls: { upstream: mock.url, 'upstream-chat': mock.url },
      env: { PROBE_LOG_URL: 'http://127.0.0.1:9/unused' },
    });
    try {
      await fn(bridge);
    } finally {
      await bridge.stop();
    }
  }

  it('hands a 64 KiB body to the plugin when the body buffer is raised', async () => {
    await withBridge({ KONG_NGINX_HTTP_CLIENT_BODY_BUFFER_SIZE: '2m' }, async (bridge) => {
      const res = await fetch(bridge.url + '/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-probe-body': '1' },
        body: JSON.stringify(big),
      });
      expect(res.status).toBe(200);
      expect(Number(mock.requests.at(-1)!.headers['x-probe-body-bytes'])).toBe(JSON.stringify(big).length);
    });
  });

  it('fails a 64 KiB body with Kong\'s 500 at the default 8k buffer', async () => {
    await withBridge({ KONG_NGINX_HTTP_CLIENT_BODY_BUFFER_SIZE: '8k' }, async (bridge) => {
      const before = mock.requests.length;
      const res = await fetch(bridge.url + '/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-probe-body': '1' },
        body: JSON.stringify(big),
      });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ message: 'An unexpected error occurred', request_id: expect.any(String) });
      expect(mock.requests.length).toBe(before);
    });
  });
});
