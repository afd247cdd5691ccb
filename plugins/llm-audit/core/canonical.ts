/**
 * The canonical serialization a record's MAC is computed over: JSON with object keys
 * sorted by UTF-16 code units, no whitespace, strings and numbers as JSON.stringify
 * writes them. For the values a record holds (strings, finite numbers, booleans, null,
 * arrays, plain objects) this is RFC 8785 (JCS): ECMAScript number formatting and
 * code-unit key order are what JCS specifies. A record parsed back from any sink's
 * JSON (whatever its key order or spacing) gives the same canonical text, so a
 * verifier needs no byte-exact copy of what was written.
 * Pure: no Kong, no I/O.
 */

/** A value with no JSON form (undefined, a function, a bigint, NaN, Infinity). */
export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError';
}

/** Canonical JSON of `value` (see the file comment). @throws CanonicalJsonError */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError('a number is not finite');
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
    }
    default:
      throw new CanonicalJsonError(`a ${typeof value} has no JSON form`);
  }
}
