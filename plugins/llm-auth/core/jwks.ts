/**
 * JWKS (RFC 7517 §5) signing keys fetched from an identity provider, with caching
 * that survives the provider: keys are reused for `jwks_cache_ttl`, refetched on an
 * unknown kid at most once per `jwks_refetch_interval` counted from the end of the
 * last attempt (so random kids cannot hammer the IdP), fetched by one request at a
 * time (concurrent callers share it), and the last good set keeps serving while the
 * IdP is down: at most MAX_STALE_MS past its TTL, and an unknown kid meanwhile is an
 * outage (503), not a bad token.
 *
 * A token whose kid the last good set has never waits for the IdP: when that set is
 * due for a refresh, the refresh runs in the background and the token is verified
 * with the set it would have been verified with anyway. Only a token the set cannot
 * answer (an unknown kid, or no servable set at all) waits for a fetch.
 *
 * Providers live at module level, one per URL and settings: Kong creates a plugin
 * instance per config, and a config change must not throw the keys away.
 */
import { createPublicKey } from 'node:crypto';
import type { JwtConfig } from '../schema';
import { LlmAuthConfigError } from './errors';
import { defaultFetch, fetchJson, isHttpUrl, type FetchLike } from './http';
import type { Clock } from './identity';
import { isJsonObject } from './jose';
import { algorithmsForPublicKey, type VerificationKey } from './jwt-keys';

export type JwksSettings = Pick<JwtConfig, 'jwks_cache_ttl' | 'jwks_refetch_interval' | 'jwks_timeout_ms'>;

export interface JwksDeps {
  fetch?: FetchLike;
  now?: Clock;
}

export interface JwksKeySet {
  byKid: ReadonlyMap<string, readonly VerificationKey[]>;
  withoutKid: readonly VerificationKey[];
  all: readonly VerificationKey[];
}

/** `stale`: the last fetch attempt failed; these are the last good keys. */
export type JwksResult = { ok: true; keys: JwksKeySet; stale: boolean } | { ok: false; reason: string };

/**
 * How long past its TTL the last good key set is served while the JWKS cannot be fetched. Long
 * enough to ride out an identity provider outage; bounded, because a key removed
 * from the set (revoked) keeps verifying for as long as the stale set is used.
 */
export const MAX_STALE_MS = 60 * 60 * 1000;

/** A JWK Set is a few KiB; 1 MiB is far past any real one. */
const MAX_JWKS_BYTES = 1024 * 1024;
/** Keys read from one JWK Set; the rest are ignored. */
const MAX_JWKS_KEYS = 100;
/**
 * With nothing cached, every request fails anyway; retrying at most once a second
 * recovers quickly without hammering a failing IdP at request rate.
 */
const RETRY_WHEN_EMPTY_MS = 1000;
const JWKS_ACCEPT = 'application/jwk-set+json, application/json';

/** The public members of each key type (RFC 7518 §6); private members are dropped. */
const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['n', 'e'],
  EC: ['crv', 'x', 'y'],
  OKP: ['crv', 'x'],
};

/**
 * One JWK as a pinned verification key, or null when it is not a usable signing key:
 * `use` other than "sig", `key_ops` without "verify", `oct` (never HMAC from a JWKS:
 * the IdP would be publishing the shared secret) or another unsupported kty, key
 * material Node rejects, or an `alg` the key does not fit.
 */
function toVerificationKey(jwk: unknown): VerificationKey | null {
  if (!isJsonObject(jwk)) return null;
  if (jwk.use !== undefined && jwk.use !== 'sig') return null;
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) return null;
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') return null;
  const members = typeof jwk.kty === 'string' ? PUBLIC_MEMBERS[jwk.kty] : undefined;
  if (!members) return null;
  const publicJwk: Record<string, unknown> = { kty: jwk.kty };
  for (const member of members) {
    if (typeof jwk[member] !== 'string') return null;
    publicJwk[member] = jwk[member];
  }
  let key;
  try {
    key = createPublicKey({ key: publicJwk, format: 'jwk' });
  } catch {
    return null;
  }
  // RFC 7517 §4.4: "alg" names the one algorithm intended for the key; without it the
  // key type and curve decide (an RSA key fits RS* and PS*, an EC key its curve's ES*).
  const fitting = algorithmsForPublicKey(key);
  const algorithms = jwk.alg === undefined ? fitting : fitting.filter((alg) => alg === jwk.alg);
  if (algorithms.length === 0) return null;
  return { kid: typeof jwk.kid === 'string' ? jwk.kid : null, algorithms, key, source: 'jwks' };
}

/** Parses a JWK Set; a set with no usable signing key counts as a failed fetch. */
export function parseJwks(body: unknown): JwksKeySet | string {
  if (!isJsonObject(body) || !Array.isArray(body.keys)) return 'not a JWK Set';
  const byKid = new Map<string, VerificationKey[]>();
  const withoutKid: VerificationKey[] = [];
  const all: VerificationKey[] = [];
  for (const jwk of body.keys.slice(0, MAX_JWKS_KEYS)) {
    const key = toVerificationKey(jwk);
    if (key === null) continue;
    all.push(key);
    if (key.kid === null) withoutKid.push(key);
    else byKid.set(key.kid, [...(byKid.get(key.kid) ?? []), key]);
  }
  return all.length === 0 ? 'no usable signing key in the JWK Set' : { byKid, withoutKid, all };
}

export class JwksProvider {
  private readonly fetch: FetchLike;
  private readonly now: Clock;
  private readonly ttlMs: number;
  private readonly refetchMs: number;
  private readonly timeoutMs: number;

