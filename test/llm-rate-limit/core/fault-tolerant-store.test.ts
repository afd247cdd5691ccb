import { StoreTimeoutError, StoreUnavailableError } from '../../../plugins/llm-rate-limit/core/errors';
import { FaultTolerantStore, type FaultReport } from '../../../plugins/llm-rate-limit/core/fault-tolerant-store';
import { RateLimiter } from '../../../plugins/llm-rate-limit/core/limiter';
import type { LimitSpec } from '../../../plugins/llm-rate-limit/core/limits';
import { LocalStore } from '../../../plugins/llm-rate-limit/core/local-store';
import { createRedisClient } from '../../../plugins/llm-rate-limit/core/redis-client';
import { RedisStore, type RedisClient } from '../../../plugins/llm-rate-limit/core/redis-store';
import type { LimiterStore } from '../../../plugins/llm-rate-limit/core/store';
import { sparePort, TestRedisServer } from './support/redis-server';

const LIMITS: LimitSpec[] = [
  { id: 'rpm', unit: 'requests', limit: 1000, window_seconds: 60 },
  { id: 'tpm', unit: 'tokens', limit: 100_000, window_seconds: 60 },
];
const TIMEOUT_MS = 150;
/** A check may take the timeout plus scheduling on a loaded 2-core machine. */
const MARGIN_MS = 150;

/** Resolves once the client is connected (no offline queue: a command before would fail). */
const connected = (client: RedisClient) =>
  new Promise<void>((resolve) => (client.status === 'ready' ? resolve() : client.once('ready', () => resolve())));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function timed<T>(p: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const t0 = performance.now();
  try {
    const value = await p;
    return { ms: performance.now() - t0, value };
  } catch (error) {
    return { ms: performance.now() - t0, error };
  }
}

function setup(client: RedisClient, faultTolerant: boolean) {
  const faults: FaultReport[] = [];
  let recoveries = 0;
  const store = new FaultTolerantStore({
    primary: new RedisStore({ client, prefix: `test:llm-rl:faults:${process.pid}:` }),
    fallback: new LocalStore(),
    faultTolerant,
    timeoutMs: TIMEOUT_MS,
    retryAfterMs: 100,
    reportIntervalMs: 60_000,
    onFault: (f) => faults.push(f),
    onRecover: () => recoveries++,
  });
  return { store, faults, recoveries: () => recoveries, limiter: new RateLimiter(LIMITS, store) };
}

