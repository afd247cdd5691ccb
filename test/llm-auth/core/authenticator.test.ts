import jwtLib from 'jsonwebtoken';
import { hashApiKey } from '../../../plugins/llm-auth/core/api-keys';
import { Authenticator, type AuthResult } from '../../../plugins/llm-auth/core/authenticator';
import { InvalidCredential, LlmAuthConfigError, TenantNotAllowed } from '../../../plugins/llm-auth/core/errors';
import type { FetchLike } from '../../../plugins/llm-auth/core/http';
import type { LlmAuthConfig } from '../../../plugins/llm-auth/schema';
import { FakeClock } from './support/clock';
import { makeConfig } from './support/config';
import { jwkOf, rsa } from './support/keys';
import { sendJson, startServer, type TestServer } from './support/servers';
import { signToken } from './support/tokens';

const API_KEY = 'sk-llm-test-key-0123456789';

let clock: FakeClock;
let idp: TestServer;
/** Introspection answers by token; anything else is inactive. JWKS at /jwks. */
let active: Record<string, Record<string, unknown>>;
let introspectionStatus: number;
let introspectionDelayMs: number;
let jwksHits: number;
let introspectionHits: number;
let n = 0;

beforeAll(async () => {
  idp = await startServer((req, body, res) => {
    if (req.url?.startsWith('/jwks')) {
      jwksHits++;
      return sendJson(res, 200, { keys: [jwkOf(rsa(1), { kid: 'idp-1', alg: 'RS256' })] });
    }
    introspectionHits++;
    const token = new URLSearchParams(body).get('token') ?? '';
    setTimeout(() => sendJson(res, introspectionStatus, active[token] ? { active: true, aud: AUDIENCE, ...active[token] } : { active: false }), introspectionDelayMs).unref();
  });
});
afterAll(() => idp.close());
beforeEach(() => {
  clock = new FakeClock();
  active = {};
  introspectionStatus = 200;
  introspectionDelayMs = 0;
  jwksHits = 0;
  introspectionHits = 0;
});

type Overrides = Parameters<typeof makeConfig>[0];
function authenticator(over: Overrides = {}): Authenticator {
  const config: LlmAuthConfig = makeConfig({
    methods: ['api_key', 'jwt', 'oauth2_introspection'],
    api_keys: [{ id: 'key-1', key_hash: hashApiKey(API_KEY), consumer: 'alice', tenant: 'acme', scopes: ['chat'] }],
    ...over,
    jwt: { jwks_uri: `${idp.url}/jwks/${++n}`, issuers: [ISSUER], audiences: [AUDIENCE], ...over.jwt },
    introspection: { endpoint: `${idp.url}/introspect`, audiences: [AUDIENCE], ...over.introspection },
  });
  return new Authenticator(config, { now: clock.now });
}

const ISSUER = 'https://idp.test';
const AUDIENCE = 'kong-llm';
const jwtFor = (extra: Record<string, unknown> = {}) =>
  signToken({ sub: 'bob', iss: ISSUER, aud: AUDIENCE, exp: clock.seconds + 3600, scope: 'chat', ...extra }, rsa(1).privateKey, { alg: 'RS256', kid: 'idp-1' });

function identityOf(result: AuthResult) {
  if (!result.ok) throw new Error(`expected success, got ${result.failure.kind}: ${result.failure.detail}`);
  return result.identity;
}
function failureOf(result: AuthResult) {
  if (result.ok) throw new Error('expected a failure');
  return result.failure;
}

