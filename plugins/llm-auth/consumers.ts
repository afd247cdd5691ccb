/**
 * Kong consumer entities by name, loaded through `kong.client.load_consumer` and kept
 * for `consumer_cache_ttl`, so a known credential costs no consumer lookup round trip.
 * A name Kong does not know is remembered briefly too: a misconfigured key must not
 * turn every request into an extra PDK call.
 */
import type { KongConsumer, KongPdk } from '../shared/pdk';

const NOT_FOUND_TTL_MS = 5000;
const MAX_ENTRIES = 10000;
/** kong.client.load_consumer raises (Kong's 500) for an id that is not a UUID. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class ConsumerCache {
  private readonly entries = new Map<string, { consumer: KongConsumer | null; until: number }>();

  constructor(
    private readonly byUsername: boolean,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The consumer named `name` (an id, or a username when byUsername), or null. */
  async get(kong: KongPdk, name: string): Promise<KongConsumer | null> {
    const now = this.now();
    const hit = this.entries.get(name);
    if (hit && hit.until > now) return hit.consumer;
    if (!this.byUsername && !UUID.test(name)) return null;
    const consumer = (await kong.client.loadConsumer(name, this.byUsername)) ?? null;
    if (this.ttlMs > 0) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(name, { consumer, until: now + (consumer ? this.ttlMs : Math.min(this.ttlMs, NOT_FOUND_TTL_MS)) });
    }
    return consumer;
  }
}
