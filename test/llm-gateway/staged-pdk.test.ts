/**
 * The staged PDK the gateway's stages run on: reads served from the pack and seeing
 * earlier writes as Kong's would, writes collected, what only Kong can do passed
 * through and counted, kong.ctx.shared values as Kong's Lua side hands them back.
 */
import type { KongPdk } from '../../plugins/shared/pdk';
import { BodyNotInMemoryError, StagedPdk, type StagedRequest } from '../../plugins/shared/pipeline/staged-pdk';

/** A Kong stand-in that records what reaches it (the staged PDK's one boundary). */
function kongRecorder(shared: Record<string, unknown> = {}) {
  const calls: string[] = [];
  const kong = {
    client: {
      authenticate: async () => void calls.push('authenticate'),
      loadConsumer: async (id: string) => (calls.push('load_consumer'), { id }),
      getConsumer: async () => (calls.push('get_consumer'), undefined),
      getCredential: async () => undefined,
      getIp: async () => '10.0.0.1',
      getForwardedIp: async () => (calls.push('get_forwarded_ip'), '10.0.0.2'),
    },
    ctx: { shared: { get: async (k: string) => (calls.push(`ctx.get ${k}`), shared[k]), set: async () => void calls.push('ctx.set') } },
    router: { getRoute: async () => undefined, getService: async () => undefined },
    node: { getId: async () => 'node' },
  } as unknown as KongPdk;
  return { kong, calls };
}

const request = (over: Partial<StagedRequest> = {}): StagedRequest => ({
  method: 'POST',
  path: '/v1/chat/completions',
  rawQuery: 'a=1',
  headers: { authorization: ['Bearer sk-client'], 'x-api-key': ['k'], 'content-type': ['application/json'] },
  forwardedIp: '203.0.113.9',
  body: Buffer.from('{"model":"m"}'),
  bodyUnread: false,
  ...over,
});

describe('StagedPdk', () => {
  it('serves request reads from the pack without a round trip', async () => {
    const { kong, calls } = kongRecorder();
    const s = new StagedPdk(kong, request());
    expect(await s.request.getPath()).toBe('/v1/chat/completions');
    expect(await s.request.getMethod()).toBe('POST');
    expect(await s.request.getRawQuery()).toBe('a=1');
    expect(await s.request.getHeader('Content-Type')).toBe('application/json');
    expect(Buffer.from(await s.request.getRawBody()).toString()).toBe('{"model":"m"}');
    expect(await s.client.getForwardedIp()).toBe('203.0.113.9');
    expect(calls).toEqual([]);
    expect(s.realCalls).toBe(0);
  });

  it('shows a later stage the headers, query and body an earlier one set, as Kong does', async () => {
    const { kong } = kongRecorder();
    const s = new StagedPdk(kong, request());
    await s.service.request.setHeaders({ authorization: 'Bearer sk-company', 'x-api-key': [], 'openai-project': '' });
    await s.service.request.setRawQuery('');
    await s.service.request.setRawBody('{"model":"m","stream_options":{"include_usage":true}}');
    const headers = await s.request.getHeaders();
    expect(headers.authorization).toEqual(['Bearer sk-company']);
    expect(headers['x-api-key']).toBeUndefined();
    // Kong sends "" as one space (kong/pdk/private/checks.lua)
    expect(headers['openai-project']).toEqual([' ']);
    expect(await s.request.getRawQuery()).toBe('');
    expect(Buffer.from(await s.request.getRawBody()).toString()).toContain('include_usage');
    expect(s.upstreamHeaders).toEqual({ authorization: 'Bearer sk-company', 'x-api-key': [], 'openai-project': '' });
    expect(s.rawQuery).toBe('');
    expect(s.body).toContain('include_usage');
  });

  it('hands kong.ctx.shared values back as Kong would: null members gone, empty tables as []', async () => {
    const { kong, calls } = kongRecorder();
    const s = new StagedPdk(kong, request());
    await s.ctx.shared.set('llm_auth', { consumer: 'alice', tenant: null, scopes: [], extra: {} });
    expect(await s.ctx.shared.get('llm_auth')).toEqual({ consumer: 'alice', scopes: [], extra: [] });
    await s.ctx.shared.set('llm_auth', null);
    expect(await s.ctx.shared.get('llm_auth')).toBeUndefined();
    expect(s.sharedValues()).toEqual({});
    expect(calls).toEqual([]);
  });

  it('asks Kong for a kong.ctx.shared key no stage set (a separate plugin may have), and counts it', async () => {
    const { kong, calls } = kongRecorder({ llm_auth: { consumer: 'bob' } });
    const s = new StagedPdk(kong, request());
    expect(await s.ctx.shared.get('llm_auth')).toEqual({ consumer: 'bob' });
    expect(calls).toEqual(['ctx.get llm_auth']);
    expect(s.realCalls).toBe(1);
  });

  it('passes consumer loading through to Kong, counted, and keeps authenticate for when the request has passed', async () => {
    const { kong, calls } = kongRecorder();
    const s = new StagedPdk(kong, request());
    await s.client.loadConsumer('alice', true);
    await s.client.authenticate({ id: 'alice' }, { id: 'k1' });
    expect(calls).toEqual(['load_consumer']);
    expect(s.realCalls).toBe(1);
    expect(s.authenticated).toEqual({ consumer: { id: 'alice' }, credential: { id: 'k1' } });
    // a later stage sees the consumer as it would on Kong, without a round trip
    expect(await s.client.getConsumer()).toEqual({ id: 'alice' });
    expect(await s.client.getCredential()).toEqual({ id: 'k1' });
    expect(s.realCalls).toBe(1);
  });

  it('records the first exit only, and collects log lines as Kong writes them', async () => {
    const { kong } = kongRecorder();
    const s = new StagedPdk(kong, request());
    await s.log.warn('{"event":"x"}', 1);
    await s.response.exit(401, 'first', { 'Content-Type': 'application/json' });
    await s.response.exit(500, 'second');
    expect(s.exit).toEqual({ status: 401, body: 'first', headers: { 'Content-Type': 'application/json' } });
    expect(s.logs).toEqual([['warn', '{"event":"x"}1']]);
  });

  it('fails a body read Kong could not serve (spooled to a file), as get_raw_body does', async () => {
    const { kong } = kongRecorder();
    const s = new StagedPdk(kong, request({ body: null, bodyUnread: true }));
    await expect(s.request.getRawBody()).rejects.toBeInstanceOf(BodyNotInMemoryError);
  });

  it('refuses response- and log-phase calls (a stage never passes on a call it cannot make)', async () => {
    const { kong } = kongRecorder();
    const s = new StagedPdk(kong, request());
    await expect(s.log.serialize()).rejects.toThrow(/not available/);
    await expect(s.service.response.getRawBody()).rejects.toThrow(/not available/);
  });

  it('keeps a header named __proto__ as a header', async () => {
    const { kong } = kongRecorder();
    const s = new StagedPdk(kong, request({ headers: JSON.parse('{"__proto__":["x"]}') }));
    const h = await s.request.getHeaders();
    expect(Object.prototype.hasOwnProperty.call(h, '__proto__')).toBe(true);
    await s.ctx.shared.set('v', JSON.parse('{"__proto__":{"polluted":true}}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
