/**
 * Mapping token claims (JWT payload or RFC 7662 introspection response) to the
 * consumer, tenant and scopes of an identity.
 */
import { InvalidCredential } from './errors';

export interface ClaimMapping {
  consumerClaim: string;
  /** Members tried in order when `consumerClaim` is absent (introspection: username, client_id). */
  consumerFallbacks: readonly string[];
  tenantClaim: string | null;
  scopeClaims: readonly string[];
}

export interface MappedClaims {
  consumer: string;
  tenant: string | null;
  scopes: string[];
}

/** RFC 6749 §3.3: scope is a list of space-delimited scope tokens. */
const SCOPE_SEPARATOR = ' ';

/** Own members only: a claim named "constructor" must not read Object.prototype. */
function claim(claims: Record<string, unknown>, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}

function nonEmptyString(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

/**
 * Scopes merged from every configured claim, in order, without duplicates: a
 * space-separated string (`scope`) or an array of strings (`scp`, `roles`). Other
 * shapes contribute nothing.
 */
export function readScopes(claims: Record<string, unknown>, names: readonly string[]): string[] {
  const scopes = new Set<string>();
  for (const name of names) {
    const value = claim(claims, name);
    const items = typeof value === 'string' ? value.split(SCOPE_SEPARATOR) : Array.isArray(value) ? value : [];
    for (const item of items) if (typeof item === 'string' && item !== '') scopes.add(item);
  }
  return [...scopes];
}

/**
 * The identity parts a token's claims grant, or an InvalidCredential: the consumer
 * must be a non-empty string; the tenant, when configured and present, a non-empty
 * string (anything else would silently fall back to "no tenant").
 */
export function mapClaims(claims: Record<string, unknown>, mapping: ClaimMapping): MappedClaims | InvalidCredential {
  let consumer = nonEmptyString(claim(claims, mapping.consumerClaim));
  for (const fallback of mapping.consumerFallbacks) consumer ??= nonEmptyString(claim(claims, fallback));
  if (consumer === null) return new InvalidCredential('missing_consumer');

  let tenant: string | null = null;
  if (mapping.tenantClaim !== null) {
    const value = claim(claims, mapping.tenantClaim);
    if (value !== undefined && value !== null) {
      tenant = nonEmptyString(value);
      if (tenant === null) return new InvalidCredential('bad_tenant');
    }
  }
  return { consumer, tenant, scopes: readScopes(claims, mapping.scopeClaims) };
}

/** One of `aud` (a string or an array, RFC 7519 §4.1.3; RFC 7662 §2.2 alike) is in `accepted`. */
export function audienceMatches(aud: unknown, accepted: ReadonlySet<string>): boolean {
  const values = Array.isArray(aud) ? aud : [aud];
  return values.some((value) => typeof value === 'string' && accepted.has(value));
}
