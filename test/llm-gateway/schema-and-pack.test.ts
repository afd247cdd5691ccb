/**
 * llm-gateway's config is the separate plugins' configs, one record each (the same
 * declarations, so they cannot drift), and the pack reader's handling of what the
 * pre-function Lua put in kong.ctx.shared (hostile: it crossed Kong's socket).
 */
import { Schema as AuditSchema } from '../../plugins/llm-audit/schema';
import { Schema as AuthSchema } from '../../plugins/llm-auth/schema';
import { Schema as GatewaySchema } from '../../plugins/llm-gateway/schema';
import { readPack } from '../../plugins/llm-gateway/pack';
import { Schema as GuardSchema } from '../../plugins/llm-guard/schema';
import { Schema as RateLimitSchema } from '../../plugins/llm-rate-limit/schema';
import { parsePluginConfig } from '../../plugins/shared/kong-config';

describe('llm-gateway schema', () => {
  const stage = (name: string) => (GatewaySchema.find((f) => name in f) as Record<string, { type: string; required: boolean; fields: unknown }>)[name];

  it.each([
    ['auth', AuthSchema],
    ['guard', GuardSchema],
    ['rate_limit', RateLimitSchema],
    ['audit', AuditSchema],
  ])('holds exactly the fields of the separate plugin under %s, optional', (name, fields) => {
    expect(stage(name).type).toBe('record');
    expect(stage(name).required).toBe(false);
    expect(stage(name).fields).toEqual(fields);
  });

  it('has a record per stage and nothing else', () => {
    expect(GatewaySchema.map((f) => Object.keys(f)[0])).toEqual(['auth', 'guard', 'rate_limit', 'audit']);
  });

  it('leaves an absent stage absent (null), and fills a present one with the plugin defaults', () => {
    const c = parsePluginConfig<Record<string, Record<string, unknown> | null>>(GatewaySchema, { guard: {} });
    expect(c.auth).toBeNull();
    expect(c.rate_limit).toBeNull();
    expect(c.audit).toBeNull();
    expect(c.guard).toEqual(parsePluginConfig(GuardSchema, {}));
  });
});

describe('readPack', () => {
  const pack = { request_id: 'r1', method: 'POST', path: '/v1/chat/completions', raw_query: 'x=1', headers: { 'Content-Type': 'application/json', accept: ['a', 'b'] }, forwarded_ip: '10.1.1.1', body_base64: Buffer.from('{"a":"\xff"}', 'latin1').toString('base64') };

  it('reads the contract shape: multimap headers, the body bytes exactly (invalid UTF-8 kept)', () => {
    const r = readPack(pack)!;
    expect(r).toMatchObject({ requestId: 'r1', method: 'POST', path: '/v1/chat/completions', rawQuery: 'x=1', forwardedIp: '10.1.1.1', bodyUnread: false });
    expect(r.headers).toEqual({ 'content-type': ['application/json'], accept: ['a', 'b'] });
    expect(Buffer.from(r.body!).toString('latin1')).toBe('{"a":"\xff"}');
  });

  it('reads an empty header table (Lua: []) and a request without body', () => {
    const r = readPack({ method: 'GET', path: '/v1/models', headers: [] })!;
    expect(r.headers).toEqual({});
    expect(r.body).toBeNull();
    expect(r.requestId).toBeNull();
  });

  it.each([
    ['nothing', undefined],
    ['a string', 'x'],
    ['no method', { path: '/', headers: {} }],
    ['headers not a table', { method: 'GET', path: '/', headers: 'h' }],
    ['a header value that is a table of tables', { method: 'GET', path: '/', headers: { a: [{}] } }],
    ['a body that is not base64', { method: 'POST', path: '/', headers: {}, body_base64: '{"a":1}' }],
  ])('refuses %s', (_name, v) => {
    expect(readPack(v)).toBeNull();
  });
});
