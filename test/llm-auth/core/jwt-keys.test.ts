import { createSecretKey, generateKeyPairSync } from 'node:crypto';
import { LlmAuthConfigError } from '../../../plugins/llm-auth/core/errors';
import { algorithmsForPublicKey, buildStaticKey, keyMismatch } from '../../../plugins/llm-auth/core/jwt-keys';
import type { JwtKeyConfig } from '../../../plugins/llm-auth/schema';
import { ec, ed25519, HS256_SECRET, rsa, rsa1024 } from './support/keys';

const key = (over: Partial<JwtKeyConfig>): JwtKeyConfig => ({ kid: null, algorithm: 'RS256', secret: null, public_key: null, ...over });
const FIELD = 'jwt.keys[0]';

describe('buildStaticKey', () => {
  it.each([
    ['RS256', () => rsa().publicPem],
    ['PS512', () => rsa().publicPem],
    ['ES256', () => ec('P-256').publicPem],
    ['ES384', () => ec('P-384').publicPem],
    ['ES512', () => ec('P-521').publicPem],
    ['EdDSA', () => ed25519().publicPem],
  ] as const)('accepts a %s key with fitting key material, pinned to that algorithm', (algorithm, pem) => {
    const built = buildStaticKey(key({ algorithm, public_key: pem(), kid: 'k' }), FIELD);
    expect(built).toMatchObject({ kid: 'k', algorithms: [algorithm], source: 'static' });
  });

  it('accepts an HS256 secret of at least 32 bytes', () => {
    expect(buildStaticKey(key({ algorithm: 'HS256', secret: HS256_SECRET }), FIELD).key.type).toBe('secret');
  });

  it.each([
    ['an EC key for RS256', 'RS256', () => ec('P-256').publicPem, /RS256 needs an RSA public key, got ec/],
    ['a P-384 key for ES256', 'ES256', () => ec('P-384').publicPem, /ES256 needs curve prime256v1, got secp384r1/],
    ['a P-256 key for ES512', 'ES512', () => ec('P-256').publicPem, /ES512 needs curve secp521r1/],
    ['an RSA key for EdDSA', 'EdDSA', () => rsa().publicPem, /EdDSA needs an Ed25519 or Ed448 public key/],
    ['an Ed25519 key for ES256', 'ES256', () => ed25519().publicPem, /ES256 needs an EC public key/],
    ['a 1024-bit RSA key', 'RS256', () => rsa1024().publicPem, /at least 2048 bits/],
  ] as const)('rejects %s at construction', (_label, algorithm, pem, message) => {
    expect(() => buildStaticKey(key({ algorithm, public_key: pem() }), FIELD)).toThrow(LlmAuthConfigError);
    expect(() => buildStaticKey(key({ algorithm, public_key: pem() }), FIELD)).toThrow(message);
  });

  it('rejects an HS key without secret, with a public key, or with a short secret, never quoting the secret', () => {
    expect(() => buildStaticKey(key({ algorithm: 'HS256' }), FIELD)).toThrow('jwt.keys[0].secret: is required for HS256');
    expect(() => buildStaticKey(key({ algorithm: 'HS256', secret: HS256_SECRET, public_key: rsa().publicPem }), FIELD)).toThrow(
      'jwt.keys[0].public_key',
    );
    const short = 'short-secret-value';
    let error: Error | undefined;
    try {
      buildStaticKey(key({ algorithm: 'HS512', secret: HS256_SECRET }), FIELD);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toMatch(/HS512 needs a secret of at least 64 bytes/);
    expect(error?.message).not.toContain(HS256_SECRET);
    expect(() => buildStaticKey(key({ algorithm: 'HS256', secret: short }), FIELD)).toThrow(/at least 32 bytes/);
  });

  it('rejects an asymmetric key given a secret, no public key, a private key or garbage', () => {
    expect(() => buildStaticKey(key({ secret: HS256_SECRET, public_key: rsa().publicPem }), FIELD)).toThrow('jwt.keys[0].secret: must be unset');
    expect(() => buildStaticKey(key({}), FIELD)).toThrow('jwt.keys[0].public_key: is required for RS256');
    const privatePem = rsa().privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => buildStaticKey(key({ public_key: privatePem }), FIELD)).toThrow(/holds a PRIVATE key/);
    expect(() => buildStaticKey(key({ public_key: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----' }), FIELD)).toThrow(
      /is not a PEM public key or certificate/,
    );
  });

  it('accepts an RSA-PSS key only for the hash it is restricted to', () => {
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048, hashAlgorithm: 'sha256', mgf1HashAlgorithm: 'sha256' });
    const pem = pss.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(buildStaticKey(key({ algorithm: 'PS256', public_key: pem }), FIELD).algorithms).toEqual(['PS256']);
    expect(() => buildStaticKey(key({ algorithm: 'PS384', public_key: pem }), FIELD)).toThrow(/restricted to sha384/);
    expect(() => buildStaticKey(key({ algorithm: 'RS256', public_key: pem }), FIELD)).toThrow(/needs an RSA public key, got rsa-pss/);
  });
});

describe('algorithmsForPublicKey', () => {
  it('lists RS* and PS* for RSA, the curve algorithm for EC, EdDSA for Ed25519', () => {
    expect(algorithmsForPublicKey(rsa().publicKey)).toEqual(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
    expect(algorithmsForPublicKey(ec('P-384').publicKey)).toEqual(['ES384']);
    expect(algorithmsForPublicKey(ed25519().publicKey)).toEqual(['EdDSA']);
    expect(algorithmsForPublicKey(rsa1024().publicKey)).toEqual([]);
  });
});

describe('keyMismatch', () => {
  it('never lets a public key verify HS*, nor a secret verify RS*', () => {
    expect(keyMismatch('HS256', rsa().publicKey)).toMatch(/needs a shared secret/);
    expect(keyMismatch('RS256', createSecretKey(Buffer.from(HS256_SECRET)))).toMatch(/needs a public key/);
  });
});
