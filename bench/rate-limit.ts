/**
 * llm-rate-limit core vs rate-limiter-flexible, side by side in one run on one Redis.
 *
 * Checks per second and per-check latency (p50/p99) of:
 * - ours: `RateLimiter.check` over LocalStore, RedisStore (one EVALSHA per check) and
 *   FaultTolerantStore (RedisStore primary, LocalStore fallback; a fallback during the
 *   bench counts as an error);
 * - rate-limiter-flexible: RateLimiterMemory.consume and RateLimiterRedis.consume.
 *
 * Two shapes: one limit (60 requests/min; flexible: points 60, duration 60) and three
 * limits at once (60 requests/min + 100,000 tokens/min + 1,000,000 tokens/day, 1,000
 * tokens a check). rate-limiter-flexible checks several limits with RateLimiterUnion,
 * but a union consumes the same points on every limiter, so it cannot charge 1 request
 * and 1,000 tokens in one call; the three limiters are consumed one after the other
 * (stopping at the first refusal: the baseline), and for Redis also all three at once
 * with Promise.all (RateLimiterUnion's own mechanics, with per-limiter points). Neither
 * is atomic across limits: a refusal by one leaves the others charged, and a refused
 * consume still increments its counter; ours charges nothing when it refuses.
 *
 * Two outcomes: admitted (keys spread over 1,000 consumers; every case and round
 * starts from fresh keys, and at most BENCH_RL_CHECKS checks per case and round, 30 per
 * key at the default, so all are admitted) and refused (one hot key, exhausted before
 * the timed loop). Concurrency: one check at a time, and BENCH_RL_IN_FLIGHT (64) in
 * flight for the Redis stores (per-check latency then includes the wait in the pipe).
 *
 * A warm-up round, then BENCH_RL_ROUNDS (5) rounds of every case, in reverse order
 * every other round; each case stops at BENCH_RL_CHECKS (30,000) checks or
 * BENCH_RL_MS (200) ms. Ratios are medians of per-round ratios against the same
 * shape, outcome and concurrency of RateLimiterMemory (in-process rows) or
 * RateLimiterRedis (Redis rows). Also per check: this process's CPU time (user +
 * system), and the Redis server's time in EVALSHA (INFO commandstats, before and after
 * the case; counted only in rounds where the server's EVALSHA count grew by exactly
 * this case's, i.e. no other client ran one meanwhile: "n/a" when no round was clean).
 * Redis: REDIS_HOST/REDIS_PORT (127.0.0.1:6379); every key is under a prefix unique to
 * this run and deleted after each case and at the end.
 */
import crypto = require('crypto');
import os = require('os');
import { performance } from 'perf_hooks';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import {
  createRedisClient, FaultTolerantStore, LocalStore, RateLimiter, RedisStore,
  type LimiterStore, type LimitSpec, type RedisClient,
} from '../plugins/llm-rate-limit/core';
import { median, percentile } from './harness';

const ROUNDS = Number(process.env.BENCH_RL_ROUNDS ?? 5);
const CASE_MS = Number(process.env.BENCH_RL_MS ?? 200);
const MAX_CHECKS = Number(process.env.BENCH_RL_CHECKS ?? 30_000);
const IN_FLIGHT = Number(process.env.BENCH_RL_IN_FLIGHT ?? 64);
const CONSUMERS = 1000;
const TOKENS = 1000;
const PREFIX = `bench-rl:${process.pid}:${crypto.randomBytes(4).toString('hex')}:`;

interface Limit {
  id: string;
  unit: 'requests' | 'tokens';
  limit: number;
  seconds: number;
}

const SHAPES: Record<string, Limit[]> = {
  'one limit': [{ id: 'rpm', unit: 'requests', limit: 60, seconds: 60 }],
  'three limits': [
    { id: 'rpm', unit: 'requests', limit: 60, seconds: 60 },
    { id: 'tpm', unit: 'tokens', limit: 100_000, seconds: 60 },
    { id: 'tpd', unit: 'tokens', limit: 1_000_000, seconds: 86_400 },
  ],
};

type Outcome = 'admitted' | 'refused';

/** One limiter set up for one case and round: `check` answers admitted (true) or refused. */
interface Instance {
  check(key: string): Promise<boolean>;
  /** The Redis keys `check` wrote for these caller keys (deleted after the case). */
  redisKeys(keys: readonly string[]): string[];
  /** Checks that were not decided as this case claims (e.g. a fallback to LocalStore). */
  anomalies(): number;
  /** EVALSHAs one check sends (0: in-process). */
  scriptsPerCheck(outcome: Outcome): number;
}

