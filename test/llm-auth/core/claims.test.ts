import { mapClaims, readScopes, type ClaimMapping } from '../../../plugins/llm-auth/core/claims';
import { InvalidCredential } from '../../../plugins/llm-auth/core/errors';

const JWT_MAPPING: ClaimMapping = { consumerClaim: 'sub', consumerFallbacks: [], tenantClaim: 'org', scopeClaims: ['scope', 'scp', 'roles'] };

describe('readScopes', () => {
  it('splits a space-separated scope string', () => {
    expect(readScopes({ scope: 'chat  embeddings' }, ['scope'])).toEqual(['chat', 'embeddings']);
  });

  it('merges string and array claims in order without duplicates', () => {
    expect(readScopes({ scope: 'a b', scp: ['b', 'c'], roles: ['admin', 7, ''] }, ['scope', 'scp', 'roles'])).toEqual(['a', 'b', 'c', 'admin']);
  });

  it('ignores claims of other shapes and inherited members', () => {
    expect(readScopes({ scope: 42, scp: { a: 1 } }, ['scope', 'scp', 'constructor', 'toString'])).toEqual([]);
  });
});

describe('mapClaims', () => {
  it('maps consumer, tenant and scopes', () => {
    expect(mapClaims({ sub: 'alice', org: 'acme', scp: ['chat'] }, JWT_MAPPING)).toEqual({ consumer: 'alice', tenant: 'acme', scopes: ['chat'] });
  });

  it('rejects a missing, empty or non-string consumer', () => {
    for (const sub of [undefined, '', 42, ['alice']]) {
      expect(mapClaims({ sub }, JWT_MAPPING)).toEqual(new InvalidCredential('missing_consumer'));
    }
  });

  it('falls back to the configured members for the consumer', () => {
    const mapping = { ...JWT_MAPPING, consumerFallbacks: ['username', 'client_id'] };
    expect(mapClaims({ client_id: 'app' }, mapping)).toMatchObject({ consumer: 'app' });
    expect(mapClaims({ username: 'bob', client_id: 'app' }, mapping)).toMatchObject({ consumer: 'bob' });
    expect(mapClaims({ sub: 'alice', username: 'bob' }, mapping)).toMatchObject({ consumer: 'alice' });
  });

  it('gives no tenant when the claim is absent or not configured', () => {
    expect(mapClaims({ sub: 'a' }, JWT_MAPPING)).toMatchObject({ tenant: null });
    expect(mapClaims({ sub: 'a', org: 'acme' }, { ...JWT_MAPPING, tenantClaim: null })).toMatchObject({ tenant: null });
  });

  it('rejects a tenant claim that is not a non-empty string', () => {
    expect(mapClaims({ sub: 'a', org: 7 }, JWT_MAPPING)).toEqual(new InvalidCredential('bad_tenant'));
    expect(mapClaims({ sub: 'a', org: '' }, JWT_MAPPING)).toEqual(new InvalidCredential('bad_tenant'));
  });
});
