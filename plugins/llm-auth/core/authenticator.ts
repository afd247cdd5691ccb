/**
 * The llm-auth decision for one credential, built once per plugin instance.
 *
 * Dispatch (schema `methods`): a JWT-shaped credential goes to jwt when enabled; any
 * other to the API keys, then (unless it has our API key prefix) to introspection;
 * what no method accepts is invalid.
 * Verified identities are cached by SHA-256 of the credential, so a known token costs
 * no signature check and no network call; concurrent requests with the same new
 * credential share one verification. Refusals worth remembering (inactive
 * introspection tokens) live in a second, small cache: anyone can make up tokens, so
 * refusals must never compete with verified users for room, or a flood would evict
 * them into fresh verifications (and, for introspection, into `max_concurrent`'s 503).
 */
import type { LlmAuthConfig } from '../schema';
import { API_KEY_PREFIX, ApiKeyStore } from './api-keys';
import { authorize } from './authorize';
import { LruTtlCache } from './cache';
import { looksLikeJwt } from './credential';
import { InternalAuthError, InvalidCredential, LlmAuthConfigError, type Failure } from './errors';
import type { FetchLike } from './http';
import { makeIdentity, sha256, type Clock, type Identity, type Verdict } from './identity';
import { Introspector } from './introspection';
import { JwtVerifier } from './jwt';

export type { Identity } from './identity';

export type AuthResult = { ok: true; identity: Identity; cached: boolean } | { ok: false; failure: Failure };

export interface AuthenticatorDeps {
  now?: Clock;
  fetch?: FetchLike;
}

export class Authenticator {
  private readonly now: Clock;
  private readonly apiKeys: ApiKeyStore | null;
  private readonly jwt: JwtVerifier | null;
  private readonly introspector: Introspector | null;
  /** Verified identities: only credentials someone was issued can get in. */
  private readonly cache: LruTtlCache<Identity>;
  /** Remembered refusals, apart from `cache`: unauthenticated clients choose what goes in. */
  private readonly refused: LruTtlCache<Failure>;
  private readonly cacheTtlMs: number;
  private readonly inflight = new Map<string, Promise<AuthResult>>();
  private readonly requiredScopes: readonly string[];
  private readonly allowedTenants: readonly string[];

  /**
   * Checks the config and precomputes the key store, verifiers and cache.
   * @throws LlmAuthConfigError for a config no request could succeed with (bad key
   *   hashes or key material, jwt without keys or jwks_uri, introspection without
   *   endpoint or audiences, issuer prefixes with consumer ids)
   */
  constructor(config: LlmAuthConfig, deps: AuthenticatorDeps = {}) {
    this.now = deps.now ?? Date.now;
    const methods = new Set(config.methods);
    this.apiKeys = methods.has('api_key') ? new ApiKeyStore(config.api_keys) : null;
    this.jwt = methods.has('jwt') ? new JwtVerifier(config.jwt, deps) : null;
    if (this.jwt !== null && config.consumer_by === 'id' && Object.keys(config.jwt.issuer_prefixes ?? {}).length > 0) {
      // Kong consumer ids are UUIDs: every prefixed one would fail its lookup, per request.
      throw new LlmAuthConfigError('jwt.issuer_prefixes', 'cannot be used with consumer_by "id" (a prefixed value is no consumer id)');
    }
    this.introspector = methods.has('oauth2_introspection') ? new Introspector(config.introspection, deps) : null;
    this.cache = new LruTtlCache(config.cache_size);
    this.refused = new LruTtlCache(config.negative_cache_size);
    this.cacheTtlMs = config.cache_ttl * 1000;
    this.requiredScopes = config.required_scopes;
    this.allowedTenants = config.allowed_tenants;
  }

  /**
   * Authenticates one credential (as `extractCredential` found it). Never throws: bad
   * input is a failure, and an unexpected exception becomes an `internal` failure.
   * Successes and verdicts that say how long they hold (inactive introspection
   * answers) are cached, each in its own cache; `unavailable` never.
   */
  async authenticate(credential: string): Promise<AuthResult> {
    try {
      const digest = sha256(credential);
      const key = digest.toString('hex');
      const now = this.now();
      const known = this.cache.get(key, now);
      if (known !== undefined) return { ok: true, identity: known, cached: true };
      const refusal = this.refused.get(key, now);
      if (refusal !== undefined) return { ok: false, failure: refusal };

      const { jwt, introspector } = this;
      if (jwt !== null && looksLikeJwt(credential)) return await this.remember(key, () => jwt.verify(credential));
      const apiKey = this.apiKeys?.lookupDigest(digest) ?? null;
      if (apiKey !== null) {
        // Not cached: the store lookup is the same digest and Map.get a cache hit costs,
        // so caching keys would only evict tokens whose verification is expensive.
        const identity = makeIdentity({
          consumer: apiKey.consumer,
          tenant: apiKey.tenant,
          credential_id: apiKey.id,
          scopes: [...apiKey.scopes],
          auth_method: 'api_key',
          expiresAt: null,
        });
        return { ok: true, identity, cached: false };
      }
      // An unknown key of ours is never shown to the (third-party) authorization server.
      if (introspector !== null && !credential.startsWith(API_KEY_PREFIX)) {
        return await this.remember(key, () => introspector.introspect(credential));
      }
      return { ok: false, failure: new InvalidCredential(this.apiKeys !== null ? 'unknown_api_key' : 'no_method_accepts_credential') };
    } catch (err) {
      return { ok: false, failure: new InternalAuthError(err) };
    }
  }

  /** `authorize` with this instance's `required_scopes` and `allowed_tenants`. */
  authorize(identity: Identity): Failure | null {
    return authorize(identity, this.requiredScopes, this.allowedTenants);
  }

  /**
   * Runs a verification once per credential at a time and caches its verdict until
   * the earliest of the verifier's `cacheUntil` (the credential's expiry, or the
   * introspection TTLs) and `cache_ttl`.
   */
  private remember(key: string, verify: () => Promise<Verdict>): Promise<AuthResult> {
    const pending = this.inflight.get(key);
    if (pending !== undefined) return pending;
    const run = this.verifyAndCache(key, verify);
    this.inflight.set(key, run);
    // Removed after settling (run never rejects), so a later request verifies afresh.
    void run.then(() => this.inflight.delete(key));
    return run;
  }

  private async verifyAndCache(key: string, verify: () => Promise<Verdict>): Promise<AuthResult> {
    try {
      const verdict = await verify();
      if (verdict.cacheUntil !== null) {
        const now = this.now();
        const until = Math.min(verdict.cacheUntil, now + this.cacheTtlMs);
        if (until > now) {
          if (verdict.ok) this.cache.set(key, verdict.identity, until);
          else this.refused.set(key, verdict.failure, until);
        }
      }
      return verdict.ok ? { ok: true, identity: verdict.identity, cached: false } : { ok: false, failure: verdict.failure };
    } catch (err) {
      return { ok: false, failure: new InternalAuthError(err) };
    }
  }
}