interface Impl {
  name: string;
  /** The flexible limiter this row is compared with ('memory' | 'redis'); itself when it is one. */
  baseline: 'memory' | 'redis';
  isBaseline: boolean;
  redis: boolean;
  shapes?: string[];
  make(limits: Limit[], ns: string, client: RedisClient): Instance;
}

const specsOf = (limits: Limit[]): LimitSpec[] => limits.map((l) => ({ id: l.id, unit: l.unit, limit: l.limit, window_seconds: l.seconds }));

/** `store` builds the store for one case; `keys` is the RedisStore whose keys it writes, if any. */
type OurStore = (ns: string, client: RedisClient, faults: { n: number }) => { store: LimiterStore; keys?: RedisStore };

function ours(make: OurStore): Impl['make'] {
  return (limits, ns, client) => {
    const faults = { n: 0 };
    const { store, keys: keyStore } = make(ns, client, faults);
    const limiter = new RateLimiter(specsOf(limits), store);
    return {
      async check(key) {
        return (await limiter.check(key, { tokens: TOKENS })).allowed;
      },
      redisKeys: (keys) => (keyStore ? keys.flatMap((k) => limiter.limits.map((l) => keyStore.keyFor(k, l))) : []),
      anomalies: () => faults.n,
      scriptsPerCheck: () => (keyStore ? 1 : 0),
    };
  };
}

const pointsOf = (l: Limit) => (l.unit === 'requests' ? 1 : TOKENS);

/** A consume's outcome: a RateLimiterRes rejection is a refusal, anything else an error. */
async function consume(limiter: RateLimiterAbstract, key: string, points: number): Promise<boolean> {
  try {
    await limiter.consume(key, points);
    return true;
  } catch (err) {
    if (err instanceof RateLimiterRes) return false;
    throw err;
  }
}

function flexible(kind: 'memory' | 'redis', parallel: boolean): Impl['make'] {
  return (limits, ns, client) => {
    const limiters = limits.map((l) =>
      kind === 'memory'
        ? new RateLimiterMemory({ keyPrefix: `${ns}:${l.id}`, points: l.limit, duration: l.seconds })
        : new RateLimiterRedis({ storeClient: client, keyPrefix: `${PREFIX}${ns}:${l.id}`, points: l.limit, duration: l.seconds }),
    );
    const points = limits.map(pointsOf);
    return {
      async check(key) {
        if (parallel) return (await Promise.all(limiters.map((x, i) => consume(x, key, points[i])))).every(Boolean);
        for (let i = 0; i < limiters.length; i++) if (!(await consume(limiters[i], key, points[i]))) return false;
        return true;
      },
      redisKeys: (keys) => (kind === 'redis' ? keys.flatMap((k) => limiters.map((x) => x.getKey(k))) : []),
      anomalies: () => 0,
      // in sequence, a refusal by the first limiter ends the check
      scriptsPerCheck: (outcome) => (kind === 'memory' ? 0 : parallel || outcome === 'admitted' ? limiters.length : 1),
    };
  };
}

const IMPLS: Impl[] = [
  { name: 'RateLimiterMemory', baseline: 'memory', isBaseline: true, redis: false, make: flexible('memory', false) },
  { name: 'ours, LocalStore', baseline: 'memory', isBaseline: false, redis: false, make: ours(() => ({ store: new LocalStore() })) },
  { name: 'RateLimiterRedis', baseline: 'redis', isBaseline: true, redis: true, make: flexible('redis', false) },
  {
    name: 'RateLimiterRedis, 3 at once (Promise.all)',
    baseline: 'redis',
    isBaseline: false,
    redis: true,
    shapes: ['three limits'],
    make: flexible('redis', true),
  },
  {
    name: 'ours, RedisStore',
    baseline: 'redis',
    isBaseline: false,
    redis: true,
    make: ours((ns, client) => {
      const redis = new RedisStore({ client, prefix: `${PREFIX}${ns}:` });
      return { store: redis, keys: redis };
    }),
  },
  {
    name: 'ours, FaultTolerantStore (Redis, Local fallback)',
    baseline: 'redis',
    isBaseline: false,
    redis: true,
    make: ours((ns, client, faults) => {
      const redis = new RedisStore({ client, prefix: `${PREFIX}${ns}:` });
      const local = new LocalStore();
      // every check the fallback decides (admitted or refused) is counted
      const fallback: LimiterStore = {
        name: local.name,
        reserve: (...a) => (faults.n++, local.reserve(...a)),
        adjust: (key, items) => local.adjust(key, items),
      };
      const store = new FaultTolerantStore({ primary: redis, fallback, faultTolerant: true });
      return { store, keys: redis };
    }),
  },
];

