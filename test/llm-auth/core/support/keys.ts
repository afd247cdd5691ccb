/** Real key pairs for the tests, generated once per test file. */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';

export interface Pair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicPem: string;
}

function pair(generated: { privateKey: KeyObject; publicKey: KeyObject }): Pair {
  return { ...generated, publicPem: generated.publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

const memo = new Map<string, Pair>();
function once(name: string, make: () => { privateKey: KeyObject; publicKey: KeyObject }): Pair {
  let p = memo.get(name);
  if (!p) memo.set(name, (p = pair(make())));
  return p;
}

export const rsa = (n = 1) => once(`rsa${n}`, () => generateKeyPairSync('rsa', { modulusLength: 2048 }));
export const rsa1024 = () => once('rsa1024', () => generateKeyPairSync('rsa', { modulusLength: 1024 }));
export const ec = (curve: 'P-256' | 'P-384' | 'P-521') => once(curve, () => generateKeyPairSync('ec', { namedCurve: curve }));
export const ed25519 = () => once('ed25519', () => generateKeyPairSync('ed25519'));

/** The public key as a JWK, with extra members (kid, alg, use...). */
export function jwkOf(p: Pair, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...p.publicKey.export({ format: 'jwk' }), ...extra };
}

/** HMAC secrets long enough for RFC 7518 §3.2. */
export const HS256_SECRET = 'a-test-secret-that-is-at-least-32-bytes-long!';
