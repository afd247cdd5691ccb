import type { Redis } from 'ioredis';
import { RateLimiter } from '../../../plugins/llm-rate-limit/core/limiter';
import type { LimitSpec } from '../../../plugins/llm-rate-limit/core/limits';
import { prepareLimits } from '../../../plugins/llm-rate-limit/core/limits';
import { RedisStore } from '../../../plugins/llm-rate-limit/core/redis-store';
import { LimitConfigError } from '../../../plugins/llm-rate-limit/core/errors';
import { cleanup, connect, uniquePrefix } from './support/redis';

const LIMITS: LimitSpec[] = [
  { id: 'rpm', unit: 'requests', limit: 3, window_seconds: 60 },
  { id: 'tpm', unit: 'tokens', limit: 1000, window_seconds: 60 },
  { id: 'spend', algorithm: 'token_bucket', unit: 'usd', limit: 5000, refill_per_second: 1 },
];

// ioredis's own slot function (no type declarations shipped).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const calculateSlot: (key: string) => number = require('cluster-key-slot');

let client: Redis;
let prefix: string;
beforeAll(() => {
  client = connect();
  prefix = uniquePrefix('store');
});
afterAll(async () => {
  await cleanup(client, prefix);
  client.disconnect();
});

describe('RedisStore', () => {
  it('decides by the Redis server clock when no clock is injected', async () => {
    const limiter = new RateLimiter(LIMITS, new RedisStore({ client, prefix }));
    const before = Date.now();
    const r = await limiter.check('clock', { tokens: 10, usd: 10 });
    expect(r.allowed).toBe(true);
    expect(Math.abs(r.reservation!.at - before)).toBeLessThan(5_000); // same host: clocks agree
    for (let i = 0; i < 2; i++) expect((await limiter.check('clock', { tokens: 10, usd: 10 })).allowed).toBe(true);
    const refused = await limiter.check('clock', { tokens: 10, usd: 10 });
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBeGreaterThan(60_000 - 5_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(66_000);
  });

  it('reloads the script after SCRIPT FLUSH (EVALSHA answers NOSCRIPT, EVAL runs it)', async () => {
    const limiter = new RateLimiter(LIMITS, new RedisStore({ client, prefix }));
    await client.script('FLUSH');
    expect((await limiter.check('flush', { tokens: 1, usd: 1 })).allowed).toBe(true);
    expect((await limiter.check('flush', { tokens: 1, usd: 1 })).allowed).toBe(true); // EVALSHA now
  });

  it('puts every key of one check in one Cluster slot, and braces in a key cannot break the tag', () => {
    const store = new RedisStore({ client, prefix });
    const limits = prepareLimits(LIMITS);
    for (const key of ['consumer-1', 'a}b{c', '{', '}{', '%7B', '']) {
      const keys = limits.map((l) => store.keyFor(key, l));
      expect(new Set(keys.map((k) => calculateSlot(k))).size).toBe(1);
      for (const k of keys) expect(k.startsWith(`${prefix}{`)).toBe(true);
    }
    expect(store.keyFor('a}b', limits[0])).not.toBe(store.keyFor('a%7Db', limits[0]));
  });

  it('sets an expiry on every key it writes, and deletes a drained bucket', async () => {
    const clock = { t: 5_000_000 };
    const store = new RedisStore({ client, prefix, now: () => clock.t });
    const limiter = new RateLimiter(LIMITS, store);
    const r = await limiter.check('ttl', { tokens: 100, usd: 3 });
    const keys = prepareLimits(LIMITS).map((l) => store.keyFor('ttl', l));
    const ttls = await Promise.all(keys.map((k) => client.pttl(k)));
    // Sliding windows: until bucket 833 (4,998 s) leaves, at 5,064 s; token bucket: 3 s;
    // each plus 1 s of slack. Real time passes meanwhile: allow a few ms.
    for (const [ttl, want] of ttls.map((t, i) => [t, [65_000, 65_000, 4_000][i]])) {
      expect(ttl).toBeLessThanOrEqual(want);
      expect(ttl).toBeGreaterThan(want - 500);
    }
    await limiter.adjust(r.reservation!, { tokens: 100, usd: 0 });
    expect(await client.exists(keys[2])).toBe(0);
  });

  it('refuses a prefix with braces', () => {
    expect(() => new RedisStore({ client, prefix: 'a{b}' })).toThrow(LimitConfigError);
  });
});
