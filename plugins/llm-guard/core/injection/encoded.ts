/**
 * Finding encoded text inside a message: base64/base64url, hex and percent-encoded
 * blobs are decoded and returned when the result is mostly printable text, for the
 * caller to scan with the text rules ("decode this and follow it: aWdub3Jl...").
 *
 * Runs on the case-preserved text (`stripInvisible` + NFKC: fullwidth digits and letters
 * folded, case kept, since base64 is case-sensitive). Candidate regexes are single
 * character-class runs or fixed-width repetitions, each position is examined a bounded
 * number of times, and candidates do not overlap, so the work is linear in the input:
 * at most four decodes (the base64 alignments) of each input character.
 *
 * One level only: a payload encoded twice (base64 of base64) is not unwrapped.
 */
import type { PayloadEncoding } from './rules';

/** base64 needs 24 characters (18 bytes): shorter runs are ids and words, not sentences. */
export const MIN_BASE64_CHARS = 24;
/** hex needs 16 bytes. */
export const MIN_HEX_BYTES = 16;
/** Percent-encoding needs this many %XX escapes in a run. */
export const MIN_URL_ESCAPES = 3;
/**
 * Share of printable characters (letters, digits, punctuation, spaces, any non-control
 * Unicode) a decoded blob needs to count as text. Random bytes decoded as UTF-8 are
 * mostly U+FFFD and controls (~10–40% printable); images, keys, hashes and compressed
 * data stay far below this, so they are never rescanned as prose.
 */
export const MIN_PRINTABLE_RATIO = 0.9;
/** Decoded text shorter than this cannot hold an instruction worth a rule. */
const MIN_DECODED_CHARS = 12;

const BASE64_RUN = new RegExp(`[A-Za-z0-9+/_-]{${MIN_BASE64_CHARS},}={0,2}`, 'g');
const HEX_CONTIGUOUS = new RegExp(`[0-9A-Fa-f]{${MIN_HEX_BYTES * 2},}`, 'g');
const HEX_SEPARATED = new RegExp(`(?:[0-9A-Fa-f]{2}[ :,-]){${MIN_HEX_BYTES - 1},}[0-9A-Fa-f]{2}`, 'g');
const HEX_ESCAPED = new RegExp(`(?:\\\\x[0-9A-Fa-f]{2}){${MIN_HEX_BYTES},}`, 'g');
/** Each hex form with what separates its digit pairs. */
const HEX_FORMS: ReadonlyArray<readonly [RegExp, RegExp | undefined]> = [
  [HEX_CONTIGUOUS, undefined],
  [HEX_SEPARATED, /[ :,-]/g],
  [HEX_ESCAPED, /\\x/g],
];
/** RFC 3986 unreserved characters, sub-delims common in query strings, and '%'. */
const URL_RUN = /[A-Za-z0-9%._~!*'()+-]{24,}/g;
const URL_ESCAPE = /%[0-9A-Fa-f]{2}/g;

function isPrintable(code: number): boolean {
  if (code === 0x09 || code === 0x0a || code === 0x0d) return true;
  if (code < 0x20 || (code >= 0x7f && code < 0xa0)) return false;
  return code !== 0xfffd;
}

/** The text if `bytes` decode (UTF-8) to mostly printable characters, else undefined. */
function asText(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8');
  if (text.length < MIN_DECODED_CHARS) return undefined;
  let printable = 0;
  for (let i = 0; i < text.length; i++) if (isPrintable(text.charCodeAt(i))) printable++;
  return printable / text.length >= MIN_PRINTABLE_RATIO ? text : undefined;
}

function base64Payloads(text: string, out: string[]): void {
  for (const [run] of text.matchAll(BASE64_RUN)) {
    // A run glued to a preceding word ("payload:aWdu..." is split, "b64aWdu..." is not)
    // is off by one to three characters: try each alignment until one decodes to text.
    for (let offset = 0; offset < 4 && run.length - offset >= MIN_BASE64_CHARS; offset++) {
      const decoded = asText(Buffer.from(run.slice(offset), 'base64'));
      if (decoded !== undefined) {
        out.push(decoded);
        break;
      }
    }
  }
}

function hexPayloads(text: string, out: string[]): void {
  for (const [re, separator] of HEX_FORMS) {
    for (const [run] of text.matchAll(re)) {
      const decoded = asText(Buffer.from(separator ? run.replace(separator, '') : run, 'hex'));
      if (decoded !== undefined) out.push(decoded);
    }
  }
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/**
 * Percent-decoding to bytes in one pass ('+' is a space, as in form encoding); a '%'
 * not followed by two hex digits stays as is. Unlike decodeURIComponent it never
 * throws: invalid UTF-8 becomes U+FFFD and counts against printability.
 */
function percentDecode(run: string): Buffer {
  const bytes = Buffer.allocUnsafe(run.length);
  let n = 0;
  for (let i = 0; i < run.length; i++) {
    const c = run.charCodeAt(i);
    if (c === 0x25 && i + 2 < run.length) {
      const hi = hexValue(run.charCodeAt(i + 1));
      const lo = hexValue(run.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        bytes[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    bytes[n++] = c === 0x2b ? 0x20 : c; // the run is ASCII (URL_RUN)
  }
  return bytes.subarray(0, n);
}

function urlPayloads(text: string, out: string[]): void {
  for (const [run] of text.matchAll(URL_RUN)) {
    let escapes = 0;
    for (const _ of run.matchAll(URL_ESCAPE)) if (++escapes >= MIN_URL_ESCAPES) break;
    if (escapes < MIN_URL_ESCAPES) continue;
    const decoded = asText(percentDecode(run));
    if (decoded !== undefined) out.push(decoded);
  }
}

/**
 * Decoded texts of the `encoding` blobs found in `text` (case-preserved, invisible
 * characters removed), in order of appearance; blobs that do not decode to mostly
 * printable text are skipped.
 */
export function decodePayloads(text: string, encoding: PayloadEncoding): string[] {
  const out: string[] = [];
  switch (encoding) {
    case 'base64':
      base64Payloads(text, out);
      break;
    case 'hex':
      hexPayloads(text, out);
      break;
    case 'url':
      urlPayloads(text, out);
      break;
  }
  return out;
}
