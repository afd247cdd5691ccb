import { LimitConfigError, LimiterInputError } from '../../../plugins/llm-rate-limit/core/errors';
import { RateLimiter } from '../../../plugins/llm-rate-limit/core/limiter';
import type { LimitSpec } from '../../../plugins/llm-rate-limit/core/limits';
import { LocalStore } from '../../../plugins/llm-rate-limit/core/local-store';

/** A limiter over a LocalStore whose clock the test moves. */
function setup(specs: LimitSpec[], start = 1_000_000) {
  const clock = { t: start };
  const store = new LocalStore({ now: () => clock.t });
  return { clock, store, limiter: new RateLimiter(specs, store) };
}

describe('RateLimiter sliding_window', () => {
  it('never admits more than the limit in any window across a fixed-window edge', async () => {
    // 10 per 10 s. A fixed window would take 10 at 9.9 s and 10 more at 10.0 s.
    const { clock, limiter } = setup([{ id: 'rpm', unit: 'requests', limit: 10, window_seconds: 10 }], 0);
    const admitted: number[] = [];
    for (let t = 9_000; t < 12_000; t += 50) {
      clock.t = t;
      if ((await limiter.check('k')).allowed) admitted.push(t);
    }
    expect(admitted.length).toBe(10);
    for (const s of admitted) expect(admitted.filter((t) => t >= s && t <= s + 10_000).length).toBeLessThanOrEqual(10);
  });

  it('releases a charge between one window and one window plus a sub-window later', async () => {
    const { clock, limiter } = setup([{ id: 'w', unit: 'requests', limit: 1, window_seconds: 10 }], 12_345);
    expect((await limiter.check('k')).allowed).toBe(true);
    const refused = await limiter.check('k');
    expect(refused.allowed).toBe(false);
    const retry = refused.retryAfterMs!;
    expect(retry).toBeGreaterThanOrEqual(10_000);
    expect(retry).toBeLessThanOrEqual(11_000);
    clock.t += retry - 1;
    expect((await limiter.check('k')).allowed).toBe(false);
    clock.t += 1;
    expect((await limiter.check('k')).allowed).toBe(true);
  });

  it('reports remaining, limit and reset', async () => {
    const { limiter } = setup([{ id: 'tpm', unit: 'tokens', limit: 1000, window_seconds: 60 }], 60_000);
    const r = await limiter.check('k', { tokens: 300 });
    expect(r.limits[0]).toEqual({ id: 'tpm', unit: 'tokens', allowed: true, limit: 1000, remaining: 700, resetMs: 66_000, retryAfterMs: 0 });
  });

  it('keeps keys apart', async () => {
    const { limiter } = setup([{ id: 'w', unit: 'requests', limit: 1, window_seconds: 1 }]);
    expect((await limiter.check('a')).allowed).toBe(true);
    expect((await limiter.check('b')).allowed).toBe(true);
    expect((await limiter.check('a')).allowed).toBe(false);
  });

  it('refuses an amount larger than the limit with retryAfterMs null', async () => {
    const { limiter } = setup([{ id: 'tpm', unit: 'tokens', limit: 100, window_seconds: 60 }]);
    const r = await limiter.check('k', { tokens: 101 });
    expect(r).toMatchObject({ allowed: false, retryAfterMs: null, reservation: null });
  });
});

describe('RateLimiter token_bucket', () => {
  it('admits a burst up to the capacity, then refills at the rate', async () => {
    const { clock, limiter } = setup([{ id: 'tb', algorithm: 'token_bucket', unit: 'requests', limit: 5, refill_per_second: 2 }]);
    for (let i = 0; i < 5; i++) expect((await limiter.check('k')).allowed).toBe(true);
    const refused = await limiter.check('k');
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBe(500);
    clock.t += 499;
    expect((await limiter.check('k')).allowed).toBe(false);
    clock.t += 1;
    const ok = await limiter.check('k');
    expect(ok.allowed).toBe(true);
    expect(ok.limits[0]).toMatchObject({ remaining: 0, resetMs: 2500 });
    clock.t += 10_000; // refilled to capacity, not beyond
    for (let i = 0; i < 5; i++) expect((await limiter.check('k')).allowed).toBe(true);
    expect((await limiter.check('k')).allowed).toBe(false);
  });

  it('computes the wait for a large amount from the refill rate', async () => {
    const { clock, limiter } = setup([{ id: 'tb', algorithm: 'token_bucket', unit: 'tokens', limit: 1000, refill_per_second: 100 }]);
    expect((await limiter.check('k', { tokens: 900 })).allowed).toBe(true);
    const r = await limiter.check('k', { tokens: 500 });
    expect(r.retryAfterMs).toBe(4000); // 400 over capacity at 100/s
    clock.t += 4000;
    expect((await limiter.check('k', { tokens: 500 })).allowed).toBe(true);
  });
});

