/**
 * One check over limits of several keys (a consumer's and the gateway-wide ones): one
 * atomic step on a LocalStore and a standalone Redis; on a Cluster (a client that says
 * `isCluster`, over a real standalone server here: the store's Cluster path is what is
 * under test, not Redis Cluster) one script per key, with a refund when one refuses.
 */
import type { Redis } from 'ioredis';
import { RateLimiter } from '../../../plugins/llm-rate-limit/core/limiter';
import type { LimitSpec } from '../../../plugins/llm-rate-limit/core/limits';
import { LocalStore } from '../../../plugins/llm-rate-limit/core/local-store';
import { RedisStore, type RedisClient } from '../../../plugins/llm-rate-limit/core/redis-store';
import type { LimiterStore } from '../../../plugins/llm-rate-limit/core/store';
import { cleanup, connect, uniquePrefix } from './support/redis';

const LIMITS: LimitSpec[] = [
  { id: 'tpm', unit: 'tokens', limit: 1000, window_seconds: 60 },
  { id: 'global.tpm', unit: 'tokens', limit: 1500, window_seconds: 60 },
];

let client: Redis;
let prefix: string;
beforeAll(() => {
  client = connect();
  prefix = uniquePrefix('multi');
});
afterAll(async () => {
  await cleanup(client, prefix);
  client.disconnect();
});

/** The standalone client, seen by the store as a Cluster client; counts scripts run. */
function asCluster(c: Redis): { client: RedisClient; scripts: () => number } {
  let n = 0;
  const proxy = new Proxy(c, {
    get(target, prop, receiver) {
      if (prop === 'isCluster') return true;
      const v = Reflect.get(target, prop, receiver);
      if (prop === 'evalsha' || prop === 'eval') {
        return (...args: unknown[]) => {
          n++;
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { client: proxy as unknown as RedisClient, scripts: () => n };
}

const stores: [string, () => LimiterStore][] = [
  ['LocalStore', () => new LocalStore()],
  ['RedisStore (standalone)', () => new RedisStore({ client, prefix: `${prefix}s:` })],
  ['RedisStore (Cluster path)', () => new RedisStore({ client: asCluster(client).client, prefix: `${prefix}c:` })],
];

describe.each(stores)('%s: limits of two keys in one check', (_name, make) => {
  it('charges each key its own limit and the shared key across callers; a refusal charges neither', async () => {
    const limiter = new RateLimiter(LIMITS, make());
    const keys = (who: string) => [who, '~global'];
    expect((await limiter.check(keys('a'), { tokens: 800 })).allowed).toBe(true);
    // b's own budget is untouched, but the global one has 700 left
    const refused = await limiter.check(keys('b'), { tokens: 800 });
    expect(refused.allowed).toBe(false);
    expect(refused.limits.map((l) => [l.id, l.allowed, l.remaining])).toEqual([['tpm', true, 1000], ['global.tpm', false, 700]]);
    // nothing was charged by the refusal: b can still take 700 (global's rest)
    const ok = await limiter.check(keys('b'), { tokens: 700 });
    expect(ok.allowed).toBe(true);
    expect(ok.limits.map((l) => l.remaining)).toEqual([300, 0]);
    // and the reservation settles each charge on its own key
    await limiter.adjust(ok.reservation!, { tokens: 200 });
    const after = await limiter.check(keys('c'), { tokens: 500 });
    expect(after.allowed).toBe(true);
    expect(after.limits.map((l) => l.remaining)).toEqual([500, 0]);
  });
});

it('on a Cluster, runs one script per key (each key its own slot)', async () => {
  const c = asCluster(client);
  const limiter = new RateLimiter(LIMITS, new RedisStore({ client: c.client, prefix: `${prefix}n:` }));
  await limiter.check(['x', '~global'], { tokens: 1 });
  expect(c.scripts()).toBe(2);
  await limiter.check('x', { tokens: 1 }); // one key: one script
  expect(c.scripts()).toBe(3);
});

it('on a Cluster, a slot that fails gives back what the other slot charged, and the check fails', async () => {
  const failing = new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'isCluster') return true;
      const v = Reflect.get(target, prop, receiver);
      if (prop === 'evalsha' || prop === 'eval') {
        return (...args: unknown[]) => {
          // the gateway-wide key's slot is down
          if (String(args[2]).includes('{~global}')) return Promise.reject(new Error('CLUSTERDOWN'));
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as unknown as RedisClient;
  const store = new RedisStore({ client: failing, prefix: `${prefix}f:` });
  const limiter = new RateLimiter(LIMITS, store);
  await expect(limiter.check(['alice', '~global'], { tokens: 800 })).rejects.toThrow('CLUSTERDOWN');
  // alice's slot was charged, then refunded: her whole budget is there
  const own = new RateLimiter([LIMITS[0]], new RedisStore({ client, prefix: `${prefix}f:` }));
  const r = await own.check('alice', { tokens: 1000 });
  expect(r.allowed).toBe(true);
});
