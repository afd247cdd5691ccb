import { AuthProviderUnavailable, ExpiredCredential, InvalidCredential, LlmAuthConfigError, NotYetValidCredential } from '../../../plugins/llm-auth/core/errors';
import type { Verdict } from '../../../plugins/llm-auth/core/identity';
import { Introspector } from '../../../plugins/llm-auth/core/introspection';
import type { IntrospectionConfig } from '../../../plugins/llm-auth/schema';
import { FakeClock } from './support/clock';
import { makeConfig } from './support/config';
import { sendJson, startServer, type TestServer } from './support/servers';

const AUDIENCE = 'kong-llm';
const ISSUER = 'https://as.example';

/** What the fake authorization server answers, per token. */
const RESPONSES: Record<string, () => { status: number; body: unknown } | 'hang'> = {};
let server: TestServer;
let lastRequest: { method?: string; headers: Record<string, unknown>; body: URLSearchParams } | null;
let clock: FakeClock;

beforeAll(async () => {
  server = await startServer((req, body, res) => {
    const form = new URLSearchParams(body);
    lastRequest = { method: req.method, headers: req.headers, body: form };
    const answer = RESPONSES[form.get('token') ?? '']?.() ?? { status: 200, body: { active: false } };
    if (answer === 'hang') return;
    if (typeof answer.body === 'string') res.writeHead(answer.status).end(answer.body);
    else sendJson(res, answer.status, answer.body);
  });
});
afterAll(() => server.close());
beforeEach(() => {
  clock = new FakeClock();
  lastRequest = null;
});

const introspector = (over: Partial<IntrospectionConfig> = {}) =>
  new Introspector(makeConfig({ introspection: { endpoint: `${server.url}/introspect`, audiences: [AUDIENCE], ...over } }).introspection, {
    now: clock.now,
  });
/** An introspector for one answer, whatever the token. */
async function verdictFor(body: Record<string, unknown>, over: Partial<IntrospectionConfig> = {}): Promise<Verdict> {
  const token = `tok-${JSON.stringify(body)}`;
  RESPONSES[token] = () => ({ status: 200, body });
  return introspector(over).introspect(token);
}

function failureOf(verdict: Verdict) {
  if (verdict.ok) throw new Error('expected a failure');
  return verdict.failure;
}

