import { getJwksProvider, JwksProvider, parseJwks, type JwksSettings } from '../../../plugins/llm-auth/core/jwks';
import type { FetchLike } from '../../../plugins/llm-auth/core/http';
import { LlmAuthConfigError } from '../../../plugins/llm-auth/core/errors';
import { FakeClock } from './support/clock';
import { ec, ed25519, jwkOf, rsa, rsa1024 } from './support/keys';
import { eventually } from './support/eventually';
import { sendJson, startServer, type TestServer } from './support/servers';

const SETTINGS: JwksSettings = { jwks_cache_ttl: 300, jwks_refetch_interval: 30, jwks_timeout_ms: 2000 };

let server: TestServer;
let body: unknown;
let status: number;
let delayMs: number;
let clock: FakeClock;
let n = 0;

beforeAll(async () => {
  server = await startServer((_req, _body, res) => {
    const reply = () => (typeof body === 'string' ? res.writeHead(status).end(body) : sendJson(res, status, body));
    if (delayMs > 0) setTimeout(reply, delayMs).unref();
    else reply();
  });
});
afterAll(() => server.close());
beforeEach(() => {
  server.hits = 0;
  status = 200;
  delayMs = 0;
  clock = new FakeClock();
  body = { keys: [jwkOf(rsa(1), { kid: 'k1', alg: 'RS256' })] };
});

const provider = (settings: Partial<JwksSettings> = {}) => new JwksProvider(`${server.url}/jwks/${++n}`, { ...SETTINGS, ...settings }, { now: clock.now });

const isStale = (r: Awaited<ReturnType<JwksProvider['getKeySet']>>) => r.ok && r.stale;

async function kids(p: JwksProvider, kid: string | null = null): Promise<string[]> {
  const result = await p.getKeySet(kid);
  if (!result.ok) throw new Error(result.reason);
  return result.keys.all.map((k) => k.kid ?? '(none)');
}

