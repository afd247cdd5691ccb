/**
 * The raw query string as llm-auth needs it, without `kong.request.get_query()`.
 *
 * Why not get_query: its map crosses the plugin-server RPC with the client's keys,
 * and a key such as "__proto__" once killed the plugin server in kong-pdk's decoder;
 * a map built here has no prototype, so no client-chosen name means anything but
 * itself. Parsing follows ngx.req.get_uri_args: `&`-separated, "+" is a space,
 * percent-decoding, a name without "=" is a flag (here an empty value, which never
 * counts as a credential), a repeated name keeps its values in order.
 */

export type QueryMap = Readonly<Record<string, readonly string[]>>;

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s; // nginx leaves a malformed escape as it is
  }
}

export function parseQuery(raw: string): QueryMap {
  const out: Record<string, string[]> = Object.create(null);
  for (const piece of raw.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    const name = decode(eq === -1 ? piece : piece.slice(0, eq));
    if (name !== '') (out[name] ??= []).push(eq === -1 ? '' : decode(piece.slice(eq + 1)));
  }
  return out;
}

/**
 * The raw query without the named parameters; every other piece is kept byte for
 * byte, in order (so the upstream sees the client's own encoding).
 */
export function queryWithout(raw: string, names: readonly string[]): string {
  const drop = new Set(names);
  return raw
    .split('&')
    .filter((piece) => {
      if (piece === '') return false;
      const eq = piece.indexOf('=');
      return !drop.has(decode(eq === -1 ? piece : piece.slice(0, eq)));
    })
    .join('&');
}