describe('Authenticator dispatch', () => {
  it('authenticates a configured API key', async () => {
    const result = await authenticator().authenticate(API_KEY);
    expect(result).toEqual({
      ok: true,
      cached: false,
      identity: { consumer: 'alice', tenant: 'acme', scopes: ['chat'], credential_id: 'key-1', auth_method: 'api_key', expiresAt: null },
    });
    expect(introspectionHits).toBe(0);
  });

  it('sends a JWT-shaped credential to jwt when enabled', async () => {
    const identity = identityOf(await authenticator().authenticate(jwtFor()));
    expect(identity).toMatchObject({ consumer: 'bob', auth_method: 'jwt', scopes: ['chat'] });
    expect(introspectionHits).toBe(0);
  });

  it('does not fall through to introspection when a JWT fails verification', async () => {
    const forged = signToken({ sub: 'bob', exp: clock.seconds + 60 }, rsa(2).privateKey, { alg: 'RS256', kid: 'idp-1' });
    expect(failureOf(await authenticator().authenticate(forged))).toEqual(new InvalidCredential('bad_signature'));
    expect(introspectionHits).toBe(0);
  });

  it('introspects a JWT-shaped credential when jwt is not enabled', async () => {
    const token = jwtFor();
    active[token] = { sub: 'carol' };
    const identity = identityOf(await authenticator({ methods: ['api_key', 'oauth2_introspection'] }).authenticate(token));
    expect(identity).toMatchObject({ consumer: 'carol', auth_method: 'oauth2_introspection' });
  });

  it('introspects an opaque credential that is not a configured API key', async () => {
    active['opaque-token'] = { sub: 'dave', scope: 'chat files' };
    const identity = identityOf(await authenticator().authenticate('opaque-token'));
    expect(identity).toMatchObject({ consumer: 'dave', scopes: ['chat', 'files'], auth_method: 'oauth2_introspection' });
  });

  it('never sends a credential with the API key prefix to introspection', async () => {
    expect(failureOf(await authenticator().authenticate('sk-llm-revoked-or-mistyped'))).toEqual(new InvalidCredential('unknown_api_key'));
    expect(introspectionHits).toBe(0);
  });

  it('rejects an unknown API key when introspection is off', async () => {
    expect(failureOf(await authenticator({ methods: ['api_key'] }).authenticate('sk-llm-nope'))).toEqual(new InvalidCredential('unknown_api_key'));
  });

  it('rejects a credential no enabled method accepts', async () => {
    expect(failureOf(await authenticator({ methods: ['jwt'] }).authenticate('opaque'))).toEqual(
      new InvalidCredential('no_method_accepts_credential'),
    );
  });

  it('never throws: an unexpected exception becomes an internal failure', async () => {
    const config = makeConfig({ api_keys: [] });
    const a = new Authenticator(config, {
      now: () => {
        throw new TypeError('clock broke');
      },
    });
    expect(failureOf(await a.authenticate('anything'))).toMatchObject({ kind: 'internal', detail: expect.stringMatching(/^TypeError/) });
  });
});

