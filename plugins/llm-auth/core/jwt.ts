/**
 * JWT (RFC 7519) verification against keys pinned to algorithms: static keys from
 * `config.jwt.keys` and keys from the JWKS provider.
 *
 * Signatures are checked by jsonwebtoken (`algorithms: [pinnedAlg]`) for HS*, RS*, PS*
 * and ES*. jsonwebtoken 9 (jwa 2) has no EdDSA, so EdDSA signatures are checked with
 * node:crypto as RFC 8037 §3.1 specifies. The registered claims (exp, nbf, iss, aud)
 * are then checked here, once, for every algorithm alike, against the injected clock;
 * jsonwebtoken's own time checks are off so the two cannot disagree.
 */
import { verify as verifyDetached, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { JWT_ALGORITHMS, type JwtAlgorithm, type JwtConfig } from '../schema';
import { audienceMatches, mapClaims, type ClaimMapping } from './claims';
import {
  AuthProviderUnavailable,
  ExpiredCredential,
  InvalidCredential,
  LlmAuthConfigError,
  NotYetValidCredential,
  type InvalidReason,
} from './errors';
import type { FetchLike } from './http';
import { makeIdentity, tokenCredentialId, type Clock, type Verdict } from './identity';
import { decodeJsonSegment, isJsonObject, parseCompactJws, type CompactJws } from './jose';
import { getJwksProvider, type JwksProvider } from './jwks';
import { buildStaticKey, isHmac, type VerificationKey } from './jwt-keys';

/**
 * Keys tried for one token without a kid. Each try is a signature verification; the
 * bound keeps a flood of kid-less tokens from costing a verification per known key.
 */
const MAX_KEYS_TRIED = 5;
const SUPPORTED_ALGORITHMS: ReadonlySet<string> = new Set(JWT_ALGORITHMS);

export interface JwtVerifierDeps {
  now?: Clock;
  fetch?: FetchLike;
}

const invalid = (reason: InvalidReason): Verdict => ({ ok: false, failure: new InvalidCredential(reason), cacheUntil: null });

export class JwtVerifier {
  private readonly staticByKid = new Map<string, VerificationKey[]>();
  private readonly staticWithoutKid: VerificationKey[] = [];
  private readonly staticAll: VerificationKey[] = [];
  private readonly jwks: JwksProvider | null;
  private readonly jwksAlgorithms: ReadonlySet<string>;
  private readonly issuers: ReadonlySet<string>;
  private readonly audiences: ReadonlySet<string>;
  /** Consumer-name prefix by issuer; null: consumers are the claim alone (one issuer). */
  private readonly issuerPrefixes: ReadonlyMap<string, string> | null;
  private readonly skewSeconds: number;
  private readonly requireExp: boolean;
  private readonly mapping: ClaimMapping;
  private readonly now: Clock;

  /**
   * Builds and checks every key once.
   * @throws LlmAuthConfigError for key material that does not fit its algorithm, a
   *   duplicate kid, HS* in jwks_algorithms, or neither keys nor jwks_uri
   */
  constructor(config: JwtConfig, deps: JwtVerifierDeps = {}) {
    this.now = deps.now ?? Date.now;
    config.keys.forEach((keyConfig, i) => {
      const key = buildStaticKey(keyConfig, `jwt.keys[${i}]`);
      this.staticAll.push(key);
      if (key.kid === null) {
        this.staticWithoutKid.push(key);
      } else {
        if (this.staticByKid.has(key.kid)) throw new LlmAuthConfigError(`jwt.keys[${i}].kid`, `duplicate kid "${key.kid}"`);
        this.staticByKid.set(key.kid, [key]);
      }
    });
    for (const alg of config.jwks_algorithms) {
      if (isHmac(alg)) {
        throw new LlmAuthConfigError('jwt.jwks_algorithms', `must not include ${alg}: a JWKS publishes public keys, never shared secrets`);
      }
    }
    this.jwksAlgorithms = new Set(config.jwks_algorithms);
    this.jwks = config.jwks_uri !== null ? getJwksProvider(config.jwks_uri, config, deps) : null;
    if (this.staticAll.length === 0 && this.jwks === null) {
      throw new LlmAuthConfigError('jwt', 'jwt is enabled in methods but has neither keys nor jwks_uri');
    }
    if (this.jwks !== null && (config.issuers.length === 0 || config.audiences.length === 0)) {
      // An identity provider signs tokens for every client and app it serves: without
      // an issuer and an audience check, any of them would be accepted here.
      throw new LlmAuthConfigError(
        config.issuers.length === 0 ? 'jwt.issuers' : 'jwt.audiences',
        'must name the accepted issuer and this gateway\'s audience when jwks_uri is set',
      );
    }
    this.issuers = new Set(config.issuers);
    this.audiences = new Set(config.audiences);
    this.issuerPrefixes = checkIssuerPrefixes(config);
    this.skewSeconds = config.clock_skew_seconds;
    this.requireExp = config.require_exp;
    this.mapping = {
      consumerClaim: config.consumer_claim,
      consumerFallbacks: [],
      tenantClaim: config.tenant_claim,
      scopeClaims: config.scope_claims,
    };
  }

  /**
   * Verifies a compact JWS token and maps its claims to an identity.
   *
   * Key choice: a token with a kid uses the static key with that kid, else the JWKS
   * keys with it (an unknown kid may trigger a rate-limited JWKS refetch). A token
   * without kid uses the kid-less keys, or every key when there is none, trying those
   * pinned to the header's alg. The header alg must be one the chosen key is pinned to
   * before any signature check, so `alg: none` and HS256-signed-with-the-RSA-public-key
   * tokens fail without reaching the library.
   *
   * Never throws for bad input; `cacheUntil` of a success is the token's expiry.
   */
  async verify(token: string): Promise<Verdict> {
    const jws = parseCompactJws(token);
    if (jws === null) return invalid('malformed_token');
    const { alg, kid, crit } = jws.header;
    if (typeof alg !== 'string' || (kid !== undefined && typeof kid !== 'string')) return invalid('malformed_token');
    // RFC 7518 §3.6 unsecured JWS; the case-insensitive compare also catches "None".
    if (alg.toLowerCase() === 'none') return invalid('alg_none');
    if (!SUPPORTED_ALGORITHMS.has(alg)) return invalid('alg_unsupported');
    // RFC 7515 §4.1.11: a recipient must reject extensions in "crit" it does not understand; we understand none.
    if (crit !== undefined) return invalid('crit_unsupported');

    const pool = await this.keysFor(kid ?? null);
    if (pool instanceof AuthProviderUnavailable) return { ok: false, failure: pool, cacheUntil: null };
    if (pool.length === 0) return invalid(kid === undefined ? 'no_matching_key' : 'unknown_kid');
    const candidates = pool
      .filter((k) => k.algorithms.includes(alg as JwtAlgorithm) && (k.source === 'static' || this.jwksAlgorithms.has(alg)))
      .slice(0, MAX_KEYS_TRIED);
    if (candidates.length === 0) return invalid('alg_mismatch');

    for (const candidate of candidates) {
      const verified = verifySignature(token, jws, alg as JwtAlgorithm, candidate.key);
      if (verified !== null) return this.checkClaims(verified.payload, token);
    }
    return invalid('bad_signature');
  }

  private async keysFor(kid: string | null): Promise<readonly VerificationKey[] | AuthProviderUnavailable> {
    if (kid !== null) {
      const byKid = this.staticByKid.get(kid);
      if (byKid !== undefined || this.jwks === null) return byKid ?? [];
      const set = await this.jwks.getKeySet(kid);
      if (!set.ok) return new AuthProviderUnavailable('jwks', set.reason);
      const keys = set.keys.byKid.get(kid) ?? [];
      // A kid we do not know while the JWKS cannot be fetched may be a rotated key:
      // that is an outage (503, retry), not a bad token (401).
      if (keys.length === 0 && set.stale) return new AuthProviderUnavailable('jwks', 'unknown kid while the JWKS cannot be fetched');
      return keys;
    }
    if (this.staticWithoutKid.length > 0) return this.staticWithoutKid;
    if (this.jwks === null) return this.staticAll;
    const set = await this.jwks.getKeySet(null);
    if (!set.ok) return new AuthProviderUnavailable('jwks', set.reason);
    return set.keys.withoutKid.length > 0 ? set.keys.withoutKid : [...this.staticAll, ...set.keys.all];
  }

  /** RFC 7519 §4.1 registered claims, then the identity mapping. */
  private checkClaims(payload: unknown, token: string): Verdict {
    if (!isJsonObject(payload)) return invalid('bad_claims');
    const { exp, nbf, iss, aud } = payload;
    if ((exp !== undefined && typeof exp !== 'number') || (nbf !== undefined && typeof nbf !== 'number')) return invalid('bad_claims');
    if (this.issuers.size > 0 && !(typeof iss === 'string' && this.issuers.has(iss))) return invalid('issuer_not_allowed');
    if (this.audiences.size > 0 && !audienceMatches(aud, this.audiences)) return invalid('audience_not_allowed');
    if (exp === undefined && this.requireExp) return invalid('missing_exp');

    const nowSeconds = Math.floor(this.now() / 1000);
    // §4.1.4: not accepted "on or after" exp; §4.1.5: not accepted before nbf; both with leeway.
    if (exp !== undefined && nowSeconds >= exp + this.skewSeconds) {
      return { ok: false, failure: new ExpiredCredential(), cacheUntil: null };
    }
    if (nbf !== undefined && nowSeconds + this.skewSeconds < nbf) {
      return { ok: false, failure: new NotYetValidCredential(), cacheUntil: null };
    }

    let prefix = '';
    if (this.issuerPrefixes !== null) {
      // An issuer without a prefix has no consumer namespace here (only reachable with
      // `issuers` empty: every accepted issuer has one otherwise).
      const found = typeof iss === 'string' ? this.issuerPrefixes.get(iss) : undefined;
      if (found === undefined) return invalid('issuer_not_allowed');
      prefix = found;
    }
    const mapped = mapClaims(payload, this.mapping);
    if (mapped instanceof InvalidCredential) return { ok: false, failure: mapped, cacheUntil: null };
    const expiresAt = exp === undefined ? null : exp * 1000;
    const identity = makeIdentity({
      ...mapped,
      consumer: prefix + mapped.consumer,
      credential_id: tokenCredentialId('jwt', token),
      auth_method: 'jwt',
      expiresAt,
    });
    return { ok: true, identity, cacheUntil: expiresAt ?? Infinity };
  }
}

/**
 * `jwt.issuer_prefixes` as a map, checked: each issuer's tokens name consumers in a
 * namespace of their own, since two identity providers each have their own "alice".
 * With more than one accepted issuer every one needs a prefix; with exactly one, none
 * is needed (consumers stay the bare claim, as before prefixes existed). Prefixes must
 * be prefix-free, or "a" + "bc" and "ab" + "c" would be the same consumer.
 * @throws LlmAuthConfigError naming the field, never an issuer or a prefix
 */
function checkIssuerPrefixes(config: JwtConfig): ReadonlyMap<string, string> | null {
  const field = 'jwt.issuer_prefixes';
  const prefixes = new Map(Object.entries(config.issuer_prefixes ?? {}));
  if (config.issuers.length > 1 && !config.issuers.every((iss) => prefixes.has(iss))) {
    throw new LlmAuthConfigError(field, 'must give a consumer prefix for every entry of jwt.issuers when more than one issuer is accepted');
  }
  if (config.issuers.length > 0 && [...prefixes.keys()].some((iss) => !config.issuers.includes(iss))) {
    throw new LlmAuthConfigError(field, 'names an issuer that jwt.issuers does not accept');
  }
  const values = [...prefixes.values()];
  if (values.some((a, i) => values.some((b, j) => i !== j && b.startsWith(a)))) {
    throw new LlmAuthConfigError(field, 'no prefix may begin another (two issuers could then name the same consumer)');
  }
  return prefixes.size > 0 ? prefixes : null;
}

/**
 * The payload when `key` verifies the token's signature under `alg`, else null. Any
 * library exception is a verdict on the token: keys were checked against their
 * algorithm at construction, so what remains is attacker-controlled input.
 */
function verifySignature(token: string, jws: CompactJws, alg: JwtAlgorithm, key: KeyObject): { payload: unknown } | null {
  try {
    if (alg === 'EdDSA') {
      // RFC 8037 §3.1: Ed25519/Ed448 over the ASCII signing input, no prehash (digest null).
      const signature = Buffer.from(jws.signatureSegment, 'base64url');
      if (!verifyDetached(null, Buffer.from(jws.signingInput, 'ascii'), key, signature)) return null;
      return { payload: decodeJsonSegment(jws.payloadSegment) };
    }
    const payload = jwt.verify(token, key, {
      algorithms: [alg],
      ignoreExpiration: true,
      ignoreNotBefore: true,
    });
    return { payload };
  } catch {
    return null;
  }
}