describe('RateLimiter with several limits', () => {
  const specs: LimitSpec[] = [
    { id: 'rpm', unit: 'requests', limit: 100, window_seconds: 60 },
    { id: 'tpm', unit: 'tokens', limit: 1000, window_seconds: 60 },
    { id: 'spend', algorithm: 'token_bucket', unit: 'usd', limit: 50_000, refill_per_second: 10 },
  ];

  it('admits only if every limit admits, and a refusal charges nothing', async () => {
    const { limiter } = setup(specs);
    const a = await limiter.check('k', { tokens: 800, usd: 10_000 });
    expect(a.allowed).toBe(true);
    const b = await limiter.check('k', { tokens: 300, usd: 10_000 }); // tokens refuse
    expect(b.allowed).toBe(false);
    expect(b.limits.map((l) => l.allowed)).toEqual([true, false, true]);
    expect(b.reservation).toBeNull();
    const c = await limiter.check('k', { tokens: 200, usd: 40_000 }); // fits exactly: b took nothing
    expect(c.allowed).toBe(true);
    expect(c.limits.map((l) => l.remaining)).toEqual([98, 0, 0]);
  });

  it('gives the largest retry-after of the refusing limits', async () => {
    const { limiter } = setup(specs);
    await limiter.check('k', { tokens: 1000, usd: 50_000 });
    const r = await limiter.check('k', { tokens: 1, usd: 20_000 });
    expect(r.limits[1].retryAfterMs).toBe(62_000); // bucket 166 (996 s) leaves at 1062 s
    expect(r.limits[2].retryAfterMs).toBe(2_000_000);
    expect(r.retryAfterMs).toBe(2_000_000);
  });

  it('throws LimiterInputError when a unit has no amount', async () => {
    const { limiter } = setup(specs);
    await expect(limiter.check('k', { tokens: 1 })).rejects.toBeInstanceOf(LimiterInputError);
    await expect(limiter.check('k', { tokens: -1, usd: 1 })).rejects.toBeInstanceOf(LimiterInputError);
    await expect(limiter.check('k', { tokens: 1.5, usd: 1 })).rejects.toBeInstanceOf(LimiterInputError);
  });
});

describe('RateLimiter.adjust', () => {
  const specs: LimitSpec[] = [
    { id: 'rpm', unit: 'requests', limit: 10, window_seconds: 60 },
    { id: 'tpm', unit: 'tokens', limit: 1000, window_seconds: 60 },
    { id: 'spend', algorithm: 'token_bucket', unit: 'usd', limit: 1000, refill_per_second: 1 },
  ];

  it('refunds what was reserved but not used on every tokens/usd limit', async () => {
    const { limiter } = setup(specs);
    const r = await limiter.check('k', { tokens: 800, usd: 900 });
    await limiter.adjust(r.reservation!, { tokens: 100, usd: 100 });
    const next = await limiter.check('k', { tokens: 0, usd: 0 });
    expect(next.limits.map((l) => l.remaining)).toEqual([8, 900, 900]);
  });

  it('charges what was used beyond the reservation', async () => {
    const { limiter } = setup(specs);
    const r = await limiter.check('k', { tokens: 100, usd: 100 });
    await limiter.adjust(r.reservation!, { tokens: 1200, usd: 1100 });
    const next = await limiter.check('k', { tokens: 0, usd: 0 });
    expect(next.allowed).toBe(false); // usage past the limit: even 0 more waits
    expect(next.limits.map((l) => l.remaining)).toEqual([9, 0, 0]);
  });

  it('never takes usage below zero', async () => {
    const { clock, limiter } = setup(specs);
    const r = await limiter.check('k', { tokens: 500, usd: 500 });
    clock.t += 400_000; // the usd bucket drained meanwhile
    await limiter.adjust(r.reservation!, { tokens: 0, usd: 0 });
    await limiter.adjust(r.reservation!, { tokens: 0, usd: 0 }); // twice: still not negative
    const next = await limiter.check('k', { tokens: 1000, usd: 1000 });
    expect(next.allowed).toBe(true);
    expect(next.limits.map((l) => l.remaining)).toEqual([9, 0, 0]);
  });

  it('leaves a unit without an actual amount as reserved', async () => {
    const { limiter } = setup(specs);
    const r = await limiter.check('k', { tokens: 500, usd: 500 });
    await limiter.adjust(r.reservation!, { tokens: 100 });
    const next = await limiter.check('k', { tokens: 0, usd: 0 });
    expect(next.limits.map((l) => l.remaining)).toEqual([8, 900, 500]);
  });
});

