/**
 * LocalStore (TypeScript) and RedisStore (the Lua script) run the same algorithms: on
 * the same sequence of checks and adjustments at the same times they must decide the
 * same, number for number. Real Redis; the store's clock is injected so time is shared.
 */
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { RateLimiter, type Amounts, type CheckResult, type Reservation } from '../../../plugins/llm-rate-limit/core/limiter';
import type { LimitSpec } from '../../../plugins/llm-rate-limit/core/limits';
import { LocalStore } from '../../../plugins/llm-rate-limit/core/local-store';
import { RedisStore } from '../../../plugins/llm-rate-limit/core/redis-store';
import { cleanup, connect, uniquePrefix } from './support/redis';

type Step =
  | { dt: number; key: string; check: Amounts }
  | { dt: number; adjust: number; actual: Amounts }; // adjust the n-th admitted reservation

const LIMITS: LimitSpec[] = [
  { id: 'rpm', unit: 'requests', limit: 5, window_seconds: 10 },
  { id: 'tpm', unit: 'tokens', limit: 1000, window_seconds: 6, sub_windows: 3 },
  { id: 'burst', algorithm: 'token_bucket', unit: 'requests', limit: 3, refill_per_second: 0.7 },
  { id: 'spend', algorithm: 'token_bucket', unit: 'usd', limit: 20_000, refill_per_second: 333.3 },
];

/** What must match: everything but the store's name. */
const decision = (r: CheckResult) => ({
  allowed: r.allowed,
  limits: r.limits,
  retryAfterMs: r.retryAfterMs,
  charges: r.reservation?.charges ?? null,
  at: r.reservation?.at ?? null,
});

let client: Redis;
let prefix: string;
beforeAll(() => {
  client = connect();
  prefix = uniquePrefix('equiv');
});
afterAll(async () => {
  await cleanup(client, prefix);
  client.disconnect();
});

/** Runs `steps` on a fresh LocalStore and a fresh RedisStore namespace; returns both traces. */
async function runBoth(steps: Step[], run: number) {
  const traces: unknown[][] = [];
  for (const kind of ['local', 'redis'] as const) {
    const clock = { t: 1_700_000_000_000 + run * 7919 };
    const store = kind === 'local' ? new LocalStore({ now: () => clock.t }) : new RedisStore({ client, prefix: `${prefix}${run}:`, now: () => clock.t });
    const limiter = new RateLimiter(LIMITS, store);
    const reservations: Reservation[] = [];
    const trace: unknown[] = [];
    for (const s of steps) {
      clock.t += s.dt;
      if ('check' in s) {
        const r = await limiter.check(s.key, s.check);
        if (r.reservation) reservations.push(r.reservation);
        trace.push(decision(r));
      } else if (reservations.length > 0) {
        await limiter.adjust(reservations[s.adjust % reservations.length], s.actual);
        trace.push('adjusted');
      }
    }
    traces.push(trace);
  }
  return traces;
}

describe('LocalStore and RedisStore', () => {
  const table: [string, Step[]][] = [
    ['a burst, a refusal, then release across the window edge', [
      ...Array.from({ length: 7 }, (_, i) => ({ dt: 300 + i, key: 'a', check: { tokens: 50, usd: 1000 } })),
      { dt: 9_000, key: 'a', check: { tokens: 50, usd: 1000 } },
      { dt: 1_200, key: 'a', check: { tokens: 50, usd: 1000 } },
      { dt: 5_000, key: 'a', check: { tokens: 50, usd: 1000 } },
    ]],
    ['tokens refuse while the others allow (nothing charged)', [
      { dt: 0, key: 'b', check: { tokens: 900, usd: 10 } },
      { dt: 10, key: 'b', check: { tokens: 200, usd: 10 } },
      { dt: 10, key: 'b', check: { tokens: 100, usd: 10 } },
      { dt: 10, key: 'b', check: { tokens: 1001, usd: 10 } },
    ]],
    ['refunds and charges', [
      { dt: 0, key: 'c', check: { tokens: 800, usd: 15_000 } },
      { dt: 100, adjust: 0, actual: { tokens: 200, usd: 2_500 } },
      { dt: 100, key: 'c', check: { tokens: 700, usd: 15_000 } },
      { dt: 100, adjust: 1, actual: { tokens: 900, usd: 30_000 } },
      { dt: 100, key: 'c', check: { tokens: 0, usd: 0 } },
      { dt: 2_100, adjust: 0, actual: { tokens: 0, usd: 0 } },
      { dt: 4_000, key: 'c', check: { tokens: 100, usd: 100 } },
      { dt: 60_000, key: 'c', check: { tokens: 1000, usd: 20_000 } },
    ]],
    ['two keys interleaved', [
      { dt: 0, key: 'd1', check: { tokens: 600, usd: 1 } },
      { dt: 1, key: 'd2', check: { tokens: 600, usd: 1 } },
      { dt: 1, key: 'd1', check: { tokens: 600, usd: 1 } },
      { dt: 1, key: 'd2', check: { tokens: 400, usd: 1 } },
    ]],
    // tpm's sub-windows are 2 s: at 8 s the first bucket has left every window but is
    // still stored until this check prunes it; the refusal's retry must not count it
    ['a refusal while a bucket out of every window is still stored', [
      { dt: 0, key: 'e', check: { tokens: 600, usd: 1 } },
      { dt: 4_000, key: 'e', check: { tokens: 300, usd: 1 } },
      { dt: 4_000, key: 'e', check: { tokens: 800, usd: 1 } },
    ]],
    ['keys with braces and percent signs stay apart', [
      { dt: 0, key: '{x}', check: { tokens: 1000, usd: 1 } },
      { dt: 1, key: '%7Bx%7D', check: { tokens: 1000, usd: 1 } },
      { dt: 1, key: '{x}', check: { tokens: 1, usd: 1 } },
    ]],
  ];

  it.each(table)('decide alike: %s', async (_, steps) => {
    const [local, redis] = await runBoth(steps, table.findIndex((t) => t[1] === steps));
    expect(redis).toEqual(local);
    // Each sequence exercises both outcomes (a trace of only admissions proves little).
    const outcomes = new Set(local.filter((d) => d !== 'adjusted').map((d) => (d as { allowed: boolean }).allowed));
    expect(outcomes).toEqual(new Set([true, false]));
  });

  it('decide alike on arbitrary sequences (fast-check)', async () => {
    const amounts = fc.record({ tokens: fc.integer({ min: 0, max: 700 }), usd: fc.integer({ min: 0, max: 12_000 }) });
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ dt: fc.integer({ min: 0, max: 4_000 }), key: fc.constantFrom('p', 'q'), check: amounts }) },
      { weight: 1, arbitrary: fc.record({ dt: fc.integer({ min: 0, max: 4_000 }), adjust: fc.nat(), actual: amounts }) },
    );
    let run = 100;
    let refusals = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), async (steps) => {
        const [local, redis] = await runBoth(steps, run++);
        expect(redis).toEqual(local);
        refusals += local.filter((d) => d !== 'adjusted' && !(d as { allowed: boolean }).allowed).length;
      }),
      { numRuns: 40 },
    );
    expect(refusals).toBeGreaterThan(0);
  });
});
