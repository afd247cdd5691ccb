/**
 * A bounded LRU cache whose entries each carry their own expiry. A Map keeps insertion
 * order, so re-inserting on access makes its first key the least recently used.
 *
 * Used for verified credentials, keyed by SHA-256 of the credential (never the
 * credential itself); the caller picks each entry's expiry, never past the credential's.
 */
export class LruTtlCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();

  /** @param maxEntries 0 disables the cache: `set` stores nothing. */
  constructor(private readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new RangeError('maxEntries must be a non-negative integer');
  }

  get size(): number {
    return this.entries.size;
  }

  /** The value if present and `now` is before its expiry; an expired entry is dropped. */
  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (now >= entry.expiresAt) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Stores the value until `expiresAtMs`, evicting the least recently used entry when full. */
  set(key: string, value: V, expiresAtMs: number): void {
    if (this.maxEntries === 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: expiresAtMs });
    if (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value as string);
    }
  }
}