  private keys: JwksKeySet | null = null;
  private fetchedAt = -Infinity;
  /** When the last fetch attempt ENDED: a slow attempt must not use up its own back-off. */
  private attemptEndedAt = -Infinity;
  private lastFailure: string | null = null;
  private inflight: Promise<void> | null = null;

  /** @throws LlmAuthConfigError when `uri` is not an http(s) URL */
  constructor(
    readonly uri: string,
    settings: JwksSettings,
    deps: JwksDeps = {},
  ) {
    if (!isHttpUrl(uri)) throw new LlmAuthConfigError('jwt.jwks_uri', 'must be an https:// URL (http:// only to this host)');
    this.fetch = deps.fetch ?? defaultFetch;
    this.now = deps.now ?? Date.now;
    this.ttlMs = settings.jwks_cache_ttl * 1000;
    this.refetchMs = settings.jwks_refetch_interval * 1000;
    this.timeoutMs = settings.jwks_timeout_ms;
  }

  /**
   * The current key set for a token with this `kid` (null: no kid). A set within its
   * TTL, or past it but still servable, answers a kid it has at once; when it is due
   * (TTL over, or the last attempt failed and the refetch interval has passed since it
   * ended) one refresh starts in the background. An unknown kid waits for a refetch,
   * at most one per refetch interval (key rotation without restart). With no servable
   * set, callers wait for a fetch, retried at most once a second while it fails; if
   * it fails, the result is `{ ok: false }` (→ unavailable).
   */
  async getKeySet(kid: string | null): Promise<JwksResult> {
    const now = this.now();
    const age = now - this.fetchedAt;
    const sinceAttempt = now - this.attemptEndedAt;
    // Past TTL + MAX_STALE_MS a set is never served without asking the IdP first: a
    // key removed from it (revoked) would otherwise keep verifying.
    if (this.keys !== null && age <= this.ttlMs + MAX_STALE_MS) {
      // Past the TTL a refresh is due at once after a success, and once per refetch
      // interval while fetches fail; within it, only an unknown kid asks the IdP.
      const due = age >= this.ttlMs && (this.lastFailure === null || sinceAttempt >= this.refetchMs);
      if (kid === null || this.keys.byKid.has(kid)) {
        if (due) this.refreshInBackground();
        return this.current();
      }
      // A refresh already running may bring the kid: wait for it rather than answer "unknown".
      if (this.inflight === null && !due && sinceAttempt < this.refetchMs) return this.current();
    } else if (this.inflight === null && this.lastFailure !== null && sinceAttempt < Math.min(this.refetchMs, RETRY_WHEN_EMPTY_MS)) {
      // Nothing servable: every request fails anyway, so retry soon but not at request rate.
      return this.current();
    }
    await this.refresh();
    return this.current();
  }

  private refreshInBackground(): void {
    // load() records its own failures; nothing is left for a caller to handle.
    this.refresh().catch(() => undefined);
  }

  private current(): JwksResult {
    if (this.keys === null) return { ok: false, reason: this.lastFailure ?? 'no keys fetched' };
    // A set within its TTL is good whatever a refetch did; past it, the last good set
    // serves for MAX_STALE_MS more while fetches fail.
    const failing = this.lastFailure !== null;
    if (failing && this.now() - this.fetchedAt > this.ttlMs + MAX_STALE_MS) {
      return { ok: false, reason: `${this.lastFailure} (last good key set too old)` };
    }
    return { ok: true, keys: this.keys, stale: failing };
  }

  /** One fetch at a time: concurrent callers await the same one. */
  private refresh(): Promise<void> {
    this.inflight ??= this.load().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async load(): Promise<void> {
    try {
      const res = await fetchJson(
        this.fetch,
        this.uri,
        // A redirect could lead to a host jwks_uri itself may not name (plain http
        // elsewhere, an attacker's server): its keys would then be trusted. Refused, as
        // introspection refuses it; point jwks_uri at the final URL instead.
        { headers: { accept: JWKS_ACCEPT }, redirect: 'error' },
        { timeoutMs: this.timeoutMs, maxBytes: MAX_JWKS_BYTES },
      );
      const parsed = res.ok ? parseJwks(res.body) : res.reason;
      if (typeof parsed === 'string') {
        this.lastFailure = parsed;
        return;
      }
      this.keys = parsed;
      this.fetchedAt = this.now();
      this.lastFailure = null;
    } catch {
      // A background refresh has no caller to report to; the next one reads this.
      this.lastFailure = 'unexpected error';
    } finally {
      this.attemptEndedAt = this.now();
    }
  }
}

const registry = new WeakMap<FetchLike, WeakMap<Clock, Map<string, JwksProvider>>>();

/**
 * The module-level provider for this URL and settings (and injected fetch/clock),
 * created on first use: every plugin instance with the same JWKS shares its keys,
 * its cache and its refetch budget.
 * @throws LlmAuthConfigError when `uri` is not an http(s) URL
 */
export function getJwksProvider(uri: string, settings: JwksSettings, deps: JwksDeps = {}): JwksProvider {
  const fetchFn = deps.fetch ?? defaultFetch;
  const now = deps.now ?? Date.now;
  let byClock = registry.get(fetchFn);
  if (!byClock) registry.set(fetchFn, (byClock = new WeakMap()));
  let providers = byClock.get(now);
  if (!providers) byClock.set(now, (providers = new Map()));
  const key = JSON.stringify([uri, settings.jwks_cache_ttl, settings.jwks_refetch_interval, settings.jwks_timeout_ms]);
  let provider = providers.get(key);
  if (!provider) {
    provider = new JwksProvider(uri, settings, { fetch: fetchFn, now });
    providers.set(key, provider);
  }
  return provider;
}
