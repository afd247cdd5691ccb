/**
 * Query strings as nginx and Kong 3.10 handle them:
 * - `parseUriArgs`: ngx.req.get_uri_args (lua-nginx-module): `&`-separated, names
 *   and values percent-decoded with "+" as a space, a name without "=" is the flag
 *   `true`, a repeated name a list in order, an empty name dropped, at most `max`
 *   arguments (the rest ignored, as with lua_max_uri_args);
 * - `orderedArgs`: kong/pdk/service/request.lua make_ordered_args, what
 *   `kong.service.request.set_query` sends: each key encoded alone by
 *   ngx.encode_args, the pieces sorted as strings and joined with "&".
 */
import { KongLuaError } from './request-context';
import { luaIpairs, luaPairs, luaString, luaToString, luaType, setOwn, getOwn } from './lua-table';

export type UriArg = string | true | Array<string | true>;

function unescape(s: string): string {
  const plus = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    // nginx leaves a malformed escape as it is; decode what can be decoded
    return plus.replace(/(%[0-9a-f]{2})+/gi, (m) => {
      try {
        return decodeURIComponent(m);
      } catch {
        return m;
      }
    });
  }
}

export function parseUriArgs(raw: string, max = 100): Record<string, UriArg> {
  const out: Record<string, UriArg> = {};
  let n = 0;
  for (const piece of raw.split('&')) {
    if (piece === '') continue;
    if (n >= max) break;
    const eq = piece.indexOf('=');
    const name = unescape(eq === -1 ? piece : piece.slice(0, eq));
    if (name === '') continue;
    n++;
    const value: string | true = eq === -1 ? true : unescape(piece.slice(eq + 1));
    const prev = getOwn(out, name);
    setOwn(out, name, prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]);
  }
  return out;
}

/** ngx.escape_uri (component): everything but unreserved characters is %XX. */
function escapeUri(s: string): string {
  return Array.from(Buffer.from(s, 'utf8'))
    .map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');
}

/** ngx.encode_args({[k] = v}) for one key. */
function encodeArg(k: string, v: unknown): string {
  const key = escapeUri(k);
  const one = (x: unknown): string | null => {
    const t = luaType(x);
    if (t === 'boolean') return x ? key : null;
    if (t === 'string') return `${key}=${escapeUri(luaString(x as string))}`;
    if (t === 'number') return `${key}=${escapeUri(luaToString(x as number))}`;
    throw new KongLuaError(`attempt to use ${t} as query arg value`);
  };
  if (luaType(v) === 'table') {
    return luaIpairs(v as object)
      .map(one)
      .filter((x): x is string => x !== null)
      .join('&');
  }
  return one(v) ?? '';
}

export function orderedArgs(args: unknown): string {
  if (luaType(args) !== 'table') throw new KongLuaError('args must be a table');
  // a non-empty JS list is a Lua table with number keys
  if (Array.isArray(args) && args.some((v) => v !== null && v !== undefined)) throw new KongLuaError('arg keys must be strings');
  const pieces = luaPairs(args as object).map(([k, v]) => encodeArg(k, v));
  return pieces.sort().join('&');
}

/** kong/tools/uri.lua escape: every byte outside its allowed set becomes %XX (set_path). */
export function escapePath(path: string): string {
  return Array.from(Buffer.from(path, 'utf8'))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[!#$&'()*+,/:;=?@[\]A-Za-z0-9\-_.~%]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

/** kong/tools/uri.lua RESERVED_CHARS: %XX of these stays encoded (upper-cased) when normalizing. */
const RESERVED = new Set(Array.from("!*'();:@&=+$,/?%#[]", (c) => c.charCodeAt(0)));

/**
 * kong/tools/uri.lua normalize(uri, merge_slashes): what kong.request.get_path()
 * returns and the router matches. Works on bytes, as Lua does: a decoded %C3%A9
 * is two bytes, which reach a plugin as the UTF-8 text they spell.
 */
export function normalizePath(raw: string, mergeSlashes = true): string {
  if (raw === '' || raw === '/') return raw;
  let uri = Buffer.from(raw, 'utf8').toString('latin1');
  if (uri.includes('%')) {
    uri = uri.replace(/%([0-9a-f]{2})/gi, (m, hex: string) => {
      const n = Number.parseInt(hex, 16);
      return RESERVED.has(n) ? m.toUpperCase() : String.fromCharCode(n);
    });
  }
  if (!uri.includes('.') && (!mergeSlashes || !uri.includes('//'))) return Buffer.from(uri, 'latin1').toString('utf8');
  const out: string[] = [];
  while (uri.length > 0) {
    if (uri === '/.') uri = '/';
    else if (uri === '/..') {
      uri = '/';
      out.pop();
    } else if (uri === '.' || uri === '..') uri = '';
    else if (uri.startsWith('../')) uri = uri.slice(3);
    else if (uri.startsWith('./')) uri = uri.slice(2);
    else if (uri.startsWith('/./')) uri = uri.slice(2);
    else if (uri.startsWith('/../')) {
      uri = uri.slice(3);
      out.pop();
    } else if (mergeSlashes && uri.startsWith('//')) uri = uri.slice(1);
    else {
      const i = uri.indexOf('/', 1);
      const end = i === -1 ? uri.length : i;
      out.push(uri.slice(0, end));
      uri = uri.slice(end);
    }
  }
  return Buffer.from(out.join(''), 'latin1').toString('utf8');
}
