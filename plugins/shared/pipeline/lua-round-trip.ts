/**
 * A value as a JS plugin reads it back from `kong.ctx.shared` after setting it: it
 * crossed to Kong's Lua side (kong/runloop/plugin_servers/rpc/mp_rpc.lua) and back
 * through lua-MessagePack, measured on Kong 3.10 (../shared/kong-external-plugins.md):
 * - a null member disappears (a Lua table cannot hold nil);
 * - an array with a null hole comes back as an object keyed by 1-based index;
 * - an empty table cannot remember it was an object: it comes back as `[]`;
 * - bytes become a string (a Lua string goes back as a MessagePack str).
 * The staged PDK applies this to what a stage stores, so the next stage reads what it
 * would read from Kong when the stages run as separate plugins.
 */
export function luaRoundTrip(value: unknown): unknown {
  if (value === undefined) return null;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  if (Array.isArray(value)) {
    if (!value.some((v) => v === null || v === undefined)) return value.map(luaRoundTrip);
    const out: Record<string, unknown> = {};
    value.forEach((v, i) => {
      if (v !== null && v !== undefined) out[String(i + 1)] = luaRoundTrip(v);
    });
    return Object.keys(out).length ? out : [];
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === null || v === undefined) continue;
      // defineProperty: a member named __proto__ stays a member, as in a Lua table
      Object.defineProperty(out, k, { value: luaRoundTrip(v), enumerable: true, writable: true, configurable: true });
    }
    return Object.keys(out).length ? out : [];
  }
  return value;
}