describe('FaultTolerantStore over a real Redis that fails', () => {
  let server: TestRedisServer;
  let client: RedisClient;
  beforeAll(async () => {
    server = new TestRedisServer(await sparePort());
    await server.start();
  });
  afterAll(async () => {
    client?.disconnect();
    await server.stop();
  });
  beforeEach(async () => {
    await server.start().catch(() => undefined);
    client = createRedisClient({ mode: 'standalone', port: server.port, commandTimeoutMs: TIMEOUT_MS, connectTimeoutMs: 300 });
    await connected(client);
  });
  afterEach(async () => {
    server.resume(); // first: a client leaving a stopped server waits on its socket
    client.disconnect();
    await server.stop();
  });

  it('falls back to the local store within the timeout, reports once, and recovers', async () => {
    const { limiter, faults, recoveries, store } = setup(client, true);
    expect((await limiter.check('k', { tokens: 10 })).reservation!.source).toBe('redis');
    await server.stop();
    for (let i = 0; i < 20; i++) {
      const r = await timed(limiter.check('k', { tokens: 10 }));
      expect(r.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
      expect(r.value!.allowed).toBe(true);
      expect(r.value!.reservation!.source).toBe('local');
    }
    expect(faults).toHaveLength(1); // once per interval, however many checks
    expect(store.degraded).toBe(true);
    await server.start();
    let source = '';
    for (let i = 0; i < 100 && source !== 'redis'; i++) {
      await sleep(50);
      source = (await limiter.check('k', { tokens: 10 })).reservation!.source;
    }
    expect(source).toBe('redis');
    expect(recoveries()).toBe(1);
    expect(store.degraded).toBe(false);
  });

  it('throws StoreUnavailableError within the timeout when not fault tolerant', async () => {
    const { limiter } = setup(client, false);
    await server.stop();
    for (let i = 0; i < 5; i++) {
      const r = await timed(limiter.check('k', { tokens: 10 }));
      expect(r.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
      expect(r.error).toBeInstanceOf(StoreUnavailableError);
    }
  });

  it('answers within the timeout when Redis hangs (SIGSTOP), then uses it again once resumed', async () => {
    const { limiter, faults } = setup(client, true);
    server.pause();
    const r = await timed(limiter.check('k', { tokens: 10 }));
    expect(r.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
    expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
    expect(r.value!.reservation!.source).toBe('local');
    // Skipped while known down: no further wait for the next checks.
    expect((await timed(limiter.check('k', { tokens: 10 }))).ms).toBeLessThan(50);
    expect((faults[0].error as Error).name).toMatch(/StoreTimeoutError|Error/);
    server.resume();
    let source = '';
    for (let i = 0; i < 100 && source !== 'redis'; i++) {
      await sleep(50);
      source = (await limiter.check('k', { tokens: 10 })).reservation!.source;
    }
    expect(source).toBe('redis');
  });

  it('sends the reconciliation of a fallback reservation to the local store', async () => {
    const { limiter } = setup(client, true);
    await server.stop();
    const r = await limiter.check('adj', { tokens: 90_000 });
    expect(r.reservation!.source).toBe('local');
    await limiter.adjust(r.reservation!, { tokens: 1000 });
    const next = await limiter.check('adj', { tokens: 0 });
    expect(next.limits[1].remaining).toBe(99_000);
  });
});

describe('FaultTolerantStore against a closed port', () => {
  it('answers every check within the timeout from the first one', async () => {
    const client = createRedisClient({ mode: 'standalone', port: await sparePort(), commandTimeoutMs: TIMEOUT_MS, connectTimeoutMs: 300 });
    try {
      const { limiter, faults } = setup(client, true);
      for (let i = 0; i < 10; i++) {
        const r = await timed(limiter.check('k', { tokens: 1 }));
        expect(r.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
        expect(r.value!.reservation!.source).toBe('local');
        await sleep(20);
      }
      expect(faults).toHaveLength(1);
    } finally {
      client.disconnect();
    }
  });
});

describe('FaultTolerantStore policy', () => {
  /** A primary that fails while `failing`, hangs while `hanging`. */
  function flaky() {
    const state = { failing: false, hanging: false, calls: 0 };
    const local = new LocalStore();
    const primary: LimiterStore = {
      name: 'primary',
      reserve: (...a) => {
        state.calls++;
        if (state.hanging) return new Promise(() => undefined);
        return state.failing ? Promise.reject(new Error('down')) : local.reserve(...a).then((r) => ({ ...r, source: 'primary' }));
      },
      adjust: (key, items) => (state.failing ? Promise.reject(new Error('down')) : local.adjust(key, items)),
    };
    return { state, primary };
  }

  it('reports a fault at most once per interval, with the count it did not report', async () => {
    const clock = { t: 0 };
    const { state, primary } = flaky();
    const faults: FaultReport[] = [];
    const store = new FaultTolerantStore({
      primary, fallback: new LocalStore({ now: () => clock.t }), faultTolerant: true,
      reportIntervalMs: 10_000, retryAfterMs: 0, onFault: (f) => faults.push(f), now: () => clock.t,
    });
    const limiter = new RateLimiter(LIMITS, store);
    state.failing = true;
    for (let i = 0; i < 5; i++) { clock.t += 1000; await limiter.check('k', { tokens: 1 }); }
    expect(faults.map((f) => f.suppressed)).toEqual([0]);
    clock.t += 10_000;
    await limiter.check('k', { tokens: 1 });
    expect(faults.map((f) => f.suppressed)).toEqual([0, 4]);
  });

  it('skips the primary for retryAfterMs after a fault, then tries it again', async () => {
    const clock = { t: 0 };
    const { state, primary } = flaky();
    const store = new FaultTolerantStore({ primary, fallback: new LocalStore(), faultTolerant: true, retryAfterMs: 1000, now: () => clock.t });
    const limiter = new RateLimiter(LIMITS, store);
    state.failing = true;
    await limiter.check('k', { tokens: 1 });
    expect(state.calls).toBe(1);
    clock.t += 999;
    await limiter.check('k', { tokens: 1 });
    expect(state.calls).toBe(1);
    state.failing = false;
    clock.t += 1;
    expect((await limiter.check('k', { tokens: 1 })).reservation!.source).toBe('primary');
  });

  it('times a hung primary out with StoreTimeoutError as the cause', async () => {
    const { state, primary } = flaky();
    state.hanging = true;
    const faults: FaultReport[] = [];
    const store = new FaultTolerantStore({ primary, fallback: new LocalStore(), faultTolerant: false, timeoutMs: 50, onFault: (f) => faults.push(f) });
    const limiter = new RateLimiter(LIMITS, store);
    const r = await timed(limiter.check('k', { tokens: 1 }));
    expect(r.ms).toBeLessThan(50 + MARGIN_MS);
    expect(r.error).toBeInstanceOf(StoreUnavailableError);
    expect((r.error as StoreUnavailableError).cause).toBeInstanceOf(StoreTimeoutError);
    expect(faults[0].error).toBeInstanceOf(StoreTimeoutError);
  });

  it('keeps deciding when the fault callback throws', async () => {
    const { state, primary } = flaky();
    state.failing = true;
    const store = new FaultTolerantStore({ primary, fallback: new LocalStore(), faultTolerant: true, onFault: () => { throw new Error('x'); } });
    expect((await new RateLimiter(LIMITS, store).check('k', { tokens: 1 })).allowed).toBe(true);
  });
});