describe('prepareLimits (through RateLimiter)', () => {
  const store = new LocalStore();
  it.each<[string, LimitSpec[]]>([
    ['no limits', []],
    ['a duplicate id', [{ id: 'a', unit: 'requests', limit: 1, window_seconds: 1 }, { id: 'a', unit: 'requests', limit: 1, window_seconds: 1 }]],
    ['a zero limit', [{ id: 'a', unit: 'requests', limit: 0, window_seconds: 1 }]],
    ['a fractional limit', [{ id: 'a', unit: 'usd', limit: 1.5, window_seconds: 1 }]],
    ['no window', [{ id: 'a', unit: 'requests', limit: 1 }]],
    ['a window not divisible into sub-windows', [{ id: 'a', unit: 'requests', limit: 1, window_seconds: 0.001 }]],
    ['a token bucket without refill', [{ id: 'a', algorithm: 'token_bucket', unit: 'requests', limit: 1 }]],
    ['a token bucket with a window', [{ id: 'a', algorithm: 'token_bucket', unit: 'requests', limit: 1, refill_per_second: 1, window_seconds: 1 }]],
    ['an id with a brace', [{ id: 'a{b}', unit: 'requests', limit: 1, window_seconds: 1 }]],
    ['an unknown unit', [{ id: 'a', unit: 'eur' as 'usd', limit: 1, window_seconds: 1 }]],
  ])('rejects %s', (_, specs) => {
    expect(() => new RateLimiter(specs, store)).toThrow(LimitConfigError);
  });
});

describe('LocalStore memory', () => {
  it('forgets a key once its usage has drained', async () => {
    const { clock, store, limiter } = setup([
      { id: 'w', unit: 'requests', limit: 5, window_seconds: 10 },
      { id: 'b', algorithm: 'token_bucket', unit: 'requests', limit: 5, refill_per_second: 1 },
    ], 0);
    for (let i = 0; i < 100; i++) await limiter.check(`k${i}`);
    expect(store.size).toBe(200);
    clock.t += 11_000;
    store.sweep(clock.t, Infinity);
    expect(store.size).toBe(0);
  });

  it('sweeps drained entries a few per call', async () => {
    const { clock, store, limiter } = setup([{ id: 'w', unit: 'requests', limit: 5, window_seconds: 1 }], 0);
    for (let i = 0; i < 40; i++) await limiter.check(`k${i}`);
    clock.t += 2000;
    for (let i = 0; i < 20; i++) await limiter.check('other');
    expect(store.size).toBe(1);
  });

  it('caps entries, dropping the least recently used', async () => {
    const clock = { t: 0 };
    const store = new LocalStore({ now: () => clock.t, maxEntries: 10 });
    const limiter = new RateLimiter([{ id: 'w', unit: 'requests', limit: 1, window_seconds: 60 }], store);
    for (let i = 0; i < 50; i++) await limiter.check(`k${i}`);
    expect(store.size).toBe(10);
    expect(store.evictions).toBe(40);
    expect((await limiter.check('k49')).allowed).toBe(false); // recent: kept
  });
});