describe('Authenticator caching', () => {
  it('answers a known JWT from the cache, without signature check or JWKS fetch', async () => {
    const a = authenticator();
    const token = jwtFor();
    const spy = jest.spyOn(jwtLib, 'verify');
    try {
      expect((await a.authenticate(token)).ok).toBe(true);
      expect(spy).toHaveBeenCalledTimes(1);
      const again = await a.authenticate(token);
      expect(again).toMatchObject({ ok: true, cached: true, identity: { consumer: 'bob' } });
      expect(spy).toHaveBeenCalledTimes(1);
      expect(jwksHits).toBe(1);
    } finally {
      spy.mockRestore();
    }
  });

  it("never keeps a JWT past its exp, and re-verification then reports it expired", async () => {
    const a = authenticator({ jwt: { clock_skew_seconds: 0 } });
    const token = jwtFor({ exp: clock.seconds + 100 });
    expect((await a.authenticate(token)).ok).toBe(true);
    clock.advance(99_000);
    expect(await a.authenticate(token)).toMatchObject({ ok: true, cached: true });
    clock.advance(1_000);
    expect(failureOf(await a.authenticate(token))).toMatchObject({ kind: 'expired' });
  });

  it('never keeps an entry past cache_ttl', async () => {
    const a = authenticator({ cache_ttl: 60 });
    const token = jwtFor();
    await a.authenticate(token);
    clock.advance(59_000);
    expect(await a.authenticate(token)).toMatchObject({ cached: true });
    clock.advance(1_000);
    expect(await a.authenticate(token)).toMatchObject({ ok: true, cached: false });
  });

  it('caches nothing when cache_size is 0', async () => {
    const a = authenticator({ cache_size: 0 });
    active['opaque-token'] = { sub: 'dave' };
    await a.authenticate('opaque-token');
    expect(await a.authenticate('opaque-token')).toMatchObject({ ok: true, cached: false });
    expect(introspectionHits).toBe(2);
  });

  it('keeps at most cache_size entries, evicting the least recently used', async () => {
    const a = authenticator({ cache_size: 2 });
    for (const t of ['t1', 't2', 't3']) active[t] = { sub: t };
    await a.authenticate('t1');
    await a.authenticate('t2');
    await a.authenticate('t3'); // evicts t1
    expect(introspectionHits).toBe(3);
    expect(await a.authenticate('t3')).toMatchObject({ cached: true });
    expect(await a.authenticate('t1')).toMatchObject({ cached: false });
    expect(introspectionHits).toBe(4);
  });

  it('answers a known introspected token from the cache until the earlier of exp and introspection.cache_ttl', async () => {
    const a = authenticator({ introspection: { cache_ttl: 300 } });
    active['short-lived'] = { sub: 'dave', exp: clock.seconds + 5 };
    await a.authenticate('short-lived');
    expect(await a.authenticate('short-lived')).toMatchObject({ cached: true });
    expect(introspectionHits).toBe(1);
    clock.advance(5_000);
    await a.authenticate('short-lived');
    expect(introspectionHits).toBe(2);
  });

  it('does not cache introspection successes when introspection.cache_ttl is 0', async () => {
    const a = authenticator({ introspection: { cache_ttl: 0 } });
    active['opaque-token'] = { sub: 'dave' };
    await a.authenticate('opaque-token');
    await a.authenticate('opaque-token');
    expect(introspectionHits).toBe(2);
  });

  it('remembers an inactive token for negative_cache_ttl only', async () => {
    const a = authenticator({ introspection: { negative_cache_ttl: 10 } });
    expect(failureOf(await a.authenticate('revoked'))).toEqual(new InvalidCredential('inactive'));
    clock.advance(9_999);
    expect(failureOf(await a.authenticate('revoked'))).toEqual(new InvalidCredential('inactive'));
    expect(introspectionHits).toBe(1);
    clock.advance(1);
    active.revoked = { sub: 'dave' }; // re-activated at the server
    expect((await a.authenticate('revoked')).ok).toBe(true);
    expect(introspectionHits).toBe(2);
  });

  it('never caches an unavailable answer', async () => {
    const a = authenticator();
    introspectionStatus = 503;
    expect(failureOf(await a.authenticate('opaque-token'))).toMatchObject({ kind: 'unavailable' });
    expect(failureOf(await a.authenticate('opaque-token'))).toMatchObject({ kind: 'unavailable' });
    expect(introspectionHits).toBe(2);
  });

  it('shares one introspection among concurrent requests with the same token, then verifies afresh', async () => {
    const a = authenticator({ cache_size: 0 });
    active['opaque-token'] = { sub: 'dave' };
    introspectionDelayMs = 30;
    const results = await Promise.all(Array.from({ length: 10 }, () => a.authenticate('opaque-token')));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(introspectionHits).toBe(1);
    await a.authenticate('opaque-token');
    expect(introspectionHits).toBe(2);
  });

  it('keys the cache by a digest, so different credentials never share an entry', async () => {
    const a = authenticator();
    active.one = { sub: 'first' };
    active.two = { sub: 'second' };
    expect(identityOf(await a.authenticate('one')).consumer).toBe('first');
    expect(identityOf(await a.authenticate('two')).consumer).toBe('second');
  });
});

