/**
 * The one outbound HTTP call shape of the core (JWKS and introspection): fetch with a
 * timeout, a bounded body, JSON parsing, and every failure returned as a reason
 * instead of thrown.
 */
import { isIP } from 'node:net';

/** The part of WHATWG `fetch` the core uses; `typeof fetch` satisfies it. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Global fetch, called through a stable wrapper so it can key per-fetch registries. */
export const defaultFetch: FetchLike = (input, init) => fetch(input, init);

export type JsonResponse = { ok: true; status: number; body: unknown } | { ok: false; reason: string };

export interface HttpLimits {
  timeoutMs: number;
  /** Larger bodies are abandoned: a broken or hostile endpoint cannot exhaust memory. */
  maxBytes: number;
}

class BodyTooLarge extends Error {
  override readonly name = 'BodyTooLarge';
}

async function readBounded(res: Response, maxBytes: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (declared > maxBytes) throw new BodyTooLarge();
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new BodyTooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** By name, not instanceof: fetch's errors (DOMException, TypeError) may come from another realm. */
function errorName(err: unknown): string | null {
  return typeof err === 'object' && err !== null && typeof (err as { name?: unknown }).name === 'string' ? (err as { name: string }).name : null;
}

function describeFailure(err: unknown): string {
  if (err instanceof BodyTooLarge) return 'response too large';
  const name = errorName(err);
  // AbortSignal.timeout() aborts with a DOMException named TimeoutError, also mid-body.
  if (name === 'TimeoutError') return 'timeout';
  return name === null ? 'network error' : `network error (${name})`;
}

/**
 * Fetches `url` and parses a 2xx JSON body. Any failure (network, timeout, non-2xx,
 * oversized or non-JSON body) is `{ ok: false, reason }`; the reason names the kind
 * of failure and never includes request or response content.
 */
export async function fetchJson(fetchFn: FetchLike, url: string, init: RequestInit, limits: HttpLimits): Promise<JsonResponse> {
  let text: string;
  let status: number;
  try {
    const res = await fetchFn(url, { ...init, signal: AbortSignal.timeout(limits.timeoutMs) });
    status = res.status;
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      return { ok: false, reason: `HTTP ${status}` };
    }
    text = await readBounded(res, limits.maxBytes);
  } catch (err) {
    return { ok: false, reason: describeFailure(err) };
  }
  try {
    return { ok: true, status, body: JSON.parse(text) };
  } catch {
    return { ok: false, reason: 'response is not JSON' };
  }
}

/**
 * Hosts plain http:// may go to. `URL` lower-cases the host name and canonicalises IP
 * literals (`127.1` and `0x7f000001` become `127.0.0.1`, IPv6 keeps its brackets), so
 * exact comparison is enough. A trailing-dot `localhost.` is refused: it is resolved
 * through DNS search rules rather than /etc/hosts by some resolvers.
 */
const LOOPBACK_NAME = 'localhost';
const IPV6_LOOPBACK = '[::1]';
/** RFC 1122 §3.2.1.3: all of 127.0.0.0/8 is loopback. */
const IPV4_LOOPBACK_FIRST_OCTET = '127';

/**
 * True when `hostname` (as `URL` parses it) is this host: an IPv4 literal in
 * 127.0.0.0/8, `[::1]`, or exactly `localhost`. A check on the text alone would let
 * `127.evil.example` or `127.0.0.1.attacker.example` (DNS names) through.
 */
export function isLoopbackHost(hostname: string): boolean {
  if (hostname === LOOPBACK_NAME || hostname === IPV6_LOOPBACK) return true;
  return isIP(hostname) === 4 && hostname.split('.')[0] === IPV4_LOOPBACK_FIRST_OCTET;
}

/**
 * True for an https: URL, or an http: URL to this host. Plain HTTP elsewhere would
 * carry tokens and client secrets in clear text and let anyone on the path swap the
 * signing keys, so it is refused at configuration time.
 */
export function isHttpUrl(value: string): boolean {
  try {
    const { protocol, hostname } = new URL(value);
    return protocol === 'https:' || (protocol === 'http:' && isLoopbackHost(hostname));
  } catch {
    return false;
  }
}
