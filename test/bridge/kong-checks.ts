/**
 * kong/pdk/private/checks.lua (Kong 3.10): the header checks every PDK header setter
 * runs, with Kong's messages. Values are Lua values (lua-table.ts).
 */
import { KongLuaError } from './request-context';
import { luaIpairs, luaPairs, luaString, luaToString, luaType } from './lua-table';

/** %q of a Lua string, as string.format prints it in these messages. */
function q(s: unknown): string {
  return `"${String(s).replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;
}

/** validate_header(name, value): raises as Kong does; returns nothing Kong uses. */
export function validateHeader(name: unknown, value: unknown): void {
  const tname = luaType(name);
  if (tname !== 'string') throw new KongLuaError(`invalid header name ${q(name)}: got ${tname}, expected string`);
  const tvalue = luaType(value);
  if (tvalue === 'string' || tvalue === 'number' || tvalue === 'boolean') return;
  if (tvalue === 'table') {
    for (const vv of luaIpairs(value as object)) {
      const tvv = luaType(vv);
      if (tvv !== 'string') throw new KongLuaError(`invalid header value in array ${q(name)}: got ${tvv}, expected string`);
    }
    return;
  }
  throw new KongLuaError(`invalid header value for ${q(name)}: got ${tvalue}, expected array of string, string, number or boolean`);
}

/** validate_headers(headers): every entry checked before any is set. */
export function validateHeaders(headers: unknown): Array<[string, unknown]> {
  if (luaType(headers) !== 'table') throw new KongLuaError('headers must be a table');
  const entries = luaPairs(headers as object);
  for (const [k, v] of entries) {
    const tv = luaType(v);
    if (tv === 'table') {
      for (const vv of luaIpairs(v as object)) {
        const tvv = luaType(vv);
        if (tvv !== 'string') throw new KongLuaError(`invalid header value in array ${q(k)}: got ${tvv}, expected string`);
      }
    } else if (tv !== 'string' && tv !== 'number' && tv !== 'boolean') {
      throw new KongLuaError(`invalid header value for ${q(k)}: got ${tv}, expected string, number, boolean or array of strings`);
    }
  }
  return entries;
}

/**
 * normalize_multi_header(value): "" becomes " " (so an empty value is SENT, not
 * removed), numbers and booleans become strings, a list keeps its elements (each
 * "" a " "); an empty list stays empty, which nginx's setters read as "remove".
 */
export function normalizeMultiHeader(value: unknown): string[] {
  const t = luaType(value);
  if (t === 'string') {
    const s = luaString(value as string);
    return [s === '' ? ' ' : s];
  }
  if (t === 'table') return luaIpairs(value as object).map((v) => (luaString(v as string) === '' ? ' ' : luaString(v as string)));
  return [luaToString(value as number | boolean)];
}
