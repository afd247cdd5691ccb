/**
 * The identity a verified credential grants, what a verifier returns, and the short
 * non-reversible ids that name tokens in logs and in `credential_id`.
 */
import { createHash } from 'node:crypto';
import type { PublishedIdentity } from '../../shared/marks';
import type { Failure } from './errors';

/** Milliseconds since the epoch; injected so tests control time. */
export type Clock = () => number;

export type AuthMethod = Exclude<PublishedIdentity['auth_method'], 'anonymous'>;

/** What `kong.ctx.shared` gets, plus when the credential stops being valid (ms). */
export interface Identity extends PublishedIdentity {
  auth_method: AuthMethod;
  /** Epoch ms after which the credential is no longer valid; null when it never expires. */
  expiresAt: number | null;
}

/**
 * A verifier's decision plus how long it may be reused (epoch ms; null: do not cache).
 * The authenticator further caps `cacheUntil` by `cache_ttl`.
 */
export type Verdict =
  | { ok: true; identity: Identity; cacheUntil: number }
  | { ok: false; failure: Failure; cacheUntil: number | null };

/** Hex characters of the token's SHA-256 kept in a token's credential id (48 bits). */
const TOKEN_ID_HEX_CHARS = 12;

/** SHA-256 of a credential; the cache key and the API key lookup key. */
export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * `<prefix>:<first 12 hex chars of SHA-256(token)>`: stable per token so logs can
 * correlate requests, and too short to help anyone recover or replay the token.
 */
export function tokenCredentialId(prefix: 'jwt' | 'oauth2', token: string): string {
  return `${prefix}:${sha256(token).toString('hex', 0, TOKEN_ID_HEX_CHARS / 2)}`;
}

/**
 * Builds an identity; frozen because verified identities are cached and handed to
 * many requests.
 */
export function makeIdentity(fields: Identity): Identity {
  Object.freeze(fields.scopes);
  return Object.freeze(fields);
}
