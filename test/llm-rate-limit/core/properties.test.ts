/**
 * fast-check properties of the algorithms through LocalStore (RedisStore decides the
 * same: store-equivalence.test.ts): whatever the arrival times and amounts,
 * - a sliding window never has more than its limit admitted in any window of its length;
 * - a token bucket never admits more than capacity + rate x d over any interval d;
 * - reconciliation never makes usage negative (remaining never exceeds the limit, and
 *   a fresh full-limit request is admitted once everything was refunded).
 */
import fc from 'fast-check';
import { RateLimiter, type Reservation } from '../../../plugins/llm-rate-limit/core/limiter';
import { LocalStore } from '../../../plugins/llm-rate-limit/core/local-store';

const arrivals = fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3_000 }), tokens: fc.integer({ min: 0, max: 120 }) }), { minLength: 1, maxLength: 200 });

describe('limiter properties', () => {
  it('sliding_window: admitted amounts in any window never exceed the limit', async () => {
    await fc.assert(
      fc.asyncProperty(arrivals, fc.integer({ min: 1, max: 20 }), fc.constantFrom(1, 2, 5, 10), async (seq, windowS, n) => {
        const clock = { t: 1_000_003 };
        const limit = 300;
        const W = windowS * 1000;
        const limiter = new RateLimiter([{ id: 'w', unit: 'tokens', limit, window_seconds: windowS, sub_windows: n }], new LocalStore({ now: () => clock.t }));
        const admitted: { t: number; a: number }[] = [];
        for (const { dt, tokens } of seq) {
          clock.t += dt;
          if ((await limiter.check('k', { tokens })).allowed) admitted.push({ t: clock.t, a: tokens });
        }
        for (const start of admitted) {
          const inWindow = admitted.filter((x) => x.t >= start.t && x.t <= start.t + W).reduce((s, x) => s + x.a, 0);
          expect(inWindow).toBeLessThanOrEqual(limit);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('token_bucket: admitted over any interval never exceeds capacity + rate x length', async () => {
    await fc.assert(
      fc.asyncProperty(arrivals, fc.double({ min: 0.5, max: 200, noNaN: true }), async (seq, rate) => {
        const clock = { t: 0 };
        const cap = 250;
        const limiter = new RateLimiter([{ id: 'b', algorithm: 'token_bucket', unit: 'tokens', limit: cap, refill_per_second: rate }], new LocalStore({ now: () => clock.t }));
        const admitted: { t: number; a: number }[] = [];
        for (const { dt, tokens } of seq) {
          clock.t += dt;
          if ((await limiter.check('k', { tokens })).allowed) admitted.push({ t: clock.t, a: tokens });
        }
        for (let i = 0; i < admitted.length; i++) {
          let sum = 0;
          for (let j = i; j < admitted.length; j++) {
            sum += admitted[j].a;
            expect(sum).toBeLessThanOrEqual(cap + (rate * (admitted[j].t - admitted[i].t)) / 1000 + 1e-6);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('reconciliation never yields negative usage', async () => {
    const op = fc.oneof(
      fc.record({ dt: fc.integer({ min: 0, max: 5_000 }), tokens: fc.integer({ min: 0, max: 600 }), usd: fc.integer({ min: 0, max: 600 }) }),
      fc.record({ dt: fc.integer({ min: 0, max: 5_000 }), adjust: fc.nat(), tokens: fc.integer({ min: 0, max: 900 }), usd: fc.integer({ min: 0, max: 900 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), async (ops) => {
        const clock = { t: 0 };
        const limiter = new RateLimiter(
          [
            { id: 'tpm', unit: 'tokens', limit: 1000, window_seconds: 30 },
            { id: 'spend', algorithm: 'token_bucket', unit: 'usd', limit: 1000, refill_per_second: 5 },
          ],
          new LocalStore({ now: () => clock.t }),
        );
        const reservations: Reservation[] = [];
        for (const o of ops) {
          clock.t += o.dt;
          if ('adjust' in o) {
            if (reservations.length > 0) await limiter.adjust(reservations[o.adjust % reservations.length], { tokens: o.tokens, usd: o.usd });
          } else {
            const r = await limiter.check('k', { tokens: o.tokens, usd: o.usd });
            if (r.reservation) reservations.push(r.reservation);
          }
          const probe = await limiter.check('k', { tokens: 0, usd: 0 });
          for (const l of probe.limits) expect(l.remaining).toBeLessThanOrEqual(l.limit);
          if (probe.reservation) reservations.push(probe.reservation);
        }
        // Refund everything ever reserved (again and again): usage only reaches zero.
        for (const r of reservations) await limiter.adjust(r, { tokens: 0, usd: 0 });
        for (const r of reservations) await limiter.adjust(r, { tokens: 0, usd: 0 });
        const probe = await limiter.check('k', { tokens: 0, usd: 0 });
        for (const l of probe.limits) expect(l.remaining).toBeLessThanOrEqual(l.limit);
      }),
      { numRuns: 200 },
    );
  });
});
