/**
 * JSON paths as OpenAI writes them in an error's `param`: `messages[3].content`,
 * `tools[0].function.description`. One writer for every core that names a field.
 */

/** Longer member names are cut in a path: a `param` is for locating, not quoting. */
const MAX_KEY_IN_PATH = 64;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `parent` extended by an object member or an array index. */
export function joinPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (IDENTIFIER.test(key) && key.length <= MAX_KEY_IN_PATH) return parent === '' ? key : `${parent}.${key}`;
  const shown = key.length > MAX_KEY_IN_PATH ? `${key.slice(0, MAX_KEY_IN_PATH)}...` : key;
  return `${parent}[${JSON.stringify(shown)}]`;
}

/**
 * A JSON Pointer (RFC 6901, as in Ajv's `instancePath`) as a path: `/messages/0/role`
 * becomes `messages[0].role`. Segments made only of digits are read as array indexes
 * (a pointer does not say which; for OpenAI bodies they are).
 */
export function pathFromPointer(pointer: string): string {
  let out = '';
  if (pointer === '') return out;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out = joinPath(out, /^(0|[1-9][0-9]{0,8})$/.test(seg) ? Number(seg) : seg);
  }
  return out;
}
