/**
 * lua-cjson's encode (OpenResty's build, as Kong 3.10 sets it up in
 * kong/globalpatches.lua for `kong.response.exit` table bodies and plugin.lua's
 * serialize) of a value a plugin sent, seen as Lua holds it:
 * - nil members are gone (a Lua table cannot hold nil);
 * - an empty table, array or object, encodes as `{}` (encode_empty_table_as_object);
 * - a table with only positive integer keys is an array; holes come back as null
 *   unless the array is "excessively sparse" (encode_sparse_array(nil, nil, 2^15):
 *   ratio 2, safe 32768), which is an encode error (Kong then raises);
 * - numbers with 16 significant digits (encode_number_precision(CJSON_MAX_PRECISION));
 * - "/" is not escaped (seen on a real Kong 3.10).
 * Key order: Lua's table order is a hash order, which the bridge does not copy; it
 * keeps the plugin's order. Compare parsed JSON, not text, where order matters.
 */
import { KongLuaError } from './request-context';

const SPARSE_RATIO = 2;
const SPARSE_SAFE = 2 ** 15;
const PRECISION = 16;

/** printf %.16g */
function encodeNumber(n: number): string {
  if (!Number.isFinite(n)) throw new KongLuaError('body encoding failed while flushing response: Cannot serialise number: must not be NaN or Infinity');
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return String(n);
  const [mant, exp] = n.toPrecision(PRECISION).split('e');
  const m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
  if (exp === undefined) return m;
  const e = Number(exp);
  return `${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

function encodeString(s: string): string {
  return JSON.stringify(s);
}

function encodeTable(t: object): string {
  const entries: Array<[string, unknown]> = Array.isArray(t)
    ? t.flatMap((v, i) => (v === null || v === undefined ? [] : [[String(i + 1), v] as [string, unknown]]))
    : Object.entries(t).filter(([, v]) => v !== null && v !== undefined);
  if (entries.length === 0) return '{}';
  if (Array.isArray(t)) {
    const max = Number(entries[entries.length - 1][0]);
    if (max > SPARSE_SAFE && max > entries.length * SPARSE_RATIO) {
      throw new KongLuaError('body encoding failed while flushing response: Cannot serialise table: excessively sparse array');
    }
    const out: string[] = [];
    for (let i = 0; i < max; i++) out.push(t[i] === null || t[i] === undefined ? 'null' : encodeValue(t[i]));
    return `[${out.join(',')}]`;
  }
  return `{${entries.map(([k, v]) => `${encodeString(k)}:${encodeValue(v)}`).join(',')}}`;
}

function encodeValue(v: unknown): string {
  if (typeof v === 'string') return encodeString(v);
  if (v instanceof Uint8Array) return encodeString(Buffer.from(v).toString('utf8'));
  if (typeof v === 'number') return encodeNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (v && typeof v === 'object') return encodeTable(v);
  return 'null';
}

export function cjsonEncode(value: unknown): string {
  return encodeValue(value);
}
