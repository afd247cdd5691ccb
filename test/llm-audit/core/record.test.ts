import { estimateCompletionTokens } from '../../../plugins/shared/usage-estimate';
import fc from 'fast-check';
import { buildAuditRecord } from '../../../plugins/llm-audit/core/record';
import { FAKE } from '../../shared/redaction/fixtures';
import { schemaCheck } from './audit-schema';
import { FACTS, fullInputs, serialized, settings } from './record-fixtures';

describe('buildAuditRecord', () => {
  it('builds a record that validates, with identity, tokens and cost from what was published', () => {
    const r = buildAuditRecord(fullInputs(), settings());
    expect(schemaCheck(r)).toBe(true);
    expect(r).toMatchObject({
      schema_version: '1',
      time: '2026-01-02T03:04:05.678Z',
      request_id: 'req-0001',
      node_id: 'node-1',
      consumer: 'team-a',
      tenant: 'acme',
      credential_id: 'cred-42',
      auth_method: 'api_key',
      route: { id: 'r-1', name: 'chat' },
      service: { id: 's-1', name: 'openai' },
      client_ip: '10.0.0.7',
      request: { method: 'POST', path: '/v1/chat/completions', query: { trace: '1' }, size: 512, endpoint: 'chat.completions', model: 'gpt-4o-mini', stream: false },
      response: { status: 200, size: 900, source: 'upstream', error_type: null },
      latencies_ms: { kong: 3, upstream: 420, total: 425 },
      rate_limit: { allowed: true, key_by: 'consumer', limit_set: 'default', store: 'redis', refused_by: null, limits: [{ id: 'tpm', unit: 'tokens', limit: 100000, remaining: 98500, reset_ms: 60000 }], reserved: { tokens: 1500, usd_micros: 0 } },
      guard: { request_findings: { email: 2 }, injection: { instruction_override: 1 }, blocked: false, response_findings: { email: 1 } },
      capture: null,
    });
    expect(r.tokens).toEqual({
      prompt: 1000,
      prompt_method: 'exact',
      completion: 500,
      completion_method: 'exact',
      total: 1500,
      cached: 400,
      reasoning: null,
      completion_error_bound: null,
      usage_source: 'response',
    });
    // gpt-4o-mini: 600 × $0.15 + 400 cached × $0.075 + 500 × $0.60 per 1M = 90 + 30 + 300 micro-dollars
    expect(r.cost).toEqual({ usd: 0.00042, usd_micros: 420, basis: 'exact', known: true, model_key: 'gpt-4o-mini', prices_as_of: '2025-08-07' });
  });

  it('leaves every field null when no input is there, and the record still validates', () => {
    const r = buildAuditRecord({}, settings());
    expect(schemaCheck(r)).toBe(true);
    expect(r.consumer).toBeNull();
    expect(r.request).toEqual({ method: null, path: null, query: null, headers: null, size: null, endpoint: null, model: null, stream: null });
    expect(r.tokens.prompt).toBeNull();
    expect(r.cost).toEqual({ usd: null, usd_micros: null, basis: null, known: null, model_key: null, prices_as_of: null });
    expect(r.rate_limit).toBeNull();
    expect(r.guard).toEqual({ request_findings: null, injection: null, blocked: null, response_findings: null });
  });

  it('never throws on hostile input and always returns a record the schema accepts', () => {
    const s = settings({ capture_prompt: true, capture_answer: true });
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBigInt: true }), fc.anything(), fc.anything(), (a, b, c) => {
        const shapes = [
          { serialized: a, identity: b, usage: c, rate_limit: a, request_facts: b, response_findings: c, prompt_text: a, answer: c },
          { serialized: serialized({ request: a, response: b, latencies: c }), request_facts: { ...FACTS, findings: a } },
          a as never,
        ];
        for (const inputs of shapes) expect(schemaCheck(JSON.parse(JSON.stringify(buildAuditRecord(inputs, s))))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('estimates completion tokens from the answer size the body_filter recorded when no usage was captured, and says so', () => {
    const answer = { source: 'none', status: 200, answer_bytes: 2000, stream: false, encoded: false };
    const r = buildAuditRecord(fullInputs({ usage: answer }), settings());
    const est = estimateCompletionTokens({ endpoint: 'chat.completions', model: FACTS.model, stream: false, bytes: 2000 })!;
    expect(r.tokens).toMatchObject({ prompt: 1000, prompt_method: 'exact', completion: est.completion_tokens, completion_method: 'estimated', total: 1000 + est.completion_tokens, usage_source: null });
    expect(r.tokens.completion_error_bound).toBe(est.error_bound);
    expect(r.cost.basis).toBe('estimated');
    expect(schemaCheck(r)).toBe(true);
  });

  it('counts nothing for an error answer (OpenAI bills none)', () => {
    const r = buildAuditRecord(fullInputs({ usage: { source: 'none', status: 429, answer_bytes: 200, stream: false, encoded: false } }), settings());
    expect(r.tokens).toMatchObject({ prompt: 0, completion: 0, total: 0, completion_method: 'exact' });
    expect(r.cost.usd_micros).toBe(0);
  });

  it('writes no cost when a count is unknown rather than a made-up zero', () => {
    const r = buildAuditRecord(fullInputs({ usage: undefined }), settings());
    expect(r.tokens.prompt).toBe(1000);
    expect(r.tokens.completion).toBeNull();
    expect(r.cost.usd_micros).toBeNull();
  });

  it('names the error type when the gateway answered an error, not when OpenAI did', () => {
    const gw = (status: number, error_type?: string) =>
      buildAuditRecord(fullInputs({ serialized: serialized({ source: 'kong', response: { status, size: 10 } }), error_type }), settings()).response.error_type;
    expect(gw(401)).toBe('authentication_error');
    expect(gw(429)).toBe('rate_limit_error');
    expect(gw(503)).toBe('service_unavailable');
    expect(gw(400, 'permission_error')).toBe('permission_error');
    expect(gw(400, 'not-a-type')).toBe('invalid_request_error');
    expect(gw(200)).toBeNull();
    const upstream = buildAuditRecord(fullInputs({ serialized: serialized({ response: { status: 500 } }) }), settings());
    expect(upstream.response).toMatchObject({ source: 'upstream', error_type: null });
  });

  it('refuses a malformed rate-limit decision whole instead of half-trusting it', () => {
    const rl = (v: unknown) => buildAuditRecord(fullInputs({ rate_limit: v }), settings()).rate_limit;
    expect(rl({ allowed: false, refused_by: 'rpm', limits: [] })).toEqual({ allowed: false, key_by: null, limit_set: null, store: null, refused_by: 'rpm', limits: [], reserved: { tokens: null, usd_micros: null } });
    // the whole published value: its `log` is read
    expect(rl({ allowed: true, headers: { a: '1' }, log: { allowed: true, limits: [] } })).toMatchObject({ allowed: true, limits: [] });
    expect(rl({ allowed: true, limits: [{ id: 'rpm', unit: 'requests', limit: 10, remaining: -1 }] })).toBeNull();
    expect(rl({ allowed: 'yes', limits: [] })).toBeNull();
    expect(rl({ allowed: true, limits: {} })).toBeNull();
  });

  it('counts injection findings by category, whatever the category is called', () => {
    const injection = ['toString', '__proto__', 'toString', 'instruction_override'].map((category) => ({ rule_id: 'r', category }));
    const r = buildAuditRecord(fullInputs({ request_facts: { ...FACTS, findings: { pii: {}, injection, blocked: true } } }), settings());
    expect(JSON.stringify(r.guard)).toBe('{"request_findings":{},"injection":{"toString":2,"__proto__":1,"instruction_override":1},"blocked":true,"response_findings":{"email":1}}');
  });

  it('bounds strings a request controls', () => {
    const huge = 'x'.repeat(100_000);
    const r = buildAuditRecord(fullInputs({ serialized: serialized({ client_ip: huge, route: { id: huge } }), node_id: huge }), settings());
    expect(r.client_ip!.length).toBe(64);
    expect(r.route.id!.length).toBe(256);
    expect(r.node_id!.length).toBe(256);
  });
});

describe('buildAuditRecord redaction of headers, query and path', () => {
  const headers = {
    authorization: `Bearer ${FAKE.openai}`,
    'proxy-authorization': 'Basic dXNlcjpwYXNz',
    cookie: 'session=abc',
    'x-api-key': 'plain-but-secret-by-name',
    'api-key': 'azure-key-by-name',
    'x-tenant-secret': 'configured-name',
    'x-forwarded-for': FAKE.ipv4,
    'x-debug': `key is ${FAKE.github} and mail ${FAKE.email}`,
    'x-list': ['ok', FAKE.stripe],
  };

  it('writes named credentials as [REDACTED] and secrets found in any value as their type', () => {
    const s = settings({}, {}, ['X-Tenant-Secret']);
    const r = buildAuditRecord(fullInputs({ serialized: serialized({ request: { uri: '/v1/x', headers } }) }), s);
    expect(r.request.headers).toEqual({
      authorization: '[REDACTED]',
      'proxy-authorization': '[REDACTED]',
      cookie: '[REDACTED]',
      'x-api-key': '[REDACTED]',
      'api-key': '[REDACTED]',
      'x-tenant-secret': '[REDACTED]',
      'x-forwarded-for': '[REDACTED:ipv4]',
      'x-debug': 'key is [REDACTED:github_token] and mail [REDACTED:email]',
      'x-list': ['ok', '[REDACTED:stripe_key]'],
    });
  });

  it('redacts secrets even where the policy allows the type, and follows the policy for personal data', () => {
    const s = settings({}, { actions: { openai_key: 'allow', ipv4: 'allow', email: 'mask' } });
    const r = buildAuditRecord(
      fullInputs({ serialized: serialized({ request: { uri: '/v1/x', headers: { 'x-a': FAKE.openai, 'x-b': FAKE.ipv4, 'x-c': FAKE.email } } }) }),
      s,
    );
    expect(r.request.headers).toEqual({ 'x-a': '[REDACTED:openai_key]', 'x-b': FAKE.ipv4, 'x-c': 'j***@example.com' });
  });

  it('redacts query values by name and content, query names and the path by content', () => {
    const query = { 'api-key': 'azure', api_key: 'x', q: FAKE.awsAccess, [FAKE.openai]: true, multi: ['a', FAKE.jwt] };
    const uri = `/v1/keys/${FAKE.github}/x?api-key=azure`;
    const r = buildAuditRecord(fullInputs({ serialized: serialized({ request: { uri, querystring: query } }) }), settings());
    expect(r.request.path).toBe('/v1/keys/[REDACTED:github_token]/x');
    expect(r.request.query).toEqual({
      'api-key': '[REDACTED]',
      api_key: '[REDACTED]',
      q: '[REDACTED:aws_access_key]',
      '[REDACTED:openai_key]': true,
      multi: ['a', '[REDACTED:jwt]'],
    });
  });

  it('never writes a planted secret anywhere in the record', () => {
    const secrets = [FAKE.openai, FAKE.anthropic, FAKE.awsAccess, FAKE.github, FAKE.slack, FAKE.stripe, FAKE.google, FAKE.jwt, FAKE.dbUrl];
    const planted = Object.fromEntries(secrets.map((v, i) => [`x-h${i}`, `v ${v} v`]));
    const s = settings({ capture_prompt: true, capture_answer: true, capture_max_bytes: 64 });
    const r = buildAuditRecord(
      fullInputs({
        serialized: serialized({ request: { uri: `/v1/${FAKE.dbUrl}`, headers: planted, querystring: planted }, response: { status: 200, headers: planted } }),
        prompt_text: secrets.join(' '),
        answer_text: `answer ${FAKE.pem}`,
      }),
      s,
    );
    const written = JSON.stringify(r);
    // the database URL's password, the PEM body: the parts that are secret
    for (const v of [...secrets.slice(0, -1), 'FAKE-s3cret-pw', 'MHcCAQEEIFAKE']) expect(written).not.toContain(v);
    expect(schemaCheck(r)).toBe(true);
  });

  it('omits headers when the settings say so', () => {
    const r = buildAuditRecord(fullInputs(), settings({ headers: false }));
    expect(r.request.headers).toBeNull();
    expect(r.response.headers).toBeNull();
  });
});

describe('buildAuditRecord capture', () => {
  it('captures nothing unless turned on', () => {
    expect(buildAuditRecord(fullInputs({ prompt_text: 'hello' }), settings()).capture).toBeNull();
    expect(buildAuditRecord(fullInputs({ prompt_text: 'hello' }), settings({ capture_answer: true })).capture).toEqual({ prompt: null, answer: null });
  });

  it('redacts before it cuts, so a secret straddling the cap leaves no prefix', () => {
    const prompt = `${'a'.repeat(39)} ${FAKE.openai}`;
    const r = buildAuditRecord(fullInputs({ prompt_text: prompt }), settings({ capture_prompt: true, capture_max_bytes: 50 }));
    expect(r.capture!.prompt).toEqual({ text: `${'a'.repeat(39)} [REDACTED:`, truncated: true, original_bytes: Buffer.byteLength(prompt) });
    expect(r.capture!.prompt!.text).not.toContain('sk-');
  });

  it('cuts at a code point, never inside one', () => {
    fc.assert(
      // U+FFFD in the input itself would look like a cut inside a code point
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }).filter((t) => !t.includes('\uFFFD')), fc.integer({ min: 0, max: 80 }), (text, cap) => {
        const r = buildAuditRecord(fullInputs({ answer_text: text }), settings({ capture_answer: true, capture_max_bytes: cap }));
        const got = r.capture!.answer!;
        expect(Buffer.byteLength(got.text)).toBeLessThanOrEqual(cap);
        expect(got.text).not.toContain('\uFFFD');
        expect(text.startsWith(got.text) || got.text.includes('[REDACTED')).toBe(true);
        if (got.text === text) expect(got.truncated).toBe(false);
        else if (text.startsWith(got.text)) expect(got.truncated).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