interface Case {
  impl: Impl;
  shape: string;
  outcome: Outcome;
  inFlight: number;
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  checks: number;
  /** Node CPU time (user + system) per check, µs. */
  cpu: number;
  /** Redis server time in EVALSHA per check, µs (INFO commandstats); null when the
   * server counted other clients' EVALSHAs in the same interval (shared Redis). */
  redis: number | null;
}

/** The server's EVALSHA totals (every client's). */
async function evalshaStats(client: RedisClient): Promise<{ calls: number; usec: number }> {
  const info = await (client as import('ioredis').Redis).info('commandstats');
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(info);
  return m ? { calls: Number(m[1]), usec: Number(m[2]) } : { calls: 0, usec: 0 };
}

const consumerKeys = Array.from({ length: CONSUMERS }, (_, i) => `consumer-${i}`);
const HOT = ['hot-consumer'];
const PRIME = ['prime-consumer'];

let nsCounter = 0;

/** Runs one case once on fresh keys; returns its sample and its errors. */
async function runCase(c: Case, client: RedisClient, maxMs: number): Promise<{ sample: Sample; errors: number; notes: string[] }> {
  const ns = `n${nsCounter++}`;
  const inst = c.impl.make(SHAPES[c.shape], ns, client);
  const keys = c.outcome === 'admitted' ? consumerKeys : HOT;
  const notes: string[] = [];
  let errors = 0;
  try {
    // a new RateLimiterRedis sends its script's first call as EVAL (ioredis defines a
    // command per limiter): made here, untimed, as a long-lived limiter would have
    await inst.check(PRIME[0]);
    if (c.outcome === 'refused') {
      let n = 0;
      while (n < 1000 && (await inst.check(HOT[0]))) n++;
      if (n !== 60) notes.push(`hot key refused after ${n} checks, not 60`);
    }
    const latencies = new Float64Array(MAX_CHECKS);
    let next = 0;
    let done = 0;
    let wrong = 0;
    const want = c.outcome === 'admitted';
    const scripts = inst.scriptsPerCheck(c.outcome);
    const stats0 = scripts > 0 ? await evalshaStats(client) : null;
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    const deadline = start + maxMs;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= MAX_CHECKS) return;
        const t0 = performance.now();
        if (t0 > deadline) return;
        try {
          if ((await inst.check(keys[i % keys.length])) !== want) wrong++;
        } catch {
          errors++;
        }
        latencies[done++] = performance.now() - t0;
      }
    };
    await Promise.all(Array.from({ length: c.inFlight }, worker));
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpu0);
    let redis: number | null = null;
    if (stats0) {
      const stats1 = await evalshaStats(client);
      if (stats1.calls - stats0.calls === done * scripts) redis = (stats1.usec - stats0.usec) / done;
    }
    const sorted = Array.from(latencies.subarray(0, done)).sort((a, b) => a - b);
    if (wrong > 0) notes.push(`${wrong} checks not ${c.outcome}`);
    const anomalies = inst.anomalies();
    if (anomalies > 0) notes.push(`${anomalies} checks decided by the fallback`);
    errors += wrong + anomalies;
    const sample = { rps: done / seconds, p50: percentile(sorted, 50) * 1000, p99: percentile(sorted, 99) * 1000, checks: done, cpu: (cpu.user + cpu.system) / done, redis };
    return { sample, errors, notes };
  } finally {
    const written = inst.redisKeys([...keys, ...PRIME]);
    for (let i = 0; i < written.length; i += 500) await client.unlink(...written.slice(i, i + 500));
  }
}

