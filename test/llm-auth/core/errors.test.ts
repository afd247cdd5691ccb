import { openAiErrorBody } from '../../../plugins/shared/openai-error';
import {
  AuthProviderUnavailable,
  ExpiredCredential,
  InsufficientScope,
  InternalAuthError,
  InvalidCredential,
  LlmAuthConfigError,
  MalformedCredential,
  MissingCredential,
  NotYetValidCredential,
  TenantNotAllowed,
  toRejection,
  type Failure,
} from '../../../plugins/llm-auth/core/errors';

const REALM = 'kong';

describe('toRejection', () => {
  it('answers a missing credential with 401 missing_api_key and a bare Bearer challenge (RFC 6750 §3)', () => {
    const r = toRejection(new MissingCredential(), REALM);
    expect(r).toMatchObject({ status: 401, type: 'authentication_error', code: 'missing_api_key' });
    expect(r.headers).toEqual({ 'WWW-Authenticate': 'Bearer realm="kong"' });
    expect(r.message).toMatch(/didn't provide an API key/);
  });

  it('answers a malformed credential with 401 malformed_credential, invalid_token and the extractor message', () => {
    const r = toRejection(new MalformedCredential('Use the Bearer scheme.'), REALM);
    expect(r).toMatchObject({ status: 401, type: 'authentication_error', code: 'malformed_credential', message: 'Use the Bearer scheme.' });
    expect(r.headers!['WWW-Authenticate']).toBe('Bearer realm="kong", error="invalid_token", error_description="The credential is malformed"');
  });

  it('answers an invalid credential with 401 invalid_api_key without revealing which check failed', () => {
    const signature = toRejection(new InvalidCredential('bad_signature'), REALM);
    const issuer = toRejection(new InvalidCredential('issuer_not_allowed'), REALM);
    expect(signature).toMatchObject({ status: 401, type: 'authentication_error', code: 'invalid_api_key' });
    expect(signature.message).toMatch(/^Incorrect API key provided/);
    expect(issuer).toEqual(signature);
    expect(signature.headers!['WWW-Authenticate']).toContain('error="invalid_token"');
  });

  it('answers an expired token with 401 token_expired', () => {
    const r = toRejection(new ExpiredCredential(), REALM);
    expect(r).toMatchObject({ status: 401, type: 'authentication_error', code: 'token_expired' });
    expect(r.headers!['WWW-Authenticate']).toBe('Bearer realm="kong", error="invalid_token", error_description="The access token expired"');
  });

  it('answers a token used before nbf with 401 token_not_yet_valid', () => {
    const r = toRejection(new NotYetValidCredential(), REALM);
    expect(r).toMatchObject({ status: 401, type: 'authentication_error', code: 'token_not_yet_valid' });
    expect(r.headers!['WWW-Authenticate']).toContain('error="invalid_token"');
  });

  it('answers missing scopes with 403 insufficient_scope, naming them and the required scope in the challenge', () => {
    const r = toRejection(new InsufficientScope(['chat', 'admin'], ['admin']), REALM);
    expect(r).toMatchObject({ status: 403, type: 'permission_error', code: 'insufficient_scope' });
    expect(r.message).toContain('Missing scopes: admin.');
    expect(r.headers!['WWW-Authenticate']).toBe(
      'Bearer realm="kong", error="insufficient_scope", error_description="The request requires higher privileges than provided by the access token", scope="chat admin"',
    );
  });

  it('answers a tenant that is not allowed with 403 tenant_not_allowed and no challenge', () => {
    const r = toRejection(new TenantNotAllowed('acme'), REALM);
    expect(r).toMatchObject({ status: 403, type: 'permission_error', code: 'tenant_not_allowed' });
    expect(r.headers).toBeUndefined();
    expect(r.message).not.toContain('acme');
  });

  it('answers an unreachable token authority with 503 server_error auth_provider_unavailable', () => {
    const r = toRejection(new AuthProviderUnavailable('jwks', 'timeout'), REALM);
    expect(r).toMatchObject({ status: 503, type: 'server_error', code: 'auth_provider_unavailable' });
    expect(r.message).not.toContain('timeout');
  });

  it('answers an internal error with 500 llm_auth_internal_error and no internals', () => {
    const r = toRejection(new InternalAuthError(new TypeError('secret detail')), REALM);
    expect(r).toMatchObject({ status: 500, type: 'server_error', code: 'llm_auth_internal_error' });
    expect(r.message).not.toContain('secret detail');
  });

  it('escapes quotes and backslashes in the realm (RFC 9110 quoted-string)', () => {
    const r = toRejection(new MissingCredential(), 'my "realm"\\x');
    expect(r.headers!['WWW-Authenticate']).toBe('Bearer realm="my \\"realm\\"\\\\x"');
  });

  it('produces bodies in OpenAI error format for every failure kind', () => {
    const failures: Failure[] = [
      new MissingCredential(),
      new MalformedCredential('m'),
      new InvalidCredential('unknown_api_key'),
      new ExpiredCredential(),
      new NotYetValidCredential(),
      new InsufficientScope(['a'], ['a']),
      new TenantNotAllowed(null),
      new AuthProviderUnavailable('introspection', 'HTTP 502'),
      new InternalAuthError('x'),
    ];
    for (const failure of failures) {
      const body = openAiErrorBody(toRejection(failure, REALM));
      expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      expect(typeof body.error.message).toBe('string');
    }
  });
});

describe('InternalAuthError', () => {
  it('keeps the error name and a stack frame but not a message that quotes data (the token)', () => {
    let err: unknown;
    try {
      JSON.parse('{"alg":eyJsecret-token-part');
    } catch (e) {
      err = e;
    }
    const failure = new InternalAuthError(err);
    expect(failure.detail).toMatch(/^SyntaxError \(message withheld: it quotes data\) at /);
    expect(failure.detail).not.toContain('secret-token-part');
  });

  it('describes a non-Error throw by its type', () => {
    expect(new InternalAuthError('boom').detail).toBe('non-Error thrown (string)');
  });
});

describe('LlmAuthConfigError', () => {
  it('names the field in its message', () => {
    const err = new LlmAuthConfigError('jwt.keys[0].secret', 'is required for HS256');
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('LlmAuthConfigError');
    expect(err.message).toBe('llm-auth config jwt.keys[0].secret: is required for HS256');
  });
});
