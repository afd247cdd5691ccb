import crypto from 'node:crypto';
import { ApiKeyStore, hashApiKey } from '../../../plugins/llm-auth/core/api-keys';
import { LlmAuthConfigError } from '../../../plugins/llm-auth/core/errors';
import type { ApiKeyConfig } from '../../../plugins/llm-auth/schema';

const entry = (id: string, key: string, extra: Partial<ApiKeyConfig> = {}): ApiKeyConfig => ({
  id,
  key_hash: hashApiKey(key),
  consumer: `consumer-${id}`,
  tenant: null,
  scopes: [],
  ...extra,
});

describe('hashApiKey', () => {
  it('returns "sha256:" and the lower-case hex SHA-256 of the key', () => {
    expect(hashApiKey('abc')).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('ApiKeyStore', () => {
  it('finds a configured key by its value', () => {
    const store = new ApiKeyStore([entry('a', 'sk-llm-aaa', { tenant: 'acme', scopes: ['chat'] }), entry('b', 'sk-llm-bbb')]);
    expect(store.lookup('sk-llm-aaa')).toMatchObject({ id: 'a', consumer: 'consumer-a', tenant: 'acme', scopes: ['chat'] });
    expect(store.lookup('sk-llm-bbb')).toMatchObject({ id: 'b' });
    expect(store.size).toBe(2);
  });

  it('returns null for an unknown key', () => {
    expect(new ApiKeyStore([entry('a', 'sk-llm-aaa')]).lookup('sk-llm-zzz')).toBeNull();
  });

  it('confirms a match with a constant-time comparison of the digests', () => {
    const spy = jest.spyOn(crypto, 'timingSafeEqual');
    try {
      const store = new ApiKeyStore([entry('a', 'sk-llm-aaa')]);
      store.lookup('sk-llm-aaa');
      expect(spy).toHaveBeenCalledTimes(1);
      const [stored, presented] = spy.mock.calls[0] as [Buffer, Buffer];
      expect(stored.toString('hex')).toBe(hashApiKey('sk-llm-aaa').slice(7));
      expect(presented).toHaveLength(32);
    } finally {
      spy.mockRestore();
    }
  });

  it('looks up by a precomputed digest', () => {
    const store = new ApiKeyStore([entry('a', 'sk-llm-aaa')]);
    const digest = crypto.createHash('sha256').update('sk-llm-aaa').digest();
    expect(store.lookupDigest(digest)).toMatchObject({ id: 'a' });
  });

  it.each([
    ['a wrong prefix', 'sha1:' + 'a'.repeat(64)],
    ['upper-case hex', 'sha256:' + 'A'.repeat(64)],
    ['a short digest', 'sha256:' + 'a'.repeat(63)],
    ['the raw key', 'sk-llm-aaa'],
  ])('rejects a key_hash with %s at construction', (_label, keyHash) => {
    expect(() => new ApiKeyStore([{ ...entry('a', 'x'), key_hash: keyHash }])).toThrow(LlmAuthConfigError);
    expect(() => new ApiKeyStore([{ ...entry('a', 'x'), key_hash: keyHash }])).toThrow('api_keys[0].key_hash');
  });

  it('rejects duplicate ids', () => {
    expect(() => new ApiKeyStore([entry('a', 'k1'), entry('a', 'k2')])).toThrow(/api_keys\[1\]\.id.*duplicate id "a"/);
  });

  it('rejects the same key configured twice under different ids', () => {
    expect(() => new ApiKeyStore([entry('a', 'k1'), entry('b', 'k1')])).toThrow(/same key as id "a"/);
  });
});
