/**
 * HMAC keys of the audit chain. A record names its key by id (`chain.key_id`), never
 * carries it: keys rotate by adding a new id, and a verifier holds every id it checks.
 * Keys are text so they can come from an environment variable, a vault reference or a
 * file: `base64:<b64>`, `hex:<hex>`, or the raw UTF-8 text. At least 32 bytes (RFC 2104:
 * no shorter than the hash output, 32 bytes for SHA-256).
 * Pure: no Kong, no I/O.
 */

export const MIN_KEY_BYTES = 32;
/** Key ids end up in every record: short and plain. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** In a key ring: the key to try whatever id a record names (a single key given without id). */
export const ANY_KEY_ID = '*';

/** Key ring: key id to key bytes. */
export type KeyRing = ReadonlyMap<string, Buffer>;

/** A key or key file the chain refuses. The message never contains key material. */
export class AuditKeyError extends Error {
  override readonly name = 'AuditKeyError';
}

/** Key bytes from their text form (see the file comment). @throws AuditKeyError */
export function decodeKey(text: string): Buffer {
  if (typeof text !== 'string') throw new AuditKeyError('a key must be text');
  const t = text.trim();
  let key: Buffer;
  if (t.startsWith('base64:')) {
    const b64 = t.slice(7);
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64)) throw new AuditKeyError('a base64: key is not base64');
    key = Buffer.from(b64, 'base64');
  } else if (t.startsWith('hex:')) {
    const hex = t.slice(4);
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw new AuditKeyError('a hex: key is not hex');
    key = Buffer.from(hex, 'hex');
  } else key = Buffer.from(t, 'utf8');
  if (key.length < MIN_KEY_BYTES) throw new AuditKeyError(`a key must be at least ${MIN_KEY_BYTES} bytes`);
  return key;
}

/** Checks a key id. @throws AuditKeyError */
export function checkKeyId(id: string): string {
  if (typeof id !== 'string' || !KEY_ID_PATTERN.test(id)) throw new AuditKeyError('a key id must be 1-64 of A-Z a-z 0-9 _ . -');
  return id;
}

/**
 * A key ring from a key file: either a JSON object of key id to key text (several keys,
 * for rotation), or one key as text, filed under `keyId` (or `ANY_KEY_ID` when none is
 * given). With a JSON file, `keyId` keeps that one key only.
 * @throws AuditKeyError naming the key id at fault, never a key
 */
export function parseKeyFile(content: string, keyId?: string): KeyRing {
  if (keyId !== undefined) checkKeyId(keyId);
  const t = content.trim();
  if (!t.startsWith('{')) return new Map([[keyId ?? ANY_KEY_ID, decodeKey(t)]]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(t);
  } catch {
    throw new AuditKeyError('the key file is neither one key nor a JSON object of key id to key');
  }
  const ring = new Map<string, Buffer>();
  for (const [id, text] of Object.entries(parsed as Record<string, unknown>)) {
    checkKeyId(id);
    if (keyId !== undefined && id !== keyId) continue;
    if (typeof text !== 'string') throw new AuditKeyError(`key ${id}: must be text`);
    try {
      ring.set(id, decodeKey(text));
    } catch (e) {
      throw new AuditKeyError(`key ${id}: ${(e as Error).message}`);
    }
  }
  if (ring.size === 0) throw new AuditKeyError(keyId === undefined ? 'the key file holds no key' : `the key file has no key ${keyId}`);
  return ring;
}