describe('parseJwks', () => {
  it('pins a JWK with alg to it and infers the algorithms of one without', () => {
    const set = parseJwks({
      keys: [
        jwkOf(rsa(1), { kid: 'r-pinned', alg: 'PS384' }),
        jwkOf(rsa(2), { kid: 'r-any' }),
        jwkOf(ec('P-521'), { kid: 'e' }),
        jwkOf(ed25519(), { kid: 'o', use: 'sig' }),
        jwkOf(ec('P-256')),
      ],
    });
    if (typeof set === 'string') throw new Error(set);
    const algs = Object.fromEntries(set.all.map((k) => [k.kid ?? '(none)', k.algorithms]));
    expect(algs).toEqual({
      'r-pinned': ['PS384'],
      'r-any': ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
      e: ['ES512'],
      o: ['EdDSA'],
      '(none)': ['ES256'],
    });
    expect(set.withoutKid).toHaveLength(1);
    expect(set.byKid.get('e')?.[0].source).toBe('jwks');
  });

  it('skips keys that are not usable signing keys', () => {
    const set = parseJwks({
      keys: [
        jwkOf(rsa(1), { kid: 'enc', use: 'enc' }),
        jwkOf(rsa(1), { kid: 'wrap-only', key_ops: ['wrapKey'] }),
        { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac', alg: 'HS256' },
        jwkOf(rsa(1), { kid: 'hs-on-rsa', alg: 'HS256' }),
        jwkOf(ec('P-384'), { kid: 'wrong-curve', alg: 'ES256' }),
        jwkOf(rsa1024(), { kid: 'short-rsa' }),
        { kty: 'RSA', n: 'not base64!', e: 'AQAB', kid: 'garbage' },
        { kty: 'EC', crv: 'P-256', kid: 'no-x' },
        { kty: 'XYZ', kid: 'unknown-kty' },
        'not an object',
        jwkOf(rsa(2), { kid: 7 }),
        jwkOf(rsa(1), { kid: 'good', use: 'sig', key_ops: ['verify'] }),
      ],
    });
    if (typeof set === 'string') throw new Error(set);
    expect(set.all.map((k) => k.kid)).toEqual(['good']);
  });

  it('uses only the public members of a JWK that carries private ones', () => {
    const privateJwk = { ...rsa(1).privateKey.export({ format: 'jwk' }), kid: 'p' };
    const set = parseJwks({ keys: [privateJwk] });
    if (typeof set === 'string') throw new Error(set);
    expect(set.all[0].key.type).toBe('public');
  });

  it('fails a body that is not a JWK Set, or has no usable key', () => {
    expect(parseJwks([])).toBe('not a JWK Set');
    expect(parseJwks({ keys: 'x' })).toBe('not a JWK Set');
    expect(parseJwks({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })).toBe('no usable signing key in the JWK Set');
  });
});

describe('JwksProvider', () => {
  it('fetches once, serves the set until jwks_cache_ttl, then refreshes it in the background', async () => {
    const p = provider();
    expect(await kids(p, 'k1')).toEqual(['k1']);
    clock.advance(299_000);
    expect(await kids(p, 'k1')).toEqual(['k1']);
    expect(server.hits).toBe(1);
    body = { keys: [jwkOf(rsa(2), { kid: 'k2' })] };
    clock.advance(1_000);
    expect(await kids(p, null)).toEqual(['k1']); // served at once while the refresh runs
    await eventually(async () => (await kids(p, null))[0] === 'k2');
    expect(server.hits).toBe(2);
  });

  it('refetches for an unknown kid once the refetch interval has passed, finding rotated keys', async () => {
    const p = provider();
    await kids(p);
    body = { keys: [jwkOf(rsa(1), { kid: 'k1' }), jwkOf(rsa(2), { kid: 'k2' })] };
    expect(await kids(p, 'k2')).toEqual(['k1']); // just fetched: no refetch yet
    expect(server.hits).toBe(1);
    clock.advance(30_000);
    expect(await kids(p, 'k2')).toEqual(['k1', 'k2']);
    expect(server.hits).toBe(2);
  });

  it('does not refetch for a flood of unknown kids within the interval', async () => {
    const p = provider();
    await kids(p);
    clock.advance(30_000);
    await p.getKeySet('random-1'); // refetch
    for (let i = 2; i < 50; i++) {
      clock.advance(500);
      await p.getKeySet(`random-${i}`);
    }
    expect(server.hits).toBe(2);
  });

  it('shares one fetch among concurrent callers', async () => {
    delayMs = 50;
    const p = provider();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => p.getKeySet(i % 2 ? 'k1' : `unknown-${i}`)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(server.hits).toBe(1);
  });

  describe('refresh in the background', () => {
    it('answers a known kid at once from the last good set while one refresh runs in the background', async () => {
      const p = provider({ jwks_timeout_ms: 5000 });
      await kids(p, 'k1');
      delayMs = 1_000; // a slow IdP
      body = { keys: [jwkOf(rsa(1), { kid: 'k1', alg: 'RS256' }), jwkOf(rsa(2), { kid: 'k2' })] };
      clock.advance(300_000); // past jwks_cache_ttl: a refresh is due
      const started = Date.now();
      const results = await Promise.all(Array.from({ length: 10 }, () => p.getKeySet('k1')));
      expect(Date.now() - started).toBeLessThan(500);
      for (const r of results) expect(r.ok && [...r.keys.byKid.keys()]).toEqual(['k1']); // the last good set
      // An unknown kid cannot be answered from it: it waits for the refresh already running.
      expect(await kids(p, 'k2')).toEqual(['k1', 'k2']);
      expect(server.hits).toBe(2); // one fetch for all eleven callers
    });

    it('does not make known kids wait for an IdP that hangs past jwks_timeout_ms ≥ jwks_refetch_interval', async () => {
      const p = provider({ jwks_refetch_interval: 1, jwks_timeout_ms: 2000 });
      await kids(p, 'k1');
      delayMs = 10_000; // hangs: every attempt ends at the timeout
      clock.advance(300_000);
      let slowest = 0;
      const timed = async () => {
        const started = Date.now();
        const result = await p.getKeySet('k1');
        slowest = Math.max(slowest, Date.now() - started);
        return result;
      };
      expect(await timed()).toMatchObject({ ok: true, stale: false });
      clock.advance(2_000); // the attempt lasts the timeout on the provider's clock too
      // Requests keep coming while the attempt runs and after it fails.
      await eventually(async () => isStale(await timed()));
      expect(await timed()).toMatchObject({ ok: true, stale: true });
      expect(slowest).toBeLessThan(200);
      expect(server.hits).toBe(2); // the attempt ended just now: still within the back-off
    });

    it('within the TTL, asks the IdP nothing for a known kid, even after a failed refetch', async () => {
      const p = provider();
      await kids(p, 'k1');
      status = 500;
      clock.advance(30_000);
      await p.getKeySet('unknown'); // refetch, fails
      expect(server.hits).toBe(2);
      clock.advance(30_000); // past the back-off, within the TTL
      expect(await p.getKeySet('k1')).toMatchObject({ ok: true });
      await new Promise((resolve) => setTimeout(resolve, 50)); // room for a background fetch to arrive
      expect(server.hits).toBe(2);
    });

    it('starts the refetch back-off when the attempt ends, not when it starts', async () => {
      const p = provider(); // jwks_refetch_interval: 30 s
      await kids(p, 'k1');
      clock.advance(30_000);
      delayMs = 200;
      const pending = p.getKeySet('k2'); // unknown kid: refetch
      clock.advance(20_000); // the attempt takes 20 s on the provider's clock
      await pending;
      expect(server.hits).toBe(2);
      clock.advance(29_000); // 49 s after the attempt started, 29 s after it ended
      await p.getKeySet('k3');
      expect(server.hits).toBe(2);
      clock.advance(1_000);
      await p.getKeySet('k4');
      expect(server.hits).toBe(3);
    });
  });

  it('reports the failure when nothing was ever fetched, retrying at most once a second', async () => {
    status = 502;
    const p = provider();
    expect(await p.getKeySet('k1')).toEqual({ ok: false, reason: 'HTTP 502' });
    expect(await p.getKeySet('k1')).toEqual({ ok: false, reason: 'HTTP 502' });
    expect(server.hits).toBe(1);
    status = 200;
    clock.advance(1_000);
    expect(await kids(p, 'k1')).toEqual(['k1']);
    expect(server.hits).toBe(2);
  });

  it('serves the last good set while the IdP is down, retrying once per refetch interval', async () => {
    const p = provider();
    await kids(p);
    status = 500;
    clock.advance(300_000);
    expect(await kids(p, 'k1')).toEqual(['k1']);
    await eventually(async () => isStale(await p.getKeySet('k1'))); // the background refresh failed
    expect(server.hits).toBe(2);
    clock.advance(29_000);
    expect(await kids(p, 'k1')).toEqual(['k1']);
    expect(server.hits).toBe(2);
    clock.advance(1_000);
    expect(await kids(p, 'k1')).toEqual(['k1']);
    await eventually(() => server.hits === 3);
  });

  it('keeps the last good set when the IdP answers with no usable key', async () => {
    const p = provider();
    await kids(p);
    body = { keys: [] };
    clock.advance(300_000);
    expect(await kids(p, 'k1')).toEqual(['k1']);
  });

  it('times out a slow JWKS endpoint after jwks_timeout_ms', async () => {
    delayMs = 1_000;
    const started = Date.now();
    expect(await provider({ jwks_timeout_ms: 100 }).getKeySet(null)).toEqual({ ok: false, reason: 'timeout' });
    expect(Date.now() - started).toBeLessThan(900);
  });

  it('reports a body that is not JSON', async () => {
    body = '<html>oops</html>';
    expect(await provider().getKeySet(null)).toEqual({ ok: false, reason: 'response is not JSON' });
  });

  it('reports an unreachable endpoint as a network error', async () => {
    const closed = await startServer(() => undefined);
    await closed.close();
    const p = new JwksProvider(`${closed.url}/jwks`, SETTINGS, { now: clock.now });
    expect(await p.getKeySet(null)).toEqual({ ok: false, reason: expect.stringMatching(/^network error/) });
  });

  it('does not follow a redirect: the target could be a host the jwks_uri check refuses', async () => {
    // The redirect target serves a perfectly good key set: following it would trust it.
    const redirecting = await startServer((_req, _body, res) => res.writeHead(302, { location: `${server.url}/jwks/target` }).end());
    try {
      const p = new JwksProvider(`${redirecting.url}/jwks`, SETTINGS, { now: clock.now });
      const result = await p.getKeySet('k1');
      expect(result).toEqual({ ok: false, reason: expect.stringMatching(/^network error/) });
      expect(redirecting.hits).toBe(1);
      expect(server.hits).toBe(0);
    } finally {
      await redirecting.close();
    }
  });

  it('uses an injected fetch', async () => {
    const calls: string[] = [];
    const fetchSpy: FetchLike = (url, init) => {
      calls.push(url);
      return fetch(url, init);
    };
    const url = `${server.url}/jwks/injected`;
    const p = new JwksProvider(url, SETTINGS, { now: clock.now, fetch: fetchSpy });
    expect(await kids(p)).toEqual(['k1']);
    expect(calls).toEqual([url]);
  });

  it('rejects a URI that is not http(s) at construction', () => {
    expect(() => new JwksProvider('ftp://idp/jwks', SETTINGS)).toThrow(LlmAuthConfigError);
    expect(() => new JwksProvider('not a url', SETTINGS)).toThrow('jwt.jwks_uri');
  });
});

describe('getJwksProvider', () => {
  it('shares one provider per URL and settings', () => {
    const deps = { now: clock.now };
    const a = getJwksProvider('https://idp.example/jwks', SETTINGS, deps);
    expect(getJwksProvider('https://idp.example/jwks', { ...SETTINGS }, deps)).toBe(a);
    expect(getJwksProvider('https://idp.example/jwks', { ...SETTINGS, jwks_cache_ttl: 60 }, deps)).not.toBe(a);
    expect(getJwksProvider('https://other.example/jwks', SETTINGS, deps)).not.toBe(a);
  });

  it('keeps providers with injected fetch or clock apart from the default ones', () => {
    const shared = getJwksProvider('https://idp.example/jwks', SETTINGS);
    expect(getJwksProvider('https://idp.example/jwks', SETTINGS)).toBe(shared);
    expect(getJwksProvider('https://idp.example/jwks', SETTINGS, { now: clock.now })).not.toBe(shared);
  });
});
