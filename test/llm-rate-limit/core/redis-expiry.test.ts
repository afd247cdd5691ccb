/**
 * The script sets a sliding window's expiry from what it already knows (the newest
 * non-empty bucket as loaded, updated by its own writes) instead of reading the hash
 * again. These tests hold that shortcut to the definition it replaces: right after any
 * write, the key lives exactly until its newest non-empty bucket leaves every window,
 * plus the 1 s slack, as a fresh read of the hash says; and a hash with nothing left
 * in it is gone. Too short would forget usage early; too long would keep idle keys.
 */
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { prepareLimits, type PreparedSlidingWindow } from '../../../plugins/llm-rate-limit/core/limits';
import { RedisStore } from '../../../plugins/llm-rate-limit/core/redis-store';
import { cleanup, connect, uniquePrefix } from './support/redis';

const SLACK = 1000;
const LIMITS = prepareLimits([
  { id: 'tpm', unit: 'tokens', limit: 1000, window_seconds: 6, sub_windows: 3 },
  { id: 'rpm', unit: 'requests', limit: 5, window_seconds: 10 },
]) as PreparedSlidingWindow[];

let client: Redis;
let prefix: string;
beforeAll(() => {
  client = connect();
  prefix = uniquePrefix('expiry');
});
afterAll(async () => {
  await cleanup(client, prefix);
  client.disconnect();
});

/** The expiry the hash itself implies at `now`: ms to live, or null (should not exist). */
async function impliedTtl(key: string, l: PreparedSlidingWindow, now: number): Promise<number | null> {
  const fields = await client.hgetall(key);
  let newest: number | null = null;
  for (const [b, v] of Object.entries(fields)) if (Number(v) > 0 && (newest === null || Number(b) > newest)) newest = Number(b);
  return newest === null ? null : (newest + l.n + 1) * l.width - now + SLACK;
}

/** Asserts the key's PTTL is what its hash implies (real time passes between: a little less). */
async function expectExpiry(key: string, l: PreparedSlidingWindow, now: number): Promise<void> {
  const want = await impliedTtl(key, l, now);
  const ttl = await client.pttl(key);
  if (want === null) {
    expect(ttl).toBe(-2); // no such key
  } else {
    expect(ttl).toBeLessThanOrEqual(want);
    expect(ttl).toBeGreaterThan(want - 250);
  }
}

describe('RedisStore sliding-window expiry', () => {
  it('falls back to the next newest bucket when a refund empties the newest, and deletes an emptied hash', async () => {
    const clock = { t: 9_000_000 };
    const store = new RedisStore({ client, prefix: `${prefix}fixed:`, now: () => clock.t });
    const [tpm] = LIMITS;
    const key = store.keyFor('k', tpm);
    const first = await store.reserve('k', [tpm], [100]); // bucket 4500
    clock.t += 2_500; // bucket 4501
    const second = await store.reserve('k', [tpm], [300]);
    expect(second.results[0].bucket).toBe(first.results[0].bucket + 1);
    expect(await client.pttl(key)).toBeGreaterThan((4501 + 4) * 2000 - clock.t + SLACK - 250);
    await store.adjust('k', [{ limit: tpm, delta: -300, bucket: second.results[0].bucket }]);
    // only bucket 4500 is left: it leaves every window at (4500 + 4) * 2000
    expect(await client.hgetall(key)).toEqual({ [String(first.results[0].bucket)]: '100' });
    await expectExpiry(key, tpm, clock.t);
    await store.adjust('k', [{ limit: tpm, delta: -100, bucket: first.results[0].bucket }]);
    expect(await client.exists(key)).toBe(0);
  });

  it('matches a fresh read of the hash after every write, over arbitrary checks and reconciliations (fast-check)', async () => {
    type Step = { dt: number; check: [number, number] } | { dt: number; adjust: number; deltas: [number, number] };
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 3, arbitrary: fc.record({ dt: fc.integer({ min: 0, max: 5_000 }), check: fc.tuple(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 2 })) }) },
      {
        weight: 2,
        arbitrary: fc.record({ dt: fc.integer({ min: 0, max: 5_000 }), adjust: fc.nat(), deltas: fc.tuple(fc.integer({ min: -700, max: 700 }), fc.integer({ min: -2, max: 2 })) }),
      },
    );
    let run = 0;
    let written = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        const clock = { t: 1_700_000_000_000 + run * 7919 };
        const store = new RedisStore({ client, prefix: `${prefix}${run++}:`, now: () => clock.t });
        const keys = LIMITS.map((l) => store.keyFor('p', l));
        const buckets: number[][] = []; // per admitted check: the bucket of each limit
        for (const s of steps) {
          clock.t += s.dt;
          if ('check' in s) {
            const r = await store.reserve('p', LIMITS, s.check);
            if (!r.allowed) continue; // nothing written: the expiry stands as last set
            buckets.push(r.results.map((e) => e.bucket));
          } else {
            if (buckets.length === 0) continue;
            const b = buckets[s.adjust % buckets.length];
            await store.adjust('p', LIMITS.map((limit, i) => ({ limit, delta: s.deltas[i], bucket: b[i] })));
          }
          written++;
          for (let i = 0; i < LIMITS.length; i++) await expectExpiry(keys[i], LIMITS[i], clock.t);
        }
      }),
      { numRuns: 60 },
    );
    expect(written).toBeGreaterThan(0);
  });
});
