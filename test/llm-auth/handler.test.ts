/**
 * llm-auth's Kong adapter through the bridge and the real plugin server, with the
 * openai SDK as the client: JWT against a local JWKS server (rotation included),
 * OAuth2 introspection against a local RFC 7662 endpoint, anonymous, tenants,
 * consumer_by none, a broken config, and injected faults (fail closed).
 */
import fs = require('fs');
import os = require('os');
import path = require('path');
import OpenAI from 'openai';
import { KongBridge } from '../bridge/gateway';
import { REPO_ROOT } from '../bridge/kong-settings';
import { MockOpenAI } from '../mock-openai/server';
import { rawRequest } from '../support/raw-http';
import { HS256_SECRET, jwkOf, rsa } from './core/support/keys';
import { sendJson, startServer, type TestServer } from './core/support/servers';
import { signToken, unsignedToken } from './core/support/tokens';

const UPSTREAM_KEY = 'sk-upstream-handler-test';
const ALICE_KEY = 'sk-llm-handler-alice-0123456789abcdefghijklmnopqrstuv';
const DAVE_KEY = 'sk-llm-handler-dave-0123456789abcdefghijklmnopqrstuvw';
const ERIN_KEY = 'sk-llm-handler-erin-0123456789abcdefghijklmnopqrstuvw';
const ERIN_ID = '5f2c9e4a-1b7d-4c3e-9a6f-0d8b2e4c6a10';
const sha256 = (s: string) => 'sha256:' + require('crypto').createHash('sha256').update(s).digest('hex');
const ISSUER = 'https://idp.test';
const AUDIENCE = 'kong-llm';
const chat = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'hi there' }] };
const now = () => Math.floor(Date.now() / 1000);

function kongYml(jwksUrl: string, introspectionUrl: string): string {
  const apiKeys = `
              api_keys:
                - { id: alice-key, key_hash: "${sha256(ALICE_KEY)}", consumer: alice, tenant: acme, scopes: [chat] }`;
  const route = (name: string, config: string) => `
      - name: ${name}
        paths: [/${name}/v1]
        strip_path: true
        plugins:
          - name: llm-auth
            config:
              openai_api_key: "{vault://env/openai-api-key}"${config}`;
  return `_format_version: "3.0"
services:
  - name: openai
    url: http://127.0.0.1:1/v1
    routes:${route('jwt', `
              methods: [jwt]
              jwt:
                jwks_uri: ${jwksUrl}/jwks
                jwks_refetch_interval: 1
                issuers: [${ISSUER}]
                audiences: [${AUDIENCE}]
                tenant_claim: org
                keys:
                  - { kid: hs1, algorithm: HS256, secret: "{vault://env/test-hs-secret}" }`)}${route('introspect', `
              methods: [oauth2_introspection]
              introspection:
                endpoint: ${introspectionUrl}/introspect
                audiences: [${AUDIENCE}]
                client_id: kong
                client_secret: "{vault://env/test-introspection-secret}"
                cache_ttl: 1
                negative_cache_ttl: 1`)}${route('anon', `${apiKeys}
              anonymous: guest`)}${route('nocons', `${apiKeys}
              consumer_by: none`)}${route('tenant', `${apiKeys}
              allowed_tenants: [globex]`)}${route('orgs', `${apiKeys}
                - { id: dave-key, key_hash: "${sha256(DAVE_KEY)}", consumer: alice }
              openai_organization: org-default
              tenant_headers:
                acme: { organization: org-acme, project: proj-acme }`)}${route('byid', `${apiKeys}
                - { id: erin-key, key_hash: "${sha256(ERIN_KEY)}", consumer: ${ERIN_ID} }
              consumer_by: id`)}${route('badcfg', `
              methods: [jwt]
              jwt:
                keys:
                  - { algorithm: RS256, public_key: "not a PEM at all" }`)}${route('apikey', apiKeys)}${route('query', `${apiKeys}
              query_param_names: [api_key]`)}${route('anonmissing', `${apiKeys}
              anonymous: nobody-by-this-name`)}
consumers:
  - username: alice
  - username: carol
  - username: guest
  - id: ${ERIN_ID}
    username: erin
`;
}

