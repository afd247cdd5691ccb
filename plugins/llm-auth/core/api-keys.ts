/**
 * API keys, stored only as SHA-256 hashes.
 *
 * A fast hash is right here: our keys are 256-bit random strings (as GitHub's and
 * Stripe's tokens are), so no dictionary or brute force can reach one from its hash,
 * and a lookup costs one SHA-256 instead of the ~100 ms a password hash would add to
 * every request. Slow, salted hashes (scrypt, Argon2) exist for low-entropy, human-chosen
 * passwords; they add nothing for keys nobody can guess.
 */
import { timingSafeEqual } from 'node:crypto';
import type { ApiKeyConfig } from '../schema';
import { LlmAuthConfigError } from './errors';
import { sha256 } from './identity';

export const KEY_HASH_PREFIX = 'sha256:';
/**
 * Prefix of the keys `npm run keygen` makes: recognisable to people and to secret
 * scanners (like OpenAI's `sk-`), and to the authenticator, which never sends one to a
 * third-party introspection endpoint.
 */
export const API_KEY_PREFIX = 'sk-llm-';
const KEY_HASH_FORMAT = /^sha256:[0-9a-f]{64}$/;

/** `"sha256:<64 lower-case hex>"` of the key's UTF-8 bytes, as `config.api_keys[].key_hash` stores it. */
export function hashApiKey(key: string): string {
  return KEY_HASH_PREFIX + sha256(key).toString('hex');
}

interface StoredKey {
  digest: Buffer;
  config: ApiKeyConfig;
}

/** The configured API keys, indexed once by digest. */
export class ApiKeyStore {
  private readonly byDigest = new Map<string, StoredKey>();

  /** @throws LlmAuthConfigError on a malformed key_hash or a duplicate id or hash */
  constructor(apiKeys: readonly ApiKeyConfig[]) {
    const ids = new Set<string>();
    apiKeys.forEach((config, i) => {
      const field = `api_keys[${i}]`;
      if (!KEY_HASH_FORMAT.test(config.key_hash)) {
        throw new LlmAuthConfigError(`${field}.key_hash`, 'must be "sha256:" followed by 64 lower-case hex characters (npm run keygen prints it)');
      }
      if (ids.has(config.id)) throw new LlmAuthConfigError(`${field}.id`, `duplicate id "${config.id}"`);
      ids.add(config.id);
      const hex = config.key_hash.slice(KEY_HASH_PREFIX.length);
      if (this.byDigest.has(hex)) {
        throw new LlmAuthConfigError(`${field}.key_hash`, `same key as id "${this.byDigest.get(hex)!.config.id}"`);
      }
      this.byDigest.set(hex, { digest: Buffer.from(hex, 'hex'), config });
    });
  }

  get size(): number {
    return this.byDigest.size;
  }

  /** The key's config, or null when no configured key has this value. */
  lookup(presented: string): ApiKeyConfig | null {
    return this.lookupDigest(sha256(presented));
  }

  /**
   * Lookup by a precomputed SHA-256 digest (the authenticator already has it as its
   * cache key). The Map lookup compares digests, not keys: its timing can only reveal
   * how a SHA-256 output compares to stored ones, which an attacker cannot steer
   * towards a stored value. The match is still confirmed in constant time.
   */
  lookupDigest(digest: Buffer): ApiKeyConfig | null {
    const stored = this.byDigest.get(digest.toString('hex'));
    if (!stored || !timingSafeEqual(stored.digest, digest)) return null;
    return stored.config;
  }
}
