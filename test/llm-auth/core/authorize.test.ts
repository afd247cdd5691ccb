import { authorize } from '../../../plugins/llm-auth/core/authorize';
import { InsufficientScope, TenantNotAllowed } from '../../../plugins/llm-auth/core/errors';

describe('authorize', () => {
  const identity = { scopes: ['chat', 'embeddings'], tenant: 'acme' };

  it('allows an identity holding every required scope', () => {
    expect(authorize(identity, ['chat', 'embeddings'], [])).toBeNull();
    expect(authorize(identity, [], [])).toBeNull();
  });

  it('rejects an identity missing a required scope, naming the missing ones', () => {
    const failure = authorize(identity, ['chat', 'admin', 'audit'], []);
    expect(failure).toBeInstanceOf(InsufficientScope);
    expect(failure).toMatchObject({ kind: 'insufficient_scope', required: ['chat', 'admin', 'audit'], missing: ['admin', 'audit'] });
  });

  it('allows a tenant in the allow list', () => {
    expect(authorize(identity, [], ['other', 'acme'])).toBeNull();
  });

  it('rejects a tenant outside a non-empty allow list', () => {
    expect(authorize(identity, [], ['other'])).toEqual(new TenantNotAllowed('acme'));
  });

  it('rejects an identity without tenant when the allow list is not empty', () => {
    expect(authorize({ scopes: [], tenant: null }, [], ['acme'])).toMatchObject({ kind: 'tenant_not_allowed', tenant: null });
  });

  it('checks the tenant before the scopes', () => {
    expect(authorize({ scopes: [], tenant: 'evil' }, ['admin'], ['acme'])).toBeInstanceOf(TenantNotAllowed);
  });
});