describe('llm-auth adapter through the bridge', () => {
  let mock: MockOpenAI;
  let jwks: TestServer;
  let idp: TestServer;
  let bridge: KongBridge;
  let dir: string;
  let jwksKeys: Record<string, unknown>[];
  const tokens = new Map<string, Record<string, unknown>>();
  let idpDown = false;

  const client = (route: string, apiKey: string) => new OpenAI({ apiKey, baseURL: `${bridge.url}/${route}/v1`, maxRetries: 0 });
  const claims = (extra: Record<string, unknown> = {}) => ({ sub: 'carol', iss: ISSUER, aud: AUDIENCE, exp: now() + 300, org: 'acme', scope: 'chat', ...extra });
  const rs = (extra: Record<string, unknown> = {}, kid = 'rsa1') => signToken(claims(extra), rsa(kid === 'rsa2' ? 2 : 1).privateKey, { alg: 'RS256', kid });
  const llmAuthCalls = () => bridge.traces.at(-1)!.pdkCalls.filter((c) => c.plugin === 'llm-auth').map((c) => c.method);

  beforeAll(async () => {
    mock = new MockOpenAI();
    await mock.start();
    jwksKeys = [jwkOf(rsa(1), { kid: 'rsa1', alg: 'RS256', use: 'sig' })];
    jwks = await startServer((_req, _body, res) => sendJson(res, 200, { keys: jwksKeys }));
    idp = await startServer((req, body, res) => {
      if (idpDown) return sendJson(res, 500, { error: 'down' });
      const auth = req.headers.authorization ?? '';
      if (auth !== `Basic ${Buffer.from('kong:idp-secret').toString('base64')}`) return sendJson(res, 401, { error: 'invalid_client' });
      const token = new URLSearchParams(body).get('token') ?? '';
      sendJson(res, 200, tokens.get(token) ?? { active: false });
    });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-auth-handler-'));
    fs.writeFileSync(path.join(dir, 'kong.yml'), kongYml(jwks.url, idp.url));
    bridge = await KongBridge.start({
      kongYml: path.join(dir, 'kong.yml'),
      serviceUrls: { openai: mock.url },
      env: { OPENAI_API_KEY: UPSTREAM_KEY, TEST_HS_SECRET: HS256_SECRET, TEST_INTROSPECTION_SECRET: 'idp-secret' },
    });
  });

  afterAll(async () => {
    await bridge?.stop();
    await Promise.all([mock?.stop(), jwks?.close(), idp?.close()]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => mock.reset());

  describe('JWT', () => {
    it('accepts a valid RS256 token from the JWKS and publishes the identity', async () => {
      const completion = await client('jwt', rs()).chat.completions.create(chat);
      expect(completion.object).toBe('chat.completion');
      expect(mock.requests[0].headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
      const trace = bridge.traces.at(-1)!;
      expect(trace.shared.llm_auth).toMatchObject({ consumer: 'carol', tenant: 'acme', scopes: ['chat'], auth_method: 'jwt' });
      expect(trace.consumer).toMatchObject({ username: 'carol' });
    });

    it('accepts an HS256 token for the static key with the secret from a vault reference', async () => {
      const token = signToken(claims(), HS256_SECRET, { alg: 'HS256', kid: 'hs1' });
      expect((await client('jwt', token).models.list()).data.length).toBeGreaterThan(0);
    });

    it('verifies a known token once: the cached path makes no JWKS call and 4 PDK calls', async () => {
      const token = rs({ jti: 'cached-1' });
      await client('jwt', token).models.list();
      const hits = jwks.hits;
      await client('jwt', token).models.list();
      expect(jwks.hits).toBe(hits);
      expect(llmAuthCalls()).toEqual(['kong.request.get_headers', 'kong.client.authenticate', 'kong.service.request.set_headers', 'kong.ctx.shared.set']);
    });

    const rejected: Array<[string, () => string, string]> = [
      ['expired', () => rs({ exp: now() - 3600 }), 'token_expired'],
      ['not yet valid', () => rs({ nbf: now() + 3600 }), 'token_not_yet_valid'],
      ['from another issuer', () => rs({ iss: 'https://evil.test' }), 'invalid_api_key'],
      ['for another audience', () => rs({ aud: 'someone-else' }), 'invalid_api_key'],
      ['signed with another algorithm than the key is pinned to', () => signToken(claims(), rsa(1).privateKey, { alg: 'RS384', kid: 'rsa1' }), 'invalid_api_key'],
      ['with alg none', () => unsignedToken(claims()), 'invalid_api_key'],
      ['HS256-signed with the RSA public key (key confusion)', () => signToken(claims(), rsa(1).publicPem, { alg: 'HS256', kid: 'rsa1' }), 'invalid_api_key'],
      ['malformed', () => 'eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln', 'invalid_api_key'],
    ];
    for (const [what, make, code] of rejected) {
      it(`rejects a token ${what} with 401 (${code})`, async () => {
        const token = make();
        const err = await client('jwt', token).chat.completions.create(chat).catch((e) => e);
        expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
        expect(err.code).toBe(code);
        expect(JSON.stringify(err.error)).not.toContain(token);
        expect(mock.requests).toHaveLength(0);
      });
    }

    it('finds a rotated key by refetching the JWKS on an unknown kid', async () => {
      const token = rs({}, 'rsa2');
      const before = await client('jwt', token).models.list().catch((e) => e);
      expect(before).toBeInstanceOf(OpenAI.AuthenticationError);
      jwksKeys = [...jwksKeys, jwkOf(rsa(2), { kid: 'rsa2', alg: 'RS256', use: 'sig' })];
      await new Promise((r) => setTimeout(r, 1100)); // jwks_refetch_interval: 1 s
      const after = await client('jwt', rs({ jti: 'rotated' }, 'rsa2')).models.list();
      expect(after.data.length).toBeGreaterThan(0);
    });
  });

  describe('OAuth2 introspection', () => {
    it('accepts an active token and rejects an inactive one', async () => {
      tokens.set('opaque-active', { active: true, aud: AUDIENCE, sub: 'alice', scope: 'chat', exp: now() + 300 });
      expect((await client('introspect', 'opaque-active').models.list()).data.length).toBeGreaterThan(0);
      expect(bridge.traces.at(-1)!.shared.llm_auth).toMatchObject({ consumer: 'alice', auth_method: 'oauth2_introspection' });
      const err = await client('introspect', 'opaque-unknown').models.list().catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    });

    it('rejects an active token issued for another client, or a refresh token, with 401 and nothing upstream', async () => {
      tokens.set('opaque-other-client', { active: true, aud: 'another-client', sub: 'alice', exp: now() + 300 });
      tokens.set('opaque-refresh', { active: true, aud: AUDIENCE, token_type: 'refresh_token', sub: 'alice', exp: now() + 300 });
      for (const token of ['opaque-other-client', 'opaque-refresh']) {
        const err = await client('introspect', token).models.list().catch((e) => e);
        expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
        expect(err.code).toBe('invalid_api_key');
      }
      expect(mock.requests).toHaveLength(0);
    });

    it('answers 503 when the endpoint fails and nothing cached can decide', async () => {
      tokens.set('opaque-new', { active: true, aud: AUDIENCE, sub: 'alice', exp: now() + 300 });
      idpDown = true;
      try {
        const err = await client('introspect', 'opaque-new').models.list().catch((e) => e);
        expect(err).toBeInstanceOf(OpenAI.InternalServerError);
        expect(err.status).toBe(503);
        expect(err.code).toBe('auth_provider_unavailable');
        expect(mock.requests).toHaveLength(0);
      } finally {
        idpDown = false;
      }
    });

    it('stops accepting a revoked token once its cache entry expires', async () => {
      tokens.set('opaque-revoked', { active: true, aud: AUDIENCE, sub: 'alice', exp: now() + 300 });
      await client('introspect', 'opaque-revoked').models.list();
      tokens.set('opaque-revoked', { active: false });
      // still cached (cache_ttl: 1 s)
      expect((await client('introspect', 'opaque-revoked').models.list()).data.length).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 1100));
      const err = await client('introspect', 'opaque-revoked').models.list().catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    });
  });

  describe('identity and authorization', () => {
    it('falls back to the anonymous consumer without a credential', async () => {
      const res = await fetch(`${bridge.url}/anon/v1/models`);
      expect(res.status).toBe(200);
      const trace = bridge.traces.at(-1)!;
      expect(trace.consumer).toMatchObject({ username: 'guest' });
      expect(trace.shared.llm_auth).toMatchObject({ consumer: 'guest', credential_id: 'anonymous', auth_method: 'anonymous' });
      expect(mock.requests[0].headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    });

    it('makes 3 PDK calls with consumer_by none and does not authenticate a Kong consumer', async () => {
      await client('nocons', ALICE_KEY).models.list();
      expect(llmAuthCalls()).toEqual(['kong.request.get_headers', 'kong.service.request.set_headers', 'kong.ctx.shared.set']);
      expect(bridge.traces.at(-1)!.consumer).toBeNull();
    });

    it('sends the tenant\'s OpenAI-Organization/Project upstream, else the default', async () => {
      await client('orgs', ALICE_KEY).models.list();
      expect(mock.requests[0].headers).toMatchObject({ 'openai-organization': 'org-acme', 'openai-project': 'proj-acme' });
      await client('orgs', DAVE_KEY).models.list({ headers: { 'OpenAI-Project': 'proj-chosen-by-client' } });
      expect(mock.requests[1].headers['openai-organization']).toBe('org-default');
      expect(mock.requests[1].headers['openai-project']).toBeUndefined();
    });

    it('maps consumers by id with consumer_by id, and refuses a non-UUID consumer without asking Kong', async () => {
      await client('byid', ERIN_KEY).models.list();
      expect(bridge.traces.at(-1)!.consumer).toMatchObject({ id: ERIN_ID, username: 'erin' });
      // Kong's load_consumer raises (a bare 500) for a non-UUID id: never called
      const err = await client('byid', ALICE_KEY).models.list().catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(llmAuthCalls()).not.toContain('kong.client.load_consumer');
      expect(mock.requests).toHaveLength(1);
    });

    it('refuses a tenant that is not allowed on the route with 403', async () => {
      const err = await client('tenant', ALICE_KEY).models.list().catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(err.code).toBe('tenant_not_allowed');
      expect(mock.requests).toHaveLength(0);
    });

    it('removes a valid key from the request before answering 403, so logging plugins never see it', async () => {
      const res = await fetch(`${bridge.url}/tenant/v1/models`, { headers: { 'x-api-key': ALICE_KEY } });
      expect(res.status).toBe(403);
      const calls = llmAuthCalls();
      expect(calls).toContain('kong.service.request.set_headers');
      expect(JSON.stringify(bridge.traces.at(-1)!)).not.toContain(ALICE_KEY);
    });

    it('removes every configured credential header upstream, not only the one used', async () => {
      await fetch(`${bridge.url}/apikey/v1/models`, { headers: { authorization: `Bearer ${ALICE_KEY}`, 'x-api-key': 'sk-other', 'api-key': 'sk-third' } });
      const [req] = mock.requests;
      expect(req.headers['x-api-key']).toBeUndefined();
      expect(req.headers['api-key']).toBeUndefined();
      expect(req.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    });

    it('scrubs the credential headers before the 500 of a config that cannot work', async () => {
      const res = await fetch(`${bridge.url}/badcfg/v1/models`, { headers: { 'api-key': ALICE_KEY, 'x-api-key': ALICE_KEY } });
      expect(res.status).toBe(500);
      const logged = bridge.traces.at(-1)!.logged as { request: { headers: Record<string, unknown> } };
      expect(logged.request.headers['api-key']).toBeUndefined();
      expect(logged.request.headers['x-api-key']).toBeUndefined();
      expect(JSON.stringify(logged)).not.toContain(ALICE_KEY);
    });

    it('scrubs a credential header that Kong\'s 100-line header map cut off (it was never read)', async () => {
      const pad: Array<[string, string]> = Array.from({ length: 110 }, (_, i) => [`x-pad-${i}`, 'x']);
      const res = await rawRequest(bridge.url, 'GET', '/apikey/v1/models', [...pad, ['x-api-key', ALICE_KEY]]);
      expect(res.status).toBe(401);
      const logged = bridge.traces.at(-1)!.logged as { request: { headers: Record<string, unknown> } };
      expect(logged.request.headers['x-api-key']).toBeUndefined();
      expect(JSON.stringify(logged)).not.toContain(ALICE_KEY);
    });

    it('scrubs the credential before the 500 for an anonymous consumer that does not exist', async () => {
      const res = await fetch(`${bridge.url}/anonmissing/v1/models`, { headers: { 'x-api-key': 'sk-not-a-known-key-but-still-a-secret' } });
      expect(res.status).toBe(500);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('llm_auth_misconfigured');
      const logged = bridge.traces.at(-1)!.logged as { request: { headers: Record<string, unknown> } };
      expect(logged.request.headers['x-api-key']).toBeUndefined();
      expect(mock.requests).toHaveLength(0);
    });

    it('survives a __proto__ query argument and header: same server pid, and the next request is served', async () => {
      const pid = bridge.servers.get('llm-auth')!.pid;
      const res = await fetch(`${bridge.url}/query/v1/models?__proto__=x&api_key=${ALICE_KEY}&constructor=y`);
      expect(res.status).toBe(200);
      // the credential parameter left the query; the others went upstream as the client wrote them
      expect(mock.requests.at(-1)!.query).toBe('__proto__=x&constructor=y');
      // fetch drops a "__proto__" header; a hostile client writes it itself
      const header = await rawRequest(bridge.url, 'GET', '/apikey/v1/models', [['__proto__', 'x'], ['authorization', `Bearer ${ALICE_KEY}`]]);
      expect(header.status).toBe(200);
      expect(mock.requests.at(-1)!.headers['__proto__']).toBe('x');
      expect(bridge.servers.get('llm-auth')!.pid).toBe(pid);
      expect((await client('apikey', ALICE_KEY).models.list()).data.length).toBeGreaterThan(0);
      expect(bridge.servers.get('llm-auth')!.pid).toBe(pid);
      expect(bridge.logs.some((l) => l.message.includes('rpc_decode_error'))).toBe(false);
    });

    it('reads a credential from the query without get_query, and removes it before proxying', async () => {
      await fetch(`${bridge.url}/query/v1/models?api_key=${ALICE_KEY}&limit=2`);
      expect(mock.requests.at(-1)!.query).toBe('limit=2');
      const calls = llmAuthCalls().filter((m) => m !== 'kong.client.load_consumer'); // cached by earlier tests or not
      expect(calls).toEqual(['kong.request.get_headers', 'kong.request.get_raw_query', 'kong.client.authenticate', 'kong.service.request.set_headers', 'kong.service.request.set_raw_query', 'kong.ctx.shared.set']);
      const logged = bridge.traces.at(-1)!.logged as { request: { querystring: Record<string, unknown> } };
      expect(logged.request.querystring).toEqual({ limit: '2' });
    });

    it('answers every request with 500 when its config cannot work, and logs why once', async () => {
      const err = await client('badcfg', rs()).models.list().catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      expect(err.code).toBe('llm_auth_misconfigured');
      expect(mock.requests).toHaveLength(0);
      expect(bridge.logs.some((l) => l.level === 'err' && l.message.includes('invalid_config'))).toBe(true);
    });
  });
});

describe('llm-auth fails closed on injected faults', () => {
  const FAULTS = path.join(REPO_ROOT, 'test', 'fixtures', 'faults', 'llm-auth-faults.js');
  let mock: MockOpenAI;

  beforeAll(async () => {
    mock = new MockOpenAI();
    await mock.start();
  });
  afterAll(() => mock.stop());

  it('answers 503 and sends nothing upstream when the server dies between the upstream headers and the mark', async () => {
    let armed = true;
    const bridge: KongBridge = await KongBridge.start({
      kongYml: path.join(REPO_ROOT, 'kong', 'kong.test.yml'),
      serviceUrls: { openai: mock.url },
      env: { OPENAI_API_KEY: UPSTREAM_KEY, LLM_REDIS_HOST: '127.0.0.1', LLM_AUDIT_KEY: `hex:${'ab'.repeat(32)}` },
      workers: 1,
      onPdkCall: async (call) => {
        if (!armed || call.plugin !== 'llm-auth' || call.method !== 'kong.service.request.set_headers') return;
        armed = false;
        // Kong runs set_headers, then finds the server gone: the rest of the phase is skipped
        await bridge.servers.get('llm-auth')!.kill('SIGKILL');
      },
    });
    try {
      const keys = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'kong', 'demo-keys.json'), 'utf8'));
      const before = mock.requests.length;
      const res = await fetch(`${bridge.url}/v1/models`, { headers: { authorization: `Bearer ${keys.alice}` } });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('gateway_plugin_unavailable');
      expect(mock.requests.length).toBe(before);
    } finally {
      await bridge.stop();
    }
  });

  it('answers 500 when the OpenAI key reference cannot be resolved (Kong passes "")', async () => {
    const bridge = await KongBridge.start({
      kongYml: path.join(REPO_ROOT, 'kong', 'kong.test.yml'),
      serviceUrls: { openai: mock.url },
      env: {},
    });
    try {
      const keys = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'kong', 'demo-keys.json'), 'utf8'));
      const before = mock.requests.length;
      const err = await new OpenAI({ apiKey: keys.alice, baseURL: `${bridge.url}/v1`, maxRetries: 0 }).models.list().catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      expect(err.code).toBe('llm_auth_misconfigured');
      expect(mock.requests.length).toBe(before);
      expect(bridge.logs.some((l) => l.level === 'warn' && l.message.includes('{vault://env/openai-api-key}'))).toBe(true);
      expect(bridge.logs.some((l) => l.level === 'err' && l.message.includes('config.openai_api_key'))).toBe(true);
    } finally {
      await bridge.stop();
    }
  });

  for (const fault of ['crypto', 'consumer-cache', 'authenticator']) {
    it(`answers 500 and sends nothing upstream when ${fault} throws`, async () => {
      const bridge = await KongBridge.start({
        kongYml: path.join(REPO_ROOT, 'kong', 'kong.test.yml'),
        serviceUrls: { openai: mock.url },
        env: { OPENAI_API_KEY: UPSTREAM_KEY, LLM_REDIS_HOST: '127.0.0.1', LLM_AUDIT_KEY: `hex:${'ab'.repeat(32)}` },
        serverEnv: { NODE_OPTIONS: `--require ${FAULTS}`, LLM_AUTH_FAULT: fault },
      });
      try {
        const keys = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'kong', 'demo-keys.json'), 'utf8'));
        const before = mock.requests.length;
        const sdk = new OpenAI({ apiKey: keys.alice, baseURL: `${bridge.url}/v1`, maxRetries: 0, defaultHeaders: { 'x-api-key': keys.alice } });
        // /v1/embeddings: llm-auth as a plugin of its own (chat completions go through llm-gateway)
        const err = await sdk.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' }).catch((e) => e);
        expect(err).toBeInstanceOf(OpenAI.InternalServerError);
        expect(err.status).toBe(500);
        // the catch-all scrubs too: what Kong's log plugins would write holds no key
        const logged = bridge.traces.at(-1)!.logged as { request: { headers: Record<string, unknown> } };
        expect(logged.request.headers['x-api-key']).toBeUndefined();
        expect(JSON.stringify(logged)).not.toContain(keys.alice);
        expect(err.error).toMatchObject({ type: 'server_error' });
        expect(mock.requests.length).toBe(before);
        expect(bridge.logs.some((l) => l.level === 'err' && l.plugin === 'llm-auth')).toBe(true);
        expect(JSON.stringify(bridge.logs)).not.toContain(keys.alice);
      } finally {
        await bridge.stop();
      }
    });
  }
});
