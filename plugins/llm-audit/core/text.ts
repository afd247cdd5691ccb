/**
 * Bounded text for audit records: every string that reaches a record comes from the
 * request (a socket: hostile), so each is cut to a byte budget before it is written.
 * Cuts are UTF-8 safe: never inside a code point, never between the halves of a UTF-16
 * surrogate pair (a half would be written as U+FFFD and mislead a reader).
 * Pure: no Kong, no I/O.
 */
import { isNonNegInt, isObj } from '../../shared/values';

/** A string cut to at most `maxBytes` of UTF-8, and whether anything was cut. */
export interface BoundedText {
  text: string;
  truncated: boolean;
  /** UTF-8 bytes of the input before the cut. */
  original_bytes: number;
}

/**
 * `text` cut to at most `maxBytes` UTF-8 bytes at a code point boundary. A lone
 * surrogate counts as the 3 bytes of U+FFFD, as Buffer encodes it.
 */
export function truncateUtf8(text: string, maxBytes: number): BoundedText {
  const limit = Math.max(0, Math.floor(maxBytes));
  const original = Buffer.byteLength(text, 'utf8');
  if (original <= limit) return { text, truncated: false, original_bytes: original };
  const buf = Buffer.from(text, 'utf8');
  let end = limit;
  // step back over continuation bytes (10xxxxxx) to the start of the cut code point
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return { text: buf.subarray(0, end).toString('utf8'), truncated: true, original_bytes: original };
}

/** Longest UTF-16 prefix worth looking at for a `maxBytes` budget (1 unit ≥ 1 byte). */
export function prefixFor(text: string, maxUnits: number): string {
  if (text.length <= maxUnits) return text;
  let end = maxUnits;
  // do not split a surrogate pair: drop the high half left without its low half
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return text.slice(0, end);
}

/** A short plain string (ids, names) from a hostile value, or null. */
export function plainString(v: unknown, maxBytes: number): string | null {
  if (typeof v !== 'string') return null;
  return truncateUtf8(v, maxBytes).text;
}

/** A non-negative finite number, or null. */
export function nonNegNumber(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
}

/** A non-negative safe integer, or null. */
export function nonNegInt(v: unknown): number | null {
  return isNonNegInt(v) ? v : null;
}

export { isObj };