/** Waits for the connection (5 s at most); connection errors are kept for the message, not printed one by one. */
async function ready(client: RedisClient, where: string): Promise<void> {
  let last = '';
  client.on('error', (err: Error) => (last = err.message));
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the rate-limit bench needs Redis at ${where} (REDIS_HOST/REDIS_PORT): not ready within 5 s${last ? `: ${last}` : ''}`)), 5000);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Deletes whatever is left under this run's prefix (a case cut short by an error). */
async function sweep(client: RedisClient): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [nextCursor, found] = await (client as import('ioredis').Redis).scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    cursor = nextCursor;
    if (found.length > 0) n += await client.unlink(...found);
  } while (cursor !== '0');
  return n;
}

export async function benchRateLimit(): Promise<number> {
  const host = process.env.REDIS_HOST ?? '127.0.0.1';
  const port = Number(process.env.REDIS_PORT ?? 6379);
  const client = createRedisClient({ mode: 'standalone', host, port });
  const began = performance.now();
  let errors = 0;
  try {
    await ready(client, `${host}:${port}`);
    const cases: Case[] = [];
    for (const shape of Object.keys(SHAPES)) {
      for (const outcome of ['admitted', 'refused'] as const) {
        for (const impl of IMPLS) {
          if (impl.shapes && !impl.shapes.includes(shape)) continue;
          cases.push({ impl, shape, outcome, inFlight: 1 });
          if (impl.redis) cases.push({ impl, shape, outcome, inFlight: IN_FLIGHT });
        }
      }
    }
    const samples: Sample[][] = cases.map(() => []);
    const notes = new Map<number, Set<string>>();
    for (let round = 0; round <= ROUNDS; round++) {
      const order = cases.map((_, i) => i);
      if (round % 2 === 0) order.reverse();
      for (const i of order) {
        const r = await runCase(cases[i], client, round === 0 ? CASE_MS / 2 : CASE_MS);
        errors += r.errors;
        for (const n of r.notes) (notes.get(i) ?? notes.set(i, new Set()).get(i)!).add(n);
        if (round > 0) samples[i].push(r.sample);
      }
    }

    const baselineOf = (c: Case) =>
      cases.findIndex((b) => b.impl.isBaseline && b.impl.baseline === c.impl.baseline && b.shape === c.shape && b.outcome === c.outcome && b.inFlight === c.inFlight);
    const ratio = (i: number, k: 'rps' | 'p50' | 'p99') => {
      const b = baselineOf(cases[i]);
      return median(samples[i].map((s, r) => s[k] / samples[b][r][k])).toFixed(2);
    };
    const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
    process.stdout.write(
      `\nllm-rate-limit core vs rate-limiter-flexible: ${ROUNDS} rounds (after a warm-up), each case at most ${MAX_CHECKS} checks or ${CASE_MS} ms a round; ` +
        `node ${process.version}, ${os.cpus().length} cores; Redis ${host}:${port}; ` +
        `medians over rounds (ratios: medians of per-round ratios against RateLimiterMemory or RateLimiterRedis of the same shape, outcome and in-flight)\n\n`,
    );
    process.stdout.write(
      '| shape | outcome | limiter | in flight | checks/s | p50 µs | p99 µs | checks/s vs flexible | p50 vs flexible | p99 vs flexible | node CPU µs/check | Redis EVALSHA µs/check |\n',
    );
    process.stdout.write('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n');
    cases.forEach((c, i) => {
      const s = samples[i];
      const med = (k: 'rps' | 'p50' | 'p99' | 'cpu') => median(s.map((x) => x[k]));
      const redis = s.flatMap((x) => (x.redis === null ? [] : [x.redis]));
      const redisCol = !c.impl.redis ? '-' : redis.length > 0 ? `${redis.length === s.length ? '' : `${redis.length}/${s.length} rounds: `}${median(redis).toFixed(1)}` : 'n/a';
      process.stdout.write(
        `| ${c.shape} | ${c.outcome} | ${c.impl.name} | ${c.inFlight} | ${med('rps').toFixed(0)} | ${fmt(med('p50'))} | ${fmt(med('p99'))} | ` +
          `${ratio(i, 'rps')} | ${ratio(i, 'p50')} | ${ratio(i, 'p99')} | ${med('cpu').toFixed(1)} | ${redisCol} |\n`,
      );
    });
    for (const [i, set] of notes) process.stdout.write(`note: ${cases[i].shape}, ${cases[i].outcome}, ${cases[i].impl.name}, ${cases[i].inFlight} in flight: ${[...set].join('; ')}\n`);
    const left = await sweep(client);
    process.stdout.write(`\n(errors: ${errors}; keys left under the run's prefix and deleted at the end: ${left}; ${((performance.now() - began) / 1000).toFixed(1)} s)\n`);
  } finally {
    try {
      await sweep(client);
    } catch {
      // Redis gone: nothing more to delete
    }
    client.disconnect();
  }
  return errors;
}
