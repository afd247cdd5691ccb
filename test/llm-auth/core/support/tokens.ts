/** Signing test tokens: jsonwebtoken where it can, node:crypto for EdDSA and forgeries. */
import { sign as signDetached, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

export interface SignOptions {
  alg: string;
  kid?: string;
  header?: Record<string, unknown>;
}

export function signToken(payload: Record<string, unknown>, key: KeyObject | string | Buffer, opts: SignOptions): string {
  const header = { alg: opts.alg, typ: 'JWT', ...(opts.kid !== undefined ? { kid: opts.kid } : {}), ...opts.header };
  if (opts.alg === 'EdDSA') {
    const input = `${b64(header)}.${b64(payload)}`;
    return `${input}.${signDetached(null, Buffer.from(input), key as KeyObject).toString('base64url')}`;
  }
  return jwt.sign(payload, key as jwt.Secret, {
    algorithm: opts.alg as jwt.Algorithm,
    header: header as jwt.JwtHeader,
    noTimestamp: true,
    allowInsecureKeySizes: true,
    allowInvalidAsymmetricKeyTypes: true,
  });
}

/** An unsecured token (RFC 7519 §6): header alg none, empty signature. */
export function unsignedToken(payload: Record<string, unknown>, alg = 'none'): string {
  return `${b64({ alg, typ: 'JWT' })}.${b64(payload)}.`;
}
