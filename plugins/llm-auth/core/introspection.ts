/**
 * OAuth 2.0 Token Introspection (RFC 7662) client for opaque tokens.
 *
 * "active" only says the authorization server issued the token and has not revoked
 * it, to whichever of its clients; so an active token must also name this gateway in
 * `aud`, come from an accepted `iss`, be an access token (not e.g. a refresh token)
 * and be within its `nbf`/`exp` (RFC 7662 §4: the resource server decides whether
 * the token is good for it).
 *
 * The verdict says how long it may be reused: an active token until the earlier of
 * `cache_ttl` and its `exp`; an inactive one, or one for another audience, issuer or
 * token type, for `negative_cache_ttl`; an unreachable or misbehaving endpoint never
 * (→ 503, retried on the next request). The caches themselves are the
 * authenticator's, keyed by SHA-256 of the token.
 */
import type { IntrospectionConfig } from '../schema';
import { audienceMatches, mapClaims, type ClaimMapping } from './claims';
import {
  AuthProviderUnavailable,
  ExpiredCredential,
  InvalidCredential,
  LlmAuthConfigError,
  NotYetValidCredential,
  type InvalidReason,
} from './errors';
import { defaultFetch, fetchJson, isHttpUrl, type FetchLike } from './http';
import { makeIdentity, tokenCredentialId, type Clock, type Verdict } from './identity';
import { isJsonObject } from './jose';

/** An introspection response is a small JSON object. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** RFC 7662 §2.2: `scope` is a space-separated string. */
const SCOPE_MEMBER = 'scope';
/** Members tried when `consumer_claim` is absent: RFC 7662 §2.2 `username`, then `client_id`. */
const CONSUMER_FALLBACKS = ['username', 'client_id'] as const;
/**
 * `token_type` values of an access token, compared lower-cased: RFC 6749 §7.1 types
 * ("bearer", case-insensitive) and the RFC 7009 hint name some servers put there. An
 * absent `token_type` (it is OPTIONAL, §2.2) is accepted; any other value, e.g.
 * "refresh_token", is not a token to call an API with.
 */
const ACCESS_TOKEN_TYPES: ReadonlySet<string> = new Set(['access_token', 'bearer']);

export interface IntrospectorDeps {
  now?: Clock;
  fetch?: FetchLike;
}

/**
 * RFC 6749 §2.3.1: client_id and client_secret are form-urlencoded before they are
 * joined for HTTP Basic (RFC 7617).
 */
function basicAuthorization(clientId: string, clientSecret: string): string {
  const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
  return `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`;
}

export class Introspector {
  private readonly endpoint: string;
  private readonly headers: Record<string, string>;
  private readonly tokenTypeHint: string | null;
  private readonly timeoutMs: number;
  private readonly cacheTtlMs: number;
  private readonly negativeCacheTtlMs: number;
  private readonly mapping: ClaimMapping;
  private readonly now: Clock;
  private readonly fetch: FetchLike;
  private readonly maxConcurrent: number;
  private readonly audiences: ReadonlySet<string>;
  private readonly issuers: ReadonlySet<string>;
  private readonly skewSeconds: number;
  private inFlight = 0;

