/**
 * Finding the credential in a request: configured headers in order, then configured
 * query parameters. Header maps arrive from Kong as multimaps with lower-cased names.
 */
import type { HeaderMultiMap } from '../../shared/pdk';
import { parseCompactJws } from './jose';

const AUTHORIZATION = 'authorization';
const BEARER_SCHEME = 'bearer';

/**
 * RFC 9110 §11.4 credentials: `auth-scheme [ 1*SP token68 ]`, the scheme being an
 * RFC 9110 token. Tabs are tolerated as clients send them.
 */
const AUTHORIZATION_VALUE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:[ \t]+(.*))?$/;
/** RFC 6750 §2.1 `b64token`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

// Client-facing explanations; none repeats any part of the header value.
const MALFORMED = {
  header: 'The Authorization header is malformed. Use: Authorization: Bearer YOUR_KEY.',
  scheme: 'The Authorization header must use the Bearer scheme (Authorization: Bearer YOUR_KEY).',
  empty: 'The Authorization header uses the Bearer scheme but carries no API key.',
  token: 'The bearer token in the Authorization header contains characters RFC 6750 does not allow.',
} as const;

export type CredentialSource = { kind: 'header' | 'query'; name: string };
export type Extracted = { credential: string; source: CredentialSource } | { malformed: string } | null;

/** Own keys only: a map from Kong carries client-chosen names ("constructor", "__proto__"). */
function own<T>(map: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(map, name) ? map[name] : undefined;
}

function firstValue(value: readonly string[] | string | undefined): string {
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first.trim() : '';
}

/** The bearer token of an Authorization value, or why it is malformed. */
function parseAuthorization(value: string): { token: string } | { malformed: string } {
  const match = AUTHORIZATION_VALUE.exec(value);
  if (!match) return { malformed: MALFORMED.header };
  // RFC 9110 §11.1: the scheme is case-insensitive.
  if (match[1].toLowerCase() !== BEARER_SCHEME) return { malformed: MALFORMED.scheme };
  const token = (match[2] ?? '').trim();
  if (token === '') return { malformed: MALFORMED.empty };
  if (!B64TOKEN.test(token)) return { malformed: MALFORMED.token };
  return { token };
}

/**
 * Returns the request's credential and where it was found, `{ malformed }` with a
 * client-safe message, or null when no configured header or parameter carries one.
 *
 * Headers are read in `headerNames` order, then `queryNames`; empty values count as
 * absent. `authorization` must hold `Bearer <token>`; any other header holds the raw
 * credential (e.g. Azure-style `api-key`). A malformed Authorization header does not
 * hide a credential in a later header: it is reported only when nothing else is found.
 * Multi-valued headers use their first value.
 */
export function extractCredential(
  headers: HeaderMultiMap,
  query: Readonly<Record<string, readonly string[] | string>> | null,
  headerNames: readonly string[],
  queryNames: readonly string[],
): Extracted {
  let malformed: string | null = null;
  for (const configured of headerNames) {
    const name = configured.toLowerCase();
    const value = firstValue(own(headers, name));
    if (value === '') continue;
    if (name !== AUTHORIZATION) return { credential: value, source: { kind: 'header', name } };
    const parsed = parseAuthorization(value);
    if ('token' in parsed) return { credential: parsed.token, source: { kind: 'header', name } };
    malformed ??= parsed.malformed;
  }
  if (query) {
    for (const name of queryNames) {
      const value = firstValue(own(query, name));
      if (value !== '') return { credential: value, source: { kind: 'query', name } };
    }
  }
  return malformed === null ? null : { malformed };
}

/**
 * True when the credential has JWS compact shape (three base64url segments) and its
 * first segment decodes to a JSON object with an `alg` member. An empty signature
 * still counts, so `alg: none` tokens reach the JWT verifier and are rejected there.
 */
export function looksLikeJwt(credential: string): boolean {
  const jws = parseCompactJws(credential);
  return jws !== null && Object.hasOwn(jws.header, 'alg');
}
