/**
 * Decoding of JWS compact serialization (RFC 7515 §7.1) without verifying anything:
 * enough to route a credential and to pick its key before the signature is checked.
 */

/** Three base64url segments (RFC 7515 §2: no padding); an empty signature is `alg: none`. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** A JOSE header is a few short members; anything longer is not one we would accept. */
const MAX_HEADER_SEGMENT_CHARS = 4096;

export interface CompactJws {
  header: Record<string, unknown>;
  /** `BASE64URL(header) "." BASE64URL(payload)`, the bytes the signature covers. */
  signingInput: string;
  payloadSegment: string;
  signatureSegment: string;
}

/** Decodes one base64url segment as JSON; undefined when it is not JSON. */
export function decodeJsonSegment(segment: string): unknown {
  try {
    return JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Splits a compact JWS and decodes its header; null when the token does not have the
 * shape or its header is not a JSON object.
 */
export function parseCompactJws(token: string): CompactJws | null {
  if (!COMPACT_JWS.test(token)) return null;
  const firstDot = token.indexOf('.');
  const secondDot = token.indexOf('.', firstDot + 1);
  if (firstDot > MAX_HEADER_SEGMENT_CHARS) return null;
  const header = decodeJsonSegment(token.slice(0, firstDot));
  if (!isJsonObject(header)) return null;
  return {
    header,
    signingInput: token.slice(0, secondDot),
    payloadSegment: token.slice(firstDot + 1, secondDot),
    signatureSegment: token.slice(secondDot + 1),
  };
}
