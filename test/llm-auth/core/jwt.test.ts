import { createHmac } from 'node:crypto';
import jwtLib from 'jsonwebtoken';
import { ExpiredCredential, InvalidCredential, LlmAuthConfigError, NotYetValidCredential } from '../../../plugins/llm-auth/core/errors';
import type { Verdict } from '../../../plugins/llm-auth/core/identity';
import { JwtVerifier } from '../../../plugins/llm-auth/core/jwt';
import type { JwtConfig } from '../../../plugins/llm-auth/schema';
import { FakeClock } from './support/clock';
import { makeConfig } from './support/config';
import { ec, ed25519, HS256_SECRET, jwkOf, rsa, type Pair } from './support/keys';
import { eventually } from './support/eventually';
import { sendJson, startServer, type TestServer } from './support/servers';
import { signToken, unsignedToken } from './support/tokens';

let clock: FakeClock;
beforeEach(() => {
  clock = new FakeClock();
});

const jwtConfig = (over: Partial<JwtConfig>): JwtConfig => makeConfig({ jwt: over }).jwt;
const verifier = (over: Partial<JwtConfig>) => new JwtVerifier(jwtConfig(over), { now: clock.now });
const rsaKey = (p: Pair = rsa(), kid: string | null = null, algorithm: JwtConfig['keys'][number]['algorithm'] = 'RS256') => ({
  kid,
  algorithm,
  secret: null,
  public_key: p.publicPem,
});
const ISSUER = 'https://idp.test';
const AUDIENCE = 'kong-llm';
const claims = (extra: Record<string, unknown> = {}) => ({ sub: 'alice', iss: ISSUER, aud: AUDIENCE, exp: clock.seconds + 600, ...extra });

function failureOf(verdict: Verdict) {
  if (verdict.ok) throw new Error('expected a failure');
  return verdict.failure;
}

