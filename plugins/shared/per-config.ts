/**
 * Kong starts one plugin instance per nginx worker for each config, and all of them
 * live in this one plugin-server process. State that must exist once per config
 * (credential caches, in-flight verifications) is shared through here, keyed by a
 * fingerprint of the config, so N workers do not mean N caches, N cold misses and N
 * calls to an identity provider. Two plugin entities with equal configs share too:
 * state that must stay per entity (a limiter's counters) needs `__plugin_id` in `config`.
 */
import crypto = require('crypto');

/** Configs remembered; an evicted entry stays alive for the instances holding it. */
const MAX_CONFIGS = 64;
const registry = new Map<string, unknown>();

/** JSON with object keys sorted: workers may receive a map's keys in another order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A stable key for one config of one kind (key order does not matter). */
export function configFingerprint(kind: string, config: unknown): string {
  return crypto.createHash('sha256').update(kind).update('\0').update(canonical(config)).digest('hex');
}

/** The one `T` for this kind and config, made on first use. */
export function sharedPerConfig<T>(kind: string, config: unknown, make: () => T): T {
  const key = configFingerprint(kind, config);
  if (registry.has(key)) return registry.get(key) as T;
  const value = make();
  registry.set(key, value);
  if (registry.size > MAX_CONFIGS) registry.delete(registry.keys().next().value!);
  return value;
}