describe('Authenticator caches for refusals', () => {
  const AS_ENDPOINT = 'https://as.example/introspect';
  /** An in-process authorization server: tokens starting "user-" are active, all others not. */
  function fakeAuthorizationServer() {
    const server = { calls: 0, fetch: undefined as unknown as FetchLike };
    server.fetch = async (_url, init) => {
      server.calls++;
      const token = new URLSearchParams(String(init.body)).get('token') ?? '';
      const body = token.startsWith('user-') ? { active: true, aud: AUDIENCE, sub: token } : { active: false };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    return server;
  }
  const introspectingAuthenticator = (fetchFn: FetchLike, over: Overrides = {}) =>
    new Authenticator(
      makeConfig({ methods: ['oauth2_introspection'], ...over, introspection: { endpoint: AS_ENDPOINT, audiences: [AUDIENCE], ...over.introspection } }),
      { now: clock.now, fetch: fetchFn },
    );

  it('a flood of made-up tokens never evicts verified users from the cache', async () => {
    const as = fakeAuthorizationServer();
    const a = introspectingAuthenticator(as.fetch, { cache_size: 100 });
    const users = Array.from({ length: 100 }, (_, i) => `user-${i}`);
    for (const user of users) expect((await a.authenticate(user)).ok).toBe(true);
    expect(as.calls).toBe(100);

    for (let i = 0; i < 20_000; i++) {
      expect(failureOf(await a.authenticate(`made-up-${i}`))).toEqual(new InvalidCredential('inactive'));
    }
    expect(as.calls).toBe(20_100);

    for (const user of users) expect(await a.authenticate(user)).toMatchObject({ ok: true, cached: true, identity: { consumer: user } });
    expect(as.calls).toBe(20_100); // no new introspection for any of them
  });

  it('keeps at most negative_cache_size refusals, evicting the oldest', async () => {
    const as = fakeAuthorizationServer();
    const a = introspectingAuthenticator(as.fetch, { negative_cache_size: 10 });
    for (let i = 0; i < 11; i++) await a.authenticate(`made-up-${i}`);
    expect(as.calls).toBe(11);
    await a.authenticate('made-up-10'); // remembered
    expect(as.calls).toBe(11);
    await a.authenticate('made-up-0'); // evicted by the eleventh
    expect(as.calls).toBe(12);
  });

  it('remembers no refusal when negative_cache_size is 0, and still caches users', async () => {
    const as = fakeAuthorizationServer();
    const a = introspectingAuthenticator(as.fetch, { negative_cache_size: 0 });
    await a.authenticate('made-up');
    await a.authenticate('made-up');
    await a.authenticate('user-1');
    expect(await a.authenticate('user-1')).toMatchObject({ cached: true });
    expect(as.calls).toBe(3);
  });
});

describe('Authenticator construction', () => {
  it('rejects jwt without keys or jwks_uri', () => {
    expect(() => new Authenticator(makeConfig({ methods: ['jwt'] }))).toThrow(LlmAuthConfigError);
  });

  it('rejects oauth2_introspection without endpoint', () => {
    expect(() => new Authenticator(makeConfig({ methods: ['oauth2_introspection'] }))).toThrow('introspection.endpoint');
  });

  it('rejects a malformed API key hash', () => {
    const config = makeConfig({ api_keys: [{ id: 'k', key_hash: 'sha256:nothex', consumer: 'a', tenant: null, scopes: [] }] });
    expect(() => new Authenticator(config)).toThrow('api_keys[0].key_hash');
  });

  it('refuses issuer_prefixes with consumer_by id: a prefixed id is never a Kong consumer id', () => {
    const config = makeConfig({
      methods: ['jwt'],
      consumer_by: 'id',
      jwt: { keys: [{ kid: null, algorithm: 'HS256', secret: 'a-test-secret-that-is-at-least-32-bytes-long!', public_key: null }], issuer_prefixes: { [ISSUER]: 'idp:' } },
    });
    expect(() => new Authenticator(config)).toThrow(new LlmAuthConfigError('jwt.issuer_prefixes', 'cannot be used with consumer_by "id" (a prefixed value is no consumer id)'));
    expect(() => new Authenticator({ ...config, consumer_by: 'username' })).not.toThrow();
  });

  it('ignores settings of methods that are not enabled', () => {
    const config = makeConfig({ methods: ['api_key'], jwt: { jwks_uri: 'not a url' } });
    expect(() => new Authenticator(config)).not.toThrow();
  });
});

describe('Authenticator.authorize', () => {
  it("applies the instance's required_scopes and allowed_tenants", async () => {
    const a = authenticator({ required_scopes: ['chat'], allowed_tenants: ['other'] });
    const identity = identityOf(await a.authenticate(API_KEY));
    expect(a.authorize(identity)).toEqual(new TenantNotAllowed('acme'));
    const b = authenticator({ required_scopes: ['chat'], allowed_tenants: ['acme'] });
    expect(b.authorize(identity)).toBeNull();
  });
});
