import { extractCredential, looksLikeJwt } from '../../../plugins/llm-auth/core/credential';

const NAMES = ['authorization', 'api-key', 'x-api-key'];

describe('extractCredential', () => {
  it('reads a Bearer token from the authorization header', () => {
    expect(extractCredential({ authorization: ['Bearer sk-abc'] }, null, NAMES, [])).toEqual({
      credential: 'sk-abc',
      source: { kind: 'header', name: 'authorization' },
    });
  });

  it('accepts the Bearer scheme in any case and a plain string value', () => {
    expect(extractCredential({ authorization: 'bEaReR   tok.en_~+/=' }, null, NAMES, [])).toMatchObject({ credential: 'tok.en_~+/=' });
  });

  it('uses the first value of a multi-valued header', () => {
    expect(extractCredential({ 'api-key': ['first', 'second'] }, null, NAMES, [])).toMatchObject({ credential: 'first' });
  });

  it('reads other headers raw and trimmed', () => {
    expect(extractCredential({ 'x-api-key': ['  sk-raw  '] }, null, NAMES, [])).toEqual({
      credential: 'sk-raw',
      source: { kind: 'header', name: 'x-api-key' },
    });
  });

  it('follows the configured header order', () => {
    const headers = { 'api-key': ['from-api-key'], authorization: ['Bearer from-authorization'] };
    expect(extractCredential(headers, null, NAMES, [])).toMatchObject({ credential: 'from-authorization' });
    expect(extractCredential(headers, null, ['api-key', 'authorization'], [])).toMatchObject({ credential: 'from-api-key' });
  });

  it('matches configured header names case-insensitively', () => {
    expect(extractCredential({ 'x-api-key': ['k'] }, null, ['X-API-Key'], [])).toMatchObject({ source: { name: 'x-api-key' } });
  });

  it('treats empty values as absent', () => {
    expect(extractCredential({ authorization: ['   '], 'api-key': [''] }, null, NAMES, [])).toBeNull();
    expect(extractCredential({}, null, NAMES, [])).toBeNull();
  });

  it('reports another scheme as malformed without echoing the value', () => {
    const result = extractCredential({ authorization: ['Basic c2VjcmV0LXZhbHVl'] }, null, NAMES, []);
    expect(result).toEqual({ malformed: expect.stringContaining('Bearer scheme') });
    expect(JSON.stringify(result)).not.toContain('c2VjcmV0LXZhbHVl');
  });

  it('reports an empty Bearer token as malformed', () => {
    expect(extractCredential({ authorization: ['Bearer'] }, null, NAMES, [])).toEqual({ malformed: expect.stringContaining('no API key') });
    expect(extractCredential({ authorization: ['Bearer    '] }, null, NAMES, [])).toEqual({ malformed: expect.stringContaining('no API key') });
  });

  it('reports a token with characters outside RFC 6750 b64token as malformed', () => {
    const result = extractCredential({ authorization: ['Bearer two words'] }, null, NAMES, []);
    expect(result).toEqual({ malformed: expect.stringContaining('RFC 6750') });
    expect(JSON.stringify(result)).not.toContain('words');
  });

  it('reports an unparseable Authorization value as malformed', () => {
    expect(extractCredential({ authorization: ['(bad) x'] }, null, NAMES, [])).toHaveProperty('malformed');
  });

  it('prefers a credential in a later header over a malformed Authorization header', () => {
    expect(extractCredential({ authorization: ['Basic abc'], 'api-key': ['sk-good'] }, null, NAMES, [])).toMatchObject({
      credential: 'sk-good',
    });
  });

  it('reads configured query parameters after the headers', () => {
    expect(extractCredential({}, { api_key: ['q-key'] }, NAMES, ['api_key'])).toEqual({
      credential: 'q-key',
      source: { kind: 'query', name: 'api_key' },
    });
    expect(extractCredential({ 'api-key': 'h-key' }, { api_key: 'q-key' }, NAMES, ['api_key'])).toMatchObject({ credential: 'h-key' });
  });

  it('ignores query parameters that are not configured', () => {
    expect(extractCredential({}, { api_key: 'q-key' }, NAMES, [])).toBeNull();
  });
});

describe('looksLikeJwt', () => {
  const segment = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

  it('recognises a compact JWS whose header has alg', () => {
    expect(looksLikeJwt(`${segment({ alg: 'RS256', typ: 'JWT' })}.${segment({ sub: 'a' })}.c2ln`)).toBe(true);
  });

  it('recognises an unsigned token so the verifier can reject alg none', () => {
    expect(looksLikeJwt(`${segment({ alg: 'none' })}.${segment({})}.`)).toBe(true);
  });

  it('rejects API keys and other opaque tokens', () => {
    expect(looksLikeJwt('sk-llm-abcdef')).toBe(false);
    expect(looksLikeJwt('a.b.c')).toBe(false);
    expect(looksLikeJwt(`${segment({ typ: 'JWT' })}.${segment({})}.c2ln`)).toBe(false);
    expect(looksLikeJwt(`${segment(['alg'])}.${segment({})}.c2ln`)).toBe(false);
    expect(looksLikeJwt(`${segment({ alg: 'RS256' })}.${segment({})}`)).toBe(false);
    expect(looksLikeJwt(`${segment({ alg: 'RS256' })}.x+y.c2ln`)).toBe(false);
  });
});
