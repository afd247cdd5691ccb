/**
 * JWT verification keys and the algorithms each may verify. Every key is pinned: the
 * token header can only select among the algorithms its key was given here, never
 * introduce one (the HS256-with-an-RSA-public-key confusion needs exactly that).
 */
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { JWT_ALGORITHMS, type JwtAlgorithm, type JwtKeyConfig } from '../schema';
import { LlmAuthConfigError } from './errors';

export interface VerificationKey {
  kid: string | null;
  /** Algorithms this key verifies: one for static keys and JWKs with "alg". */
  algorithms: readonly JwtAlgorithm[];
  key: KeyObject;
  source: 'static' | 'jwks';
}

/** RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used" for RS* and PS*. */
const MIN_RSA_MODULUS_BITS = 2048;

/** RFC 7518 §3.2: an HMAC key at least as long as the hash output. */
const MIN_HMAC_KEY_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };

/** RFC 7518 §3.4: the curve each ECDSA algorithm uses, by OpenSSL name (as Node reports it). */
const ECDSA_CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

/** RFC 8037 §3.1: EdDSA covers both Edwards curves. */
const EDDSA_KEY_TYPES = new Set(['ed25519', 'ed448']);

const PRIVATE_KEY_PEM = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

const ASYMMETRIC_ALGORITHMS: readonly JwtAlgorithm[] = JWT_ALGORITHMS.filter((alg) => !isHmac(alg));

export function isHmac(alg: string): boolean {
  return alg.startsWith('HS');
}

/** Why `key` cannot verify `alg`, or null when it fits. Messages name key types only. */
export function keyMismatch(alg: JwtAlgorithm, key: KeyObject): string | null {
  if (isHmac(alg)) {
    if (key.type !== 'secret') return `${alg} needs a shared secret`;
    const min = MIN_HMAC_KEY_BYTES[alg];
    return (key.symmetricKeySize ?? 0) < min ? `${alg} needs a secret of at least ${min} bytes (RFC 7518 §3.2)` : null;
  }
  if (key.type !== 'public') return `${alg} needs a public key`;
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  if (alg.startsWith('RS') || alg.startsWith('PS')) {
    const pss = alg.startsWith('PS');
    if (type !== 'rsa' && !(pss && type === 'rsa-pss')) return `${alg} needs an RSA public key, got ${type}`;
    if ((details.modulusLength ?? 0) < MIN_RSA_MODULUS_BITS) return `${alg} needs an RSA key of at least ${MIN_RSA_MODULUS_BITS} bits`;
    // An RSA-PSS key may restrict its hash; it must be the algorithm's.
    const hash = `sha${alg.slice(2)}`;
    if (type === 'rsa-pss' && details.hashAlgorithm !== undefined && details.hashAlgorithm !== hash) {
      return `${alg} needs an RSA-PSS key restricted to ${hash}`;
    }
    return null;
  }
  if (alg.startsWith('ES')) {
    if (type !== 'ec') return `${alg} needs an EC public key, got ${type}`;
    return details.namedCurve === ECDSA_CURVES[alg] ? null : `${alg} needs curve ${ECDSA_CURVES[alg]}, got ${details.namedCurve}`;
  }
  return type !== undefined && EDDSA_KEY_TYPES.has(type) ? null : `EdDSA needs an Ed25519 or Ed448 public key, got ${type}`;
}

/** Every asymmetric algorithm the public key fits (RSA keys fit RS* and PS*). */
export function algorithmsForPublicKey(key: KeyObject): JwtAlgorithm[] {
  return ASYMMETRIC_ALGORITHMS.filter((alg) => keyMismatch(alg, key) === null);
}

/**
 * Builds one `config.jwt.keys` entry, checking that its key material fits its
 * algorithm: a secret for HS*, an RSA key for RS* and PS*, the right curve for ES*, an
 * Edwards key for EdDSA.
 * @throws LlmAuthConfigError naming the field; never quoting key material
 */
export function buildStaticKey(config: JwtKeyConfig, field: string): VerificationKey {
  const alg = config.algorithm;
  let key: KeyObject;
  if (isHmac(alg)) {
    if (config.public_key !== null) throw new LlmAuthConfigError(`${field}.public_key`, `must be unset for ${alg}; set secret`);
    if (!config.secret) throw new LlmAuthConfigError(`${field}.secret`, `is required for ${alg}`);
    key = createSecretKey(Buffer.from(config.secret, 'utf8'));
  } else {
    if (config.secret !== null) throw new LlmAuthConfigError(`${field}.secret`, `must be unset for ${alg}; set public_key`);
    if (!config.public_key) throw new LlmAuthConfigError(`${field}.public_key`, `is required for ${alg}`);
    if (PRIVATE_KEY_PEM.test(config.public_key)) {
      throw new LlmAuthConfigError(`${field}.public_key`, 'holds a PRIVATE key; configure only the public key');
    }
    try {
      key = createPublicKey(config.public_key);
    } catch {
      throw new LlmAuthConfigError(`${field}.public_key`, 'is not a PEM public key or certificate');
    }
  }
  const mismatch = keyMismatch(alg, key);
  if (mismatch !== null) throw new LlmAuthConfigError(field, mismatch);
  return { kid: config.kid, algorithms: [alg], key, source: 'static' };
}