describe('Introspector', () => {
  it('POSTs the token as a form with token_type_hint, Accept JSON and HTTP Basic client auth', async () => {
    RESPONSES['tok-basic'] = () => ({ status: 200, body: { active: true, aud: AUDIENCE, sub: 'alice' } });
    await introspector({ client_id: 'gateway:1', client_secret: 's3cr%t' }).introspect('tok-basic');
    expect(lastRequest?.method).toBe('POST');
    expect(lastRequest?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(lastRequest?.headers.accept).toBe('application/json');
    // RFC 6749 §2.3.1: form-urlencoded before base64.
    expect(lastRequest?.headers.authorization).toBe(`Basic ${Buffer.from('gateway%3A1:s3cr%25t').toString('base64')}`);
    expect(Object.fromEntries(lastRequest!.body)).toEqual({ token: 'tok-basic', token_type_hint: 'access_token' });
  });

  it('sends no Authorization header without client credentials, and the default hint', async () => {
    RESPONSES['tok-anon'] = () => ({ status: 200, body: { active: true, aud: AUDIENCE, sub: 'alice' } });
    await introspector({}).introspect('tok-anon');
    expect(lastRequest?.headers.authorization).toBeUndefined();
    expect(Object.fromEntries(lastRequest!.body)).toEqual({ token: 'tok-anon', token_type_hint: 'access_token' });
  });

  it('maps an active token to an identity, cacheable until the earlier of cache_ttl and exp', async () => {
    RESPONSES['tok-active'] = () => ({
      status: 200,
      body: { active: true, aud: AUDIENCE, sub: 'alice', scope: 'chat embeddings', org: 'acme', exp: clock.seconds + 120 },
    });
    const verdict = await introspector({ tenant_claim: 'org', cache_ttl: 300 }).introspect('tok-active');
    expect(verdict).toEqual({
      ok: true,
      identity: {
        consumer: 'alice',
        tenant: 'acme',
        scopes: ['chat', 'embeddings'],
        credential_id: expect.stringMatching(/^oauth2:[0-9a-f]{12}$/),
        auth_method: 'oauth2_introspection',
        expiresAt: (clock.seconds + 120) * 1000,
      },
      cacheUntil: (clock.seconds + 120) * 1000,
    });
    const short = await introspector({ cache_ttl: 30 }).introspect('tok-active');
    expect(short.cacheUntil).toBe(clock.ms + 30_000);
  });

  it('falls back to username, then client_id, for the consumer', async () => {
    RESPONSES['tok-user'] = () => ({ status: 200, body: { active: true, aud: AUDIENCE, username: 'bob', client_id: 'app' } });
    RESPONSES['tok-client'] = () => ({ status: 200, body: { active: true, aud: AUDIENCE, client_id: 'app' } });
    RESPONSES['tok-nobody'] = () => ({ status: 200, body: { active: true, aud: AUDIENCE } });
    expect(await introspector().introspect('tok-user')).toMatchObject({ ok: true, identity: { consumer: 'bob' } });
    expect(await introspector().introspect('tok-client')).toMatchObject({ ok: true, identity: { consumer: 'app' } });
    expect(failureOf(await introspector().introspect('tok-nobody'))).toEqual(new InvalidCredential('missing_consumer'));
  });

  it('reads the consumer from consumer_claim', async () => {
    RESPONSES['tok-claim'] = () => ({ status: 200, body: { active: true, aud: AUDIENCE, sub: 'uuid-1', email: 'a@example.com' } });
    expect(await introspector({ consumer_claim: 'email' }).introspect('tok-claim')).toMatchObject({ identity: { consumer: 'a@example.com' } });
  });

  it('answers an inactive token as invalid, cacheable for negative_cache_ttl', async () => {
    RESPONSES['tok-inactive'] = () => ({ status: 200, body: { active: false } });
    const verdict = await introspector({ negative_cache_ttl: 10 }).introspect('tok-inactive');
    expect(verdict).toEqual({ ok: false, failure: new InvalidCredential('inactive'), cacheUntil: clock.ms + 10_000 });
  });

  describe('audience, issuer, token type and time checks', () => {
    const refusedFor = (reason: string) => ({ ok: false, failure: new InvalidCredential(reason as never), cacheUntil: clock.ms + 10_000 });

    it('accepts aud as a string or an array with any one accepted audience; refuses others, or none, as invalid, remembered like an inactive token', async () => {
      expect((await verdictFor({ active: true, sub: 'alice', aud: AUDIENCE })).ok).toBe(true);
      expect((await verdictFor({ active: true, sub: 'alice', aud: ['other', AUDIENCE] })).ok).toBe(true);
      expect((await verdictFor({ active: true, sub: 'alice', aud: 'second' }, { audiences: ['first', 'second'] })).ok).toBe(true);
      expect(await verdictFor({ active: true, sub: 'alice', aud: 'another-client' })).toEqual(refusedFor('audience_not_allowed'));
      expect(await verdictFor({ active: true, sub: 'alice', aud: ['a', 'b'] })).toEqual(refusedFor('audience_not_allowed'));
      expect(await verdictFor({ active: true, sub: 'alice' })).toEqual(refusedFor('audience_not_allowed'));
      expect(await verdictFor({ active: true, sub: 'alice', aud: 7 })).toEqual(refusedFor('audience_not_allowed'));
    });

    it('accepts any issuer when issuers is empty, else only a listed one', async () => {
      expect((await verdictFor({ active: true, sub: 'alice', aud: AUDIENCE, iss: 'https://anyone.example' })).ok).toBe(true);
      expect((await verdictFor({ active: true, sub: 'alice', aud: AUDIENCE, iss: ISSUER }, { issuers: [ISSUER] })).ok).toBe(true);
      expect(await verdictFor({ active: true, sub: 'alice', aud: AUDIENCE, iss: 'https://other.example' }, { issuers: [ISSUER] })).toEqual(
        refusedFor('issuer_not_allowed'),
      );
      expect(await verdictFor({ active: true, sub: 'alice', aud: AUDIENCE }, { issuers: [ISSUER] })).toEqual(refusedFor('issuer_not_allowed'));
    });

    it('refuses a token_type other than an access token; accepts access_token, bearer in any case, or none', async () => {
      for (const tokenType of ['refresh_token', 'id_token', 'urn:ietf:params:oauth:token-type:id_token', 'mac', '', 42]) {
        expect(await verdictFor({ active: true, sub: 'alice', aud: AUDIENCE, token_type: tokenType })).toEqual(refusedFor('token_type_not_allowed'));
      }
      for (const tokenType of ['access_token', 'bearer', 'Bearer', 'BEARER', undefined]) {
        expect((await verdictFor({ active: true, sub: 'alice', aud: AUDIENCE, token_type: tokenType })).ok).toBe(true);
      }
    });

    it('refuses a token before its nbf, with clock_skew_seconds of leeway', async () => {
      const early = { active: true, sub: 'alice', aud: AUDIENCE, nbf: clock.seconds + 61 };
      expect(await verdictFor(early)).toEqual({ ok: false, failure: new NotYetValidCredential(), cacheUntil: null });
      expect((await verdictFor({ ...early, nbf: clock.seconds + 60 })).ok).toBe(true);
      expect(await verdictFor({ ...early, nbf: clock.seconds + 1 }, { clock_skew_seconds: 0 })).toMatchObject({ ok: false, failure: { kind: 'not_yet_valid' } });
    });

    it('refuses a token past its exp, with clock_skew_seconds of leeway, even when the server calls it active', async () => {
      const late = { active: true, sub: 'alice', aud: AUDIENCE, exp: clock.seconds - 60 };
      expect(await verdictFor(late)).toEqual({ ok: false, failure: new ExpiredCredential(), cacheUntil: null });
      expect((await verdictFor({ ...late, exp: clock.seconds - 59 })).ok).toBe(true);
    });

    it('refuses a non-numeric exp or nbf', async () => {
      expect(await verdictFor({ active: true, sub: 'alice', aud: AUDIENCE, exp: 'soon' })).toMatchObject({ ok: false, failure: new InvalidCredential('bad_claims') });
      expect(await verdictFor({ active: true, sub: 'alice', aud: AUDIENCE, nbf: '0' })).toMatchObject({ ok: false, failure: new InvalidCredential('bad_claims') });
    });
  });

  it.each([
    ['a 5xx status', () => ({ status: 500, body: { error: 'boom' } }), 'HTTP 500'],
    ['a 401 (bad client credentials)', () => ({ status: 401, body: { error: 'invalid_client' } }), 'HTTP 401'],
    ['a body that is not JSON', () => ({ status: 200, body: 'not json' }), 'response is not JSON'],
    ['JSON without active', () => ({ status: 200, body: { sub: 'alice' } }), 'response is not an introspection response'],
    ['a non-boolean active', () => ({ status: 200, body: { active: 'true', sub: 'alice' } }), 'response is not an introspection response'],
  ])('answers unavailable, never cacheable, for %s', async (_label, response, reason) => {
    RESPONSES['tok-bad'] = response;
    const verdict = await introspector().introspect('tok-bad');
    expect(verdict).toEqual({ ok: false, failure: new AuthProviderUnavailable('introspection', reason), cacheUntil: null });
  });

  it('answers unavailable after timeout_ms', async () => {
    RESPONSES['tok-hang'] = () => 'hang';
    const verdict = await introspector({ timeout_ms: 100 }).introspect('tok-hang');
    expect(failureOf(verdict)).toEqual(new AuthProviderUnavailable('introspection', 'timeout'));
  });

  it('caps the calls in flight: past max_concurrent an unknown token is unavailable, not introspected', async () => {
    RESPONSES['tok-slow'] = () => 'hang';
    const i = introspector({ max_concurrent: 2, timeout_ms: 300 });
    const hung = [i.introspect('tok-slow'), i.introspect('tok-slow')];
    const third = await i.introspect('tok-slow');
    expect(failureOf(third)).toEqual(new AuthProviderUnavailable('introspection', 'too many introspection requests in flight'));
    expect(third.cacheUntil).toBeNull();
    await Promise.all(hung);
    // once they time out, calls go through again
    RESPONSES['tok-after'] = () => ({ status: 200, body: { active: true, aud: AUDIENCE, sub: 'alice' } });
    expect((await i.introspect('tok-after')).ok).toBe(true);
  });

  it('answers unavailable when the endpoint is down', async () => {
    const down = await startServer(() => undefined);
    await down.close();
    const i = new Introspector(makeConfig({ introspection: { endpoint: `${down.url}/introspect`, audiences: [AUDIENCE] } }).introspection, { now: clock.now });
    expect(failureOf(await i.introspect('tok'))).toMatchObject({ kind: 'unavailable', reason: expect.stringMatching(/^network error/) });
  });

  it('does not follow redirects, which could carry the token elsewhere', async () => {
    const redirecting = await startServer((_req, _body, res) => res.writeHead(307, { location: `${server.url}/introspect` }).end());
    try {
      const i = new Introspector(makeConfig({ introspection: { endpoint: `${redirecting.url}/x`, audiences: [AUDIENCE] } }).introspection, { now: clock.now });
      expect(failureOf(await i.introspect('tok-active'))).toMatchObject({ kind: 'unavailable' });
      expect(lastRequest).toBeNull();
    } finally {
      await redirecting.close();
    }
  });

  it('rejects a config without endpoint or with half the client credentials', () => {
    expect(() => new Introspector(makeConfig().introspection)).toThrow(LlmAuthConfigError);
    expect(() => new Introspector(makeConfig().introspection)).toThrow('introspection.endpoint');
    expect(() => introspector({ client_id: 'only-id' })).toThrow(/set both client_id and client_secret/);
  });

  it('requires audiences with an endpoint, naming the field', () => {
    expect(() => introspector({ audiences: [] })).toThrow(new LlmAuthConfigError('introspection.audiences', "must name this gateway's audience when an endpoint is set"));
  });

  it('refuses a plain-http endpoint on a DNS name that merely starts like a loopback address', () => {
    for (const endpoint of ['http://127.evil.example/introspect', 'http://127.0.0.1.attacker.example/introspect']) {
      expect(() => new Introspector(makeConfig({ introspection: { endpoint } }).introspection)).toThrow('introspection.endpoint');
    }
  });
});
