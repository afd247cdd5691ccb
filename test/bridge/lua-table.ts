/**
 * A value a plugin hands to Kong, as Kong's Lua sees it after lua-MessagePack
 * unpacks it (kong/runloop/plugin_servers/rpc/mp_rpc.lua):
 * - a map entry whose value is nil does not exist (Lua tables cannot hold nil), so
 *   `pairs` never visits it;
 * - `ipairs` over a list stops at the first nil;
 * - a JS object and a JS array are both Lua tables: `ipairs` over an object (string
 *   keys only) visits nothing.
 * Maps built for Kong's answers keep every key as an own data property, so a key
 * "__proto__" stays a plain key, as it is in Lua.
 */
export type LuaType = 'nil' | 'boolean' | 'number' | 'string' | 'table';

export function luaType(v: unknown): LuaType {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'string' || v instanceof Uint8Array) return 'string';
  if (typeof v === 'object') return 'table';
  throw new Error(`no Lua type for a ${typeof v}`);
}

/** `pairs(t)`: the entries that exist in Lua (nil values absent). */
export function luaPairs(t: object): Array<[string, unknown]> {
  if (Array.isArray(t)) return t.flatMap((v, i) => (v === null || v === undefined ? [] : [[String(i + 1), v] as [string, unknown]]));
  return Object.entries(t).filter(([, v]) => v !== null && v !== undefined);
}

/** `ipairs(t)`: list elements up to the first nil; nothing for a map. */
export function luaIpairs(t: object): unknown[] {
  if (!Array.isArray(t)) return [];
  const end = t.findIndex((v) => v === null || v === undefined);
  return end === -1 ? t : t.slice(0, end);
}

/** Lua's tostring for numbers and booleans (LuaJIT prints integers without ".0", floats as %.14g). */
export function luaToString(v: number | boolean): string {
  if (typeof v === 'boolean') return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  const s = v.toPrecision(14);
  // %.14g: strip trailing zeros of a fraction, exponent as e+NN
  const [mant, exp] = s.split('e');
  const m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
  if (exp === undefined) return m;
  const e = Number(exp);
  return `${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

/** A Lua string as bytes: a JS string is UTF-8 on the wire, a binary is its bytes. */
export function luaString(v: string | Uint8Array): string {
  return typeof v === 'string' ? v : Buffer.from(v).toString('utf8');
}

/** An object whose keys are all own data properties ("__proto__" included). */
export function ownMap<T>(): Record<string, T> {
  return {};
}

export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

export function getOwn<T>(obj: Record<string, T>, key: string): T | undefined {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}