  /**
   * @throws LlmAuthConfigError without an http(s) endpoint, without audiences, or with
   *   only one of client_id/client_secret
   */
  constructor(config: IntrospectionConfig, deps: IntrospectorDeps = {}) {
    if (config.endpoint === null || !isHttpUrl(config.endpoint)) {
      throw new LlmAuthConfigError('introspection.endpoint', 'oauth2_introspection needs an http:// or https:// endpoint');
    }
    if (config.audiences.length === 0) {
      // The authorization server answers active for a token it issued to any of its
      // clients; without an audience check, any of them would spend our OpenAI key.
      throw new LlmAuthConfigError('introspection.audiences', "must name this gateway's audience when an endpoint is set");
    }
    if ((config.client_id === null) !== (config.client_secret === null)) {
      throw new LlmAuthConfigError('introspection', 'set both client_id and client_secret, or neither');
    }
    this.endpoint = config.endpoint;
    this.headers = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      ...(config.client_id !== null && config.client_secret !== null
        ? { authorization: basicAuthorization(config.client_id, config.client_secret) }
        : {}),
    };
    this.tokenTypeHint = config.token_type_hint || null; // '' sends no hint (RFC 7662 §2.1: OPTIONAL)
    this.timeoutMs = config.timeout_ms;
    this.cacheTtlMs = config.cache_ttl * 1000;
    this.negativeCacheTtlMs = config.negative_cache_ttl * 1000;
    this.mapping = {
      consumerClaim: config.consumer_claim,
      consumerFallbacks: CONSUMER_FALLBACKS,
      tenantClaim: config.tenant_claim,
      scopeClaims: [SCOPE_MEMBER],
    };
    this.now = deps.now ?? Date.now;
    this.fetch = deps.fetch ?? defaultFetch;
    this.maxConcurrent = config.max_concurrent;
    this.audiences = new Set(config.audiences);
    this.issuers = new Set(config.issuers);
    this.skewSeconds = config.clock_skew_seconds;
  }

  /**
   * Asks the authorization server whether the token is active (RFC 7662 §2.1) and
   * maps an active token's response to an identity. Never throws.
   */
  async introspect(token: string): Promise<Verdict> {
    // Unknown tokens cost a call each; unauthenticated clients control how many
    // arrive, so the calls in flight are capped (known tokens are answered from cache).
    if (this.inFlight >= this.maxConcurrent) {
      return { ok: false, failure: new AuthProviderUnavailable('introspection', 'too many introspection requests in flight'), cacheUntil: null };
    }
    this.inFlight++;
    try {
      return await this.ask(token);
    } finally {
      this.inFlight--;
    }
  }

  private async ask(token: string): Promise<Verdict> {
    const form = new URLSearchParams({ token });
    if (this.tokenTypeHint !== null) form.set('token_type_hint', this.tokenTypeHint);
    const res = await fetchJson(
      this.fetch,
      this.endpoint,
      // The token is in the body: a redirect could carry it to another host.
      { method: 'POST', headers: this.headers, body: form.toString(), redirect: 'error' },
      { timeoutMs: this.timeoutMs, maxBytes: MAX_RESPONSE_BYTES },
    );
    if (!res.ok) return { ok: false, failure: new AuthProviderUnavailable('introspection', res.reason), cacheUntil: null };
    const body = res.body;
    // §2.2: "active" is REQUIRED and boolean; a response without it is not an answer.
    if (!isJsonObject(body) || typeof body.active !== 'boolean') {
      return { ok: false, failure: new AuthProviderUnavailable('introspection', 'response is not an introspection response'), cacheUntil: null };
    }
    const now = this.now();
    // Refusals the server's answer settles for good are remembered like an inactive token.
    const refused = (reason: InvalidReason): Verdict => ({ ok: false, failure: new InvalidCredential(reason), cacheUntil: now + this.negativeCacheTtlMs });
    if (!body.active) return refused('inactive');
    const { token_type: tokenType, iss, aud, exp, nbf } = body;
    if (tokenType !== undefined && !(typeof tokenType === 'string' && ACCESS_TOKEN_TYPES.has(tokenType.toLowerCase()))) {
      return refused('token_type_not_allowed');
    }
    if (this.issuers.size > 0 && !(typeof iss === 'string' && this.issuers.has(iss))) return refused('issuer_not_allowed');
    if (!audienceMatches(aud, this.audiences)) return refused('audience_not_allowed');
    if ((exp !== undefined && typeof exp !== 'number') || (nbf !== undefined && typeof nbf !== 'number')) {
      return { ok: false, failure: new InvalidCredential('bad_claims'), cacheUntil: null };
    }
    // As for JWTs (RFC 7519 §4.1.4-5), with the same leeway for clocks that differ.
    const nowSeconds = Math.floor(now / 1000);
    if (exp !== undefined && nowSeconds >= exp + this.skewSeconds) return { ok: false, failure: new ExpiredCredential(), cacheUntil: null };
    if (nbf !== undefined && nowSeconds + this.skewSeconds < nbf) return { ok: false, failure: new NotYetValidCredential(), cacheUntil: null };

    const mapped = mapClaims(body, this.mapping);
    if (mapped instanceof InvalidCredential) return { ok: false, failure: mapped, cacheUntil: null };
    const expiresAt = exp === undefined ? null : exp * 1000;
    const identity = makeIdentity({
      ...mapped,
      credential_id: tokenCredentialId('oauth2', token),
      auth_method: 'oauth2_introspection',
      expiresAt,
    });
    return { ok: true, identity, cacheUntil: Math.min(now + this.cacheTtlMs, expiresAt ?? Infinity) };
  }
}
