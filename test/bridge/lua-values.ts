/**
 * What survives a trip through Kong's Lua side. Values a plugin hands to Kong (ctx
 * values, PDK arguments) become Lua tables and come back through lua-MessagePack:
 * - a `null` (nil) inside a table disappears: Lua tables cannot hold nil;
 * - an empty table has no way to remember it was an object: it packs as an empty array.
 * The bridge applies this to every value stored on Kong's side, so tests see what a
 * plugin would see on a real Kong.
 */
export function luaRoundTrip(value: unknown): unknown {
  if (value === undefined) return null;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) {
    // nil holes end a Lua sequence for `#`/ipairs; lua-MessagePack packs a table
    // with holes as a map keyed by index.
    const holes = value.some((v) => v === null || v === undefined);
    if (!holes) return value.map(luaRoundTrip);
    const out: Record<string, unknown> = {};
    value.forEach((v, i) => {
      if (v !== null && v !== undefined) out[String(i + 1)] = luaRoundTrip(v);
    });
    return Object.keys(out).length ? out : [];
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === null || v === undefined) continue;
      out[k] = luaRoundTrip(v);
    }
    return Object.keys(out).length ? out : [];
  }
  return value;
}