describe('JwtVerifier with static keys', () => {
  it.each([
    ['RS256', () => rsa()],
    ['RS512', () => rsa()],
    ['PS256', () => rsa()],
    ['ES256', () => ec('P-256')],
    ['ES384', () => ec('P-384')],
    ['ES512', () => ec('P-521')],
    ['EdDSA', () => ed25519()],
  ] as const)('verifies a %s token and maps it to an identity', async (algorithm, pair) => {
    const p = pair();
    const v = verifier({ keys: [{ kid: null, algorithm, secret: null, public_key: p.publicPem }] });
    const token = signToken(claims(), p.privateKey, { alg: algorithm });
    const verdict = await v.verify(token);
    expect(verdict).toEqual({
      ok: true,
      identity: {
        consumer: 'alice',
        tenant: null,
        scopes: [],
        credential_id: expect.stringMatching(/^jwt:[0-9a-f]{12}$/),
        auth_method: 'jwt',
        expiresAt: (clock.seconds + 600) * 1000,
      },
      cacheUntil: (clock.seconds + 600) * 1000,
    });
    expect(verdict.ok && verdict.identity.credential_id).not.toContain(token.slice(0, 12));
  });

  it('verifies an HS256 token with its secret', async () => {
    const v = verifier({ keys: [{ kid: null, algorithm: 'HS256', secret: HS256_SECRET, public_key: null }] });
    expect((await v.verify(signToken(claims(), HS256_SECRET, { alg: 'HS256' }))).ok).toBe(true);
  });

  it('rejects alg none in any case, before any key is consulted', async () => {
    const v = verifier({ keys: [rsaKey()] });
    expect(failureOf(await v.verify(unsignedToken(claims())))).toEqual(new InvalidCredential('alg_none'));
    expect(failureOf(await v.verify(unsignedToken(claims(), 'NoNe')))).toEqual(new InvalidCredential('alg_none'));
  });

  it('rejects an HS256 token signed with the RSA public key as secret, without calling the library', async () => {
    const p = rsa();
    const forged = signToken(claims(), Buffer.from(p.publicPem), { alg: 'HS256', kid: 'rsa-1' });
    // The forgery is a valid HMAC under the PEM: only pinning stops it.
    const [h, b, s] = forged.split('.');
    expect(createHmac('sha256', p.publicPem).update(`${h}.${b}`).digest('base64url')).toBe(s);

    const spy = jest.spyOn(jwtLib, 'verify');
    try {
      const withKid = verifier({ keys: [rsaKey(p, 'rsa-1')] });
      expect(failureOf(await withKid.verify(forged))).toEqual(new InvalidCredential('alg_mismatch'));
      const withoutKid = verifier({ keys: [rsaKey(p)] });
      const forgedNoKid = signToken(claims(), Buffer.from(p.publicPem), { alg: 'HS256' });
      expect(failureOf(await withoutKid.verify(forgedNoKid))).toEqual(new InvalidCredential('alg_mismatch'));
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });

  it("rejects a token whose alg differs from the key's, even one the key could verify", async () => {
    const v = verifier({ keys: [rsaKey(rsa(), null, 'RS256')] });
    expect(failureOf(await v.verify(signToken(claims(), rsa().privateKey, { alg: 'RS384' })))).toEqual(new InvalidCredential('alg_mismatch'));
    expect(failureOf(await v.verify(signToken(claims(), rsa().privateKey, { alg: 'PS256' })))).toEqual(new InvalidCredential('alg_mismatch'));
  });

  it('rejects an alg outside JOSE and a crit header it does not understand', async () => {
    const v = verifier({ keys: [rsaKey()] });
    const [, payload, sig] = signToken(claims(), rsa().privateKey, { alg: 'RS256' }).split('.');
    const header = Buffer.from(JSON.stringify({ alg: 'RS1' })).toString('base64url');
    expect(failureOf(await v.verify(`${header}.${payload}.${sig}`))).toEqual(new InvalidCredential('alg_unsupported'));
    const crit = signToken(claims(), rsa().privateKey, { alg: 'RS256', header: { crit: ['exp'] } });
    expect(failureOf(await v.verify(crit))).toEqual(new InvalidCredential('crit_unsupported'));
  });

  it('rejects a bad signature, a tampered payload and a truncated signature', async () => {
    const v = verifier({ keys: [rsaKey(rsa(1))] });
    expect(failureOf(await v.verify(signToken(claims(), rsa(2).privateKey, { alg: 'RS256' })))).toEqual(new InvalidCredential('bad_signature'));

    const [h, , s] = signToken(claims(), rsa(1).privateKey, { alg: 'RS256' }).split('.');
    const tampered = Buffer.from(JSON.stringify(claims({ sub: 'mallory' }))).toString('base64url');
    expect(failureOf(await v.verify(`${h}.${tampered}.${s}`))).toEqual(new InvalidCredential('bad_signature'));

    const es = verifier({ keys: [{ kid: null, algorithm: 'ES256', secret: null, public_key: ec('P-256').publicPem }] });
    const esToken = signToken(claims(), ec('P-256').privateKey, { alg: 'ES256' });
    expect(failureOf(await es.verify(esToken.slice(0, -10)))).toEqual(new InvalidCredential('bad_signature'));

    const ed = verifier({ keys: [{ kid: null, algorithm: 'EdDSA', secret: null, public_key: ed25519().publicPem }] });
    const [eh, , esig] = signToken(claims(), ed25519().privateKey, { alg: 'EdDSA' }).split('.');
    expect(failureOf(await ed.verify(`${eh}.${tampered}.${esig}`))).toEqual(new InvalidCredential('bad_signature'));
  });

  it('rejects malformed tokens without throwing', async () => {
    const v = verifier({ keys: [rsaKey()] });
    const header = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    for (const token of ['', 'abc', 'a.b.c', `${header({ alg: 7 })}.e30.`, `${header({ alg: 'RS256', kid: 5 })}.e30.x`]) {
      expect(failureOf(await v.verify(token))).toEqual(new InvalidCredential('malformed_token'));
    }
  });

  it('rejects a signed payload that is not a JSON object', async () => {
    const v = verifier({ keys: [{ kid: null, algorithm: 'EdDSA', secret: null, public_key: ed25519().publicPem }] });
    const header = Buffer.from(JSON.stringify({ alg: 'EdDSA' })).toString('base64url');
    const payload = Buffer.from('"just a string"').toString('base64url');
    const { sign } = await import('node:crypto');
    const sig = sign(null, Buffer.from(`${header}.${payload}`), ed25519().privateKey).toString('base64url');
    expect(failureOf(await v.verify(`${header}.${payload}.${sig}`))).toEqual(new InvalidCredential('bad_claims'));
  });

  describe('time claims', () => {
    it.each(['RS256', 'EdDSA'] as const)('accepts a %s token expired within the clock skew and rejects it past the skew', async (alg) => {
      const p = alg === 'EdDSA' ? ed25519() : rsa();
      const v = verifier({ clock_skew_seconds: 60, keys: [{ kid: null, algorithm: alg, secret: null, public_key: p.publicPem }] });
      expect((await v.verify(signToken(claims({ exp: clock.seconds - 59 }), p.privateKey, { alg }))).ok).toBe(true);
      expect(failureOf(await v.verify(signToken(claims({ exp: clock.seconds - 60 }), p.privateKey, { alg })))).toEqual(new ExpiredCredential());
    });

    it('rejects a token at its exp second when there is no skew (RFC 7519 §4.1.4 "on or after")', async () => {
      const v = verifier({ clock_skew_seconds: 0, keys: [rsaKey()] });
      expect(failureOf(await v.verify(signToken(claims({ exp: clock.seconds }), rsa().privateKey, { alg: 'RS256' })))).toEqual(
        new ExpiredCredential(),
      );
      expect((await v.verify(signToken(claims({ exp: clock.seconds + 1 }), rsa().privateKey, { alg: 'RS256' }))).ok).toBe(true);
    });

    it('follows the injected clock, not the wall clock', async () => {
      const v = verifier({ clock_skew_seconds: 0, keys: [rsaKey()] });
      const token = signToken(claims({ exp: clock.seconds + 10 }), rsa().privateKey, { alg: 'RS256' });
      expect((await v.verify(token)).ok).toBe(true);
      clock.advance(10_000);
      expect(failureOf(await v.verify(token))).toEqual(new ExpiredCredential());
    });

    it.each(['RS256', 'EdDSA'] as const)('rejects a %s token whose nbf is in the future beyond the skew', async (alg) => {
      const p = alg === 'EdDSA' ? ed25519() : rsa();
      const v = verifier({ clock_skew_seconds: 60, keys: [{ kid: null, algorithm: alg, secret: null, public_key: p.publicPem }] });
      expect((await v.verify(signToken(claims({ nbf: clock.seconds + 60 }), p.privateKey, { alg }))).ok).toBe(true);
      expect(failureOf(await v.verify(signToken(claims({ nbf: clock.seconds + 61 }), p.privateKey, { alg })))).toEqual(
        new NotYetValidCredential(),
      );
    });

    it('requires exp when require_exp is on, and otherwise never expires the identity', async () => {
      const token = signToken({ sub: 'alice' }, rsa().privateKey, { alg: 'RS256' });
      expect(failureOf(await verifier({ keys: [rsaKey()] }).verify(token))).toEqual(new InvalidCredential('missing_exp'));
      const verdict = await verifier({ require_exp: false, keys: [rsaKey()] }).verify(token);
      expect(verdict).toMatchObject({ ok: true, identity: { expiresAt: null }, cacheUntil: Infinity });
    });

    it('rejects non-numeric exp or nbf', async () => {
      // jsonwebtoken refuses to sign these, so the token is an EdDSA one signed by hand.
      const v = verifier({ keys: [{ kid: null, algorithm: 'EdDSA', secret: null, public_key: ed25519().publicPem }] });
      const sign = (extra: Record<string, unknown>) => signToken(claims(extra), ed25519().privateKey, { alg: 'EdDSA' });
      expect(failureOf(await v.verify(sign({ exp: 'tomorrow' })))).toEqual(new InvalidCredential('bad_claims'));
      expect(failureOf(await v.verify(sign({ nbf: '0' })))).toEqual(new InvalidCredential('bad_claims'));
    });
  });

  describe('issuer and audience', () => {
    const sign = (extra: Record<string, unknown>) => signToken(claims(extra), rsa().privateKey, { alg: 'RS256' });

    it('accepts any issuer when issuers is empty, else only a listed one', async () => {
      expect((await verifier({ keys: [rsaKey()] }).verify(sign({ iss: 'https://anyone' }))).ok).toBe(true);
      const v = verifier({ issuers: ['https://idp.example'], keys: [rsaKey()] });
      expect((await v.verify(sign({ iss: 'https://idp.example' }))).ok).toBe(true);
      expect(failureOf(await v.verify(sign({ iss: 'https://evil.example' })))).toEqual(new InvalidCredential('issuer_not_allowed'));
      expect(failureOf(await v.verify(sign({})))).toEqual(new InvalidCredential('issuer_not_allowed'));
    });

    it('accepts an aud string or array intersecting audiences', async () => {
      const v = verifier({ audiences: ['llm-gateway', 'other'], keys: [rsaKey()] });
      expect((await v.verify(sign({ aud: 'llm-gateway' }))).ok).toBe(true);
      expect((await v.verify(sign({ aud: ['x', 'other'] }))).ok).toBe(true);
      expect(failureOf(await v.verify(sign({ aud: ['x', 'y'] })))).toEqual(new InvalidCredential('audience_not_allowed'));
      expect(failureOf(await v.verify(sign({ aud: 'x' })))).toEqual(new InvalidCredential('audience_not_allowed'));
      expect(failureOf(await v.verify(sign({})))).toEqual(new InvalidCredential('audience_not_allowed'));
    });

    it('skips the audience check when audiences is empty', async () => {
      expect((await verifier({ keys: [rsaKey()] }).verify(sign({ aud: 'whatever' }))).ok).toBe(true);
    });
  });

  describe('consumer per issuer', () => {
    const OTHER = 'https://other-idp.test';
    const twoKeys = () => [rsaKey(rsa(1), 'k1'), rsaKey(rsa(2), 'k2')];
    const fromIdp = (iss: string, kid: 'k1' | 'k2', extra: Record<string, unknown> = {}) =>
      signToken(claims({ iss, ...extra }), rsa(kid === 'k1' ? 1 : 2).privateKey, { alg: 'RS256', kid });
    const consumerOf = (verdict: Verdict) => (verdict.ok ? verdict.identity.consumer : `failed: ${verdict.failure.detail}`);

    it('maps the same sub from two issuers to two consumers, by the issuer\'s prefix', async () => {
      const v = verifier({ keys: twoKeys(), issuers: [ISSUER, OTHER], issuer_prefixes: { [ISSUER]: 'idp:', [OTHER]: 'partner:' } });
      expect(consumerOf(await v.verify(fromIdp(ISSUER, 'k1')))).toBe('idp:alice');
      expect(consumerOf(await v.verify(fromIdp(OTHER, 'k2')))).toBe('partner:alice');
      // the prefix follows the issuer, not a claim the token could choose
      expect(consumerOf(await v.verify(fromIdp(OTHER, 'k2', { sub: 'idp:alice' })))).toBe('partner:idp:alice');
    });

    it('refuses more than one issuer without a prefix for each, naming the field', () => {
      const error = new LlmAuthConfigError('jwt.issuer_prefixes', 'must give a consumer prefix for every entry of jwt.issuers when more than one issuer is accepted');
      expect(() => verifier({ keys: twoKeys(), issuers: [ISSUER, OTHER] })).toThrow(error);
      expect(() => verifier({ keys: twoKeys(), issuers: [ISSUER, OTHER], issuer_prefixes: { [ISSUER]: 'idp:' } })).toThrow(error);
      // one issuer needs none: consumers stay as they were
      expect(() => verifier({ keys: twoKeys(), issuers: [ISSUER] })).not.toThrow();
    });

    it('refuses prefixes for issuers that are not accepted, and prefixes that begin one another', () => {
      expect(() => verifier({ keys: twoKeys(), issuers: [ISSUER], issuer_prefixes: { [OTHER]: 'partner:' } })).toThrow(
        new LlmAuthConfigError('jwt.issuer_prefixes', 'names an issuer that jwt.issuers does not accept'),
      );
      // "a" + "bc" and "ab" + "c" would both be the consumer "abc"
      expect(() => verifier({ keys: twoKeys(), issuers: [ISSUER, OTHER], issuer_prefixes: { [ISSUER]: 'a', [OTHER]: 'ab' } })).toThrow(
        new LlmAuthConfigError('jwt.issuer_prefixes', 'no prefix may begin another (two issuers could then name the same consumer)'),
      );
    });

    it('with static keys and no issuer list, accepts only the issuers it has a prefix for', async () => {
      const v = verifier({ keys: twoKeys(), issuer_prefixes: { [ISSUER]: 'idp:' } });
      expect(consumerOf(await v.verify(fromIdp(ISSUER, 'k1')))).toBe('idp:alice');
      expect(failureOf(await v.verify(fromIdp(OTHER, 'k2')))).toEqual(new InvalidCredential('issuer_not_allowed'));
      expect(failureOf(await v.verify(fromIdp(ISSUER, 'k1', { iss: undefined })))).toEqual(new InvalidCredential('issuer_not_allowed'));
    });
  });

  describe('claims mapping', () => {
    const sign = (payload: Record<string, unknown>) => signToken(payload, rsa().privateKey, { alg: 'RS256' });

    it('merges scopes from a scope string, an scp array and roles', async () => {
      const v = verifier({ keys: [rsaKey()], scope_claims: ['scope', 'scp', 'roles'] });
      const verdict = await v.verify(sign(claims({ scope: 'chat embeddings', scp: ['files'], roles: ['admin', 'chat'] })));
      expect(verdict).toMatchObject({ ok: true, identity: { scopes: ['chat', 'embeddings', 'files', 'admin'] } });
    });

    it('reads the consumer and tenant from the configured claims', async () => {
      const v = verifier({ consumer_claim: 'email', tenant_claim: 'org_id', scope_claims: ['permissions'], keys: [rsaKey()] });
      const verdict = await v.verify(sign(claims({ email: 'a@example.com', org_id: 'acme', permissions: ['read'], scope: 'ignored' })));
      expect(verdict).toMatchObject({ ok: true, identity: { consumer: 'a@example.com', tenant: 'acme', scopes: ['read'] } });
    });

    it('rejects a token without a string consumer claim', async () => {
      const v = verifier({ keys: [rsaKey()] });
      expect(failureOf(await v.verify(sign({ exp: clock.seconds + 60 })))).toEqual(new InvalidCredential('missing_consumer'));
      expect(failureOf(await v.verify(sign(claims({ sub: 12 }))))).toEqual(new InvalidCredential('missing_consumer'));
    });
  });

  describe('key selection', () => {
    it('chooses the key by kid', async () => {
      const v = verifier({ keys: [rsaKey(rsa(1), 'k1'), rsaKey(rsa(2), 'k2')] });
      expect((await v.verify(signToken(claims(), rsa(2).privateKey, { alg: 'RS256', kid: 'k2' }))).ok).toBe(true);
      expect(failureOf(await v.verify(signToken(claims(), rsa(2).privateKey, { alg: 'RS256', kid: 'k1' })))).toEqual(
        new InvalidCredential('bad_signature'),
      );
      expect(failureOf(await v.verify(signToken(claims(), rsa(2).privateKey, { alg: 'RS256', kid: 'k3' })))).toEqual(
        new InvalidCredential('unknown_kid'),
      );
    });

    it('does not match a token with kid against keys without kid', async () => {
      const v = verifier({ keys: [rsaKey(rsa(1))] });
      expect(failureOf(await v.verify(signToken(claims(), rsa(1).privateKey, { alg: 'RS256', kid: 'k1' })))).toEqual(
        new InvalidCredential('unknown_kid'),
      );
    });

    it('tries the kid-less keys pinned to the header alg for a token without kid', async () => {
      const v = verifier({
        keys: [rsaKey(rsa(1)), { kid: null, algorithm: 'ES256', secret: null, public_key: ec('P-256').publicPem }, rsaKey(rsa(2))],
      });
      expect((await v.verify(signToken(claims(), rsa(2).privateKey, { alg: 'RS256' }))).ok).toBe(true);
      expect((await v.verify(signToken(claims(), ec('P-256').privateKey, { alg: 'ES256' }))).ok).toBe(true);
      expect(failureOf(await v.verify(signToken(claims(), ed25519().privateKey, { alg: 'EdDSA' })))).toEqual(new InvalidCredential('alg_mismatch'));
    });

    it('falls back to keys with kid for a token without kid when no key lacks one', async () => {
      const v = verifier({ keys: [rsaKey(rsa(1), 'k1'), rsaKey(rsa(2), 'k2')] });
      expect((await v.verify(signToken(claims(), rsa(2).privateKey, { alg: 'RS256' }))).ok).toBe(true);
    });
  });

  describe('construction', () => {
    it('rejects a config with neither keys nor jwks_uri', () => {
      expect(() => verifier({})).toThrow(new LlmAuthConfigError('jwt', 'jwt is enabled in methods but has neither keys nor jwks_uri'));
    });

    it('rejects duplicate kids and misfitting key material', () => {
      expect(() => verifier({ keys: [rsaKey(rsa(1), 'k'), rsaKey(rsa(2), 'k')] })).toThrow(/jwt\.keys\[1\]\.kid.*duplicate kid "k"/);
      expect(() => verifier({ keys: [rsaKey(ec('P-256'))] })).toThrow(LlmAuthConfigError);
    });

    it('rejects HS algorithms in jwks_algorithms (the schema already refuses them)', () => {
      expect(() => verifier({ jwks_uri: 'https://idp.example/jwks', jwks_algorithms: ['RS256', 'HS256'] })).toThrow(
        /jwt\.jwks_algorithms\[2\]: expected one of/,
      );
    });

    it('requires an issuer and an audience with a jwks_uri', () => {
      expect(() => verifier({ jwks_uri: 'https://idp.example/jwks', audiences: ['kong-llm'] })).toThrow(/jwt\.issuers/);
      expect(() => verifier({ jwks_uri: 'https://idp.example/jwks', issuers: ['https://idp.example'] })).toThrow(/jwt\.audiences/);
    });

    it('refuses a plain-http jwks_uri to another host', () => {
      expect(() => verifier({ jwks_uri: 'http://idp.example/jwks' })).toThrow(/jwt\.jwks_uri/);
      expect(() => verifier({ jwks_uri: 'http://127.evil.example/jwks' })).toThrow(/jwt\.jwks_uri/);
      expect(() => verifier({ jwks_uri: 'http://127.0.0.1.attacker.example/jwks' })).toThrow(/jwt\.jwks_uri/);
    });

    it('rejects a jwks_uri that is not http(s)', () => {
      expect(() => verifier({ jwks_uri: 'file:///etc/jwks.json' })).toThrow(/jwt\.jwks_uri/);
    });
  });
});

describe('JwtVerifier with a JWKS', () => {
  let server: TestServer;
  let jwks: { keys: unknown[] };
  let status: number;

  beforeAll(async () => {
    server = await startServer((_req, _body, res) => sendJson(res, status, jwks));
  });
  afterAll(() => server.close());
  beforeEach(() => {
    server.hits = 0;
    status = 200;
    jwks = { keys: [jwkOf(rsa(1), { kid: 'k1', alg: 'RS256', use: 'sig' })] };
  });

  // A fresh URL per verifier: providers are shared per URL at module level.
  let n = 0;
  const jwksVerifier = (over: Partial<JwtConfig> = {}) =>
    verifier({ jwks_uri: `${server.url}/jwks/${++n}`, issuers: [ISSUER], audiences: [AUDIENCE], ...over });

  it('verifies a token signed by a JWKS key', async () => {
    const v = jwksVerifier();
    expect((await v.verify(signToken(claims(), rsa(1).privateKey, { alg: 'RS256', kid: 'k1' }))).ok).toBe(true);
    expect(server.hits).toBe(1);
  });

  it('finds a rotated key: unknown kid → refetch → verified, without restart', async () => {
    const v = jwksVerifier();
    expect((await v.verify(signToken(claims(), rsa(1).privateKey, { alg: 'RS256', kid: 'k1' }))).ok).toBe(true);
    jwks = { keys: [jwkOf(rsa(1), { kid: 'k1', alg: 'RS256' }), jwkOf(ec('P-256'), { kid: 'k2' })] };
    clock.advance(31_000); // past jwks_refetch_interval (30 s), within jwks_cache_ttl (300 s)
    expect((await v.verify(signToken(claims(), ec('P-256').privateKey, { alg: 'ES256', kid: 'k2' }))).ok).toBe(true);
    expect(server.hits).toBe(2);
  });

  it('refetches on unknown kids at most once per refetch interval', async () => {
    const v = jwksVerifier();
    const unknown = (kid: string) => signToken(claims(), rsa(2).privateKey, { alg: 'RS256', kid });
    expect(failureOf(await v.verify(unknown('random-1')))).toEqual(new InvalidCredential('unknown_kid'));
    expect(failureOf(await v.verify(unknown('random-2')))).toEqual(new InvalidCredential('unknown_kid'));
    clock.advance(29_000);
    expect(failureOf(await v.verify(unknown('random-3')))).toEqual(new InvalidCredential('unknown_kid'));
    expect(server.hits).toBe(1);
    clock.advance(1_000);
    await v.verify(unknown('random-4'));
    expect(server.hits).toBe(2);
  });

  it('answers unavailable when the JWKS was never fetched and the IdP is down', async () => {
    status = 503;
    const verdict = await jwksVerifier().verify(signToken(claims(), rsa(1).privateKey, { alg: 'RS256', kid: 'k1' }));
    expect(failureOf(verdict)).toMatchObject({ kind: 'unavailable', provider: 'jwks', reason: 'HTTP 503' });
    expect(verdict.cacheUntil).toBeNull();
  });

  it('keeps verifying with the stale key set while the IdP is down', async () => {
    const v = jwksVerifier();
    const token = signToken(claims({ exp: clock.seconds + 3600 }), rsa(1).privateKey, { alg: 'RS256', kid: 'k1' });
    expect((await v.verify(token)).ok).toBe(true);
    status = 500;
    clock.advance(301_000); // past jwks_cache_ttl
    expect((await v.verify(token)).ok).toBe(true);
    await eventually(() => server.hits === 2); // refreshed in the background
  });

  it('answers unavailable, not invalid, for an unknown kid while the IdP is down', async () => {
    const v = jwksVerifier();
    expect((await v.verify(signToken(claims(), rsa(1).privateKey, { alg: 'RS256', kid: 'k1' }))).ok).toBe(true);
    status = 500;
    clock.advance(301_000);
    const verdict = await v.verify(signToken(claims(), rsa(2).privateKey, { alg: 'RS256', kid: 'rotated' }));
    expect(failureOf(verdict)).toMatchObject({ kind: 'unavailable', provider: 'jwks' });
  });

  it('stops serving the stale key set an hour past its TTL', async () => {
    const v = jwksVerifier();
    const token = signToken(claims({ exp: clock.seconds + 7 * 3600 }), rsa(1).privateKey, { alg: 'RS256', kid: 'k1' });
    expect((await v.verify(token)).ok).toBe(true);
    status = 500;
    clock.advance(300_000 + 59 * 60_000); // TTL (300 s) + 59 min
    expect((await v.verify(token)).ok).toBe(true);
    clock.advance(2 * 60_000);
    expect(failureOf(await v.verify(token))).toMatchObject({ kind: 'unavailable', provider: 'jwks' });
  });

  it('keeps a long-TTL key set usable after a failed refetch, and recovers with the IdP', async () => {
    const v = jwksVerifier({ jwks_cache_ttl: 7200 });
    const known = signToken(claims({ exp: clock.seconds + 7 * 3600 }), rsa(1).privateKey, { alg: 'RS256', kid: 'k1' });
    expect((await v.verify(known)).ok).toBe(true);
    status = 500;
    clock.advance(3700_000); // past an hour, within the 2 h TTL
    await v.verify(signToken(claims(), rsa(2).privateKey, { alg: 'RS256', kid: 'unknown' })); // refetch fails
    expect((await v.verify(signToken(claims({ jti: 'n' }), rsa(1).privateKey, { alg: 'RS256', kid: 'k1' }))).ok).toBe(true);
  });

  it('accepts a JWK without alg for the algorithms its key type fits and jwks_algorithms allows', async () => {
    jwks = { keys: [jwkOf(rsa(1), { kid: 'k1' })] };
    const v = jwksVerifier({ jwks_algorithms: ['PS256'] });
    expect((await v.verify(signToken(claims(), rsa(1).privateKey, { alg: 'PS256', kid: 'k1' }))).ok).toBe(true);
    expect(failureOf(await v.verify(signToken(claims(), rsa(1).privateKey, { alg: 'RS256', kid: 'k1' })))).toEqual(
      new InvalidCredential('alg_mismatch'),
    );
  });

  it('rejects a token whose alg differs from the JWK alg', async () => {
    const v = jwksVerifier();
    expect(failureOf(await v.verify(signToken(claims(), rsa(1).privateKey, { alg: 'PS256', kid: 'k1' })))).toEqual(
      new InvalidCredential('alg_mismatch'),
    );
  });

  it('never takes an HMAC secret from a JWKS', async () => {
    const secret = Buffer.from(HS256_SECRET).toString('base64url');
    jwks = { keys: [jwkOf(rsa(1), { kid: 'k1', alg: 'RS256' }), { kty: 'oct', k: secret, kid: 'hmac', alg: 'HS256' }] };
    const v = jwksVerifier();
    expect(failureOf(await v.verify(signToken(claims(), HS256_SECRET, { alg: 'HS256', kid: 'hmac' })))).toEqual(
      new InvalidCredential('unknown_kid'),
    );
  });

  it('prefers a static key with the same kid over the JWKS, without fetching', async () => {
    const v = jwksVerifier({ keys: [rsaKey(rsa(2), 'k1')] });
    expect((await v.verify(signToken(claims(), rsa(2).privateKey, { alg: 'RS256', kid: 'k1' }))).ok).toBe(true);
    expect(server.hits).toBe(0);
  });

  it('uses JWKS keys for a token without kid', async () => {
    const v = jwksVerifier();
    expect((await v.verify(signToken(claims(), rsa(1).privateKey, { alg: 'RS256' }))).ok).toBe(true);
  });
});
