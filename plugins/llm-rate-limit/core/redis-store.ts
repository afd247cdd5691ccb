/**
 * Shared store on Redis (standalone, Sentinel or Cluster; the ioredis client comes from
 * the caller, see `createRedisClient`). One round trip per check: EVALSHA of the one
 * script in `redis-script.ts` over every limit of the request, EVAL once if the server
 * does not know the script yet (NOSCRIPT: after a restart, a failover, SCRIPT FLUSH).
 *
 * Keys: `<prefix>{<key>}:<limit id>:<algorithm and its shape>`. The `{<key>}` hash tag
 * puts every limit of one key in one Cluster slot, which a multi-key script requires.
 * A check over limits of several keys (a consumer's and the gateway-wide one) is one
 * script on a standalone or Sentinel server; on a Cluster, where a script may touch
 * one slot only, it is one script per key, in parallel, with a refund of what was
 * charged when any refused (see `reserve`). Braces and `%` in the key are percent-encoded so a key cannot end the tag early
 * (and two keys cannot collide).
 */
import crypto = require('crypto');
import type { Cluster, Redis } from 'ioredis';
import type { Evaluation } from './algorithms';
import { LimitConfigError } from './errors';
import type { PreparedLimit } from './limits';
import { LIMITER_LUA } from './redis-script';
import { keyAt, type AdjustItem, type LimiterStore, type StoreKeys, type StoreReservation } from './store';

export const DEFAULT_KEY_PREFIX = 'llm-rl:';
const SCRIPT_SHA = crypto.createHash('sha1').update(LIMITER_LUA).digest('hex');
/** The script's "read the server clock" value for ARGV[2]. */
const SERVER_CLOCK = '-1';

export type RedisClient = Redis | Cluster;

export interface RedisStoreOptions {
  client: RedisClient;
  /** Prepended to every key; default 'llm-rl:'. Must not contain '{' or '}'. */
  prefix?: string;
  /**
   * Decide by this clock (ms) instead of Redis's TIME. For tests replaying a sequence;
   * production leaves it unset so every node shares the server's clock.
   */
  now?: () => number;
}

/**
 * `{`, `}` and `%` percent-encoded: the key can neither close the hash tag nor collide.
 * The empty key becomes a lone `%` (no encoding yields it): an empty tag `{}` would
 * not count as a tag, and the limits of one check would scatter across slots.
 */
function encodeKey(key: string): string {
  if (key === '') return '%';
  return key.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export class RedisStore implements LimiterStore {
  readonly name = 'redis';
  private readonly client: RedisClient;
  private readonly prefix: string;
  private readonly clock?: () => number;
  /** A Cluster client: a script may only touch keys of one slot. */
  private readonly cluster: boolean;
  private waitReady: Promise<void> | null = null;

  constructor(options: RedisStoreOptions) {
    this.client = options.client;
    this.prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
    if (/[{}]/.test(this.prefix)) throw new LimitConfigError('the Redis key prefix must not contain { or }');
    this.clock = options.now;
    this.cluster = (options.client as { isCluster?: boolean }).isCluster === true;
  }

  /** The Redis key holding `limit`'s state for `key`. */
  keyFor(key: string, limit: PreparedLimit): string {
    return `${this.prefix}{${encodeKey(key)}}:${limit.stateName}`;
  }

  async reserve(keys: StoreKeys, limits: readonly PreparedLimit[], amounts: readonly number[]): Promise<StoreReservation> {
    const groups = this.slotGroups(keys, limits.length);
    if (groups === null) return this.reserveOnce(keys, limits, amounts);
    // Cluster, limits of several keys: one script per key (a script may touch one slot
    // only). Each charges only if its own limits allow; if any refused, what the others
    // charged is refunded. Never over-admits (every charge was within its limit when
    // made); under contention a request may be refused that a single step would admit.
    const settled = await Promise.allSettled(groups.map((g) => this.reserveOnce(g.key, g.idx.map((i) => limits[i]), g.idx.map((i) => amounts[i]))));
    const failed = settled.find((p): p is PromiseRejectedResult => p.status === 'rejected');
    if (failed) {
      // one slot did not answer: give back what the others charged, then fail the check
      const refunds = groups.flatMap((g, gi) => {
        const p = settled[gi];
        return p.status === 'fulfilled' && p.value.allowed ? g.idx.map((i, j) => ({ key: g.key, limit: limits[i], delta: -amounts[i], bucket: p.value.results[j].bucket })) : [];
      });
      await this.adjust(keyAt(keys, 0), refunds.filter((r) => r.delta !== 0)).catch(() => undefined);
      throw failed.reason;
    }
    const parts = settled.map((p) => (p as PromiseFulfilledResult<StoreReservation>).value);
    const results: Evaluation[] = new Array(limits.length);
    groups.forEach((g, gi) => g.idx.forEach((i, j) => (results[i] = parts[gi].results[j])));
    const allowed = parts.every((p) => p.allowed);
    if (!allowed) {
      const refunds = groups.flatMap((g, gi) => (parts[gi].allowed ? g.idx.map((i) => ({ key: g.key, limit: limits[i], delta: -amounts[i], bucket: results[i].bucket })) : []));
      await this.adjust(keyAt(keys, 0), refunds.filter((r) => r.delta !== 0));
      // reported as a refused single step would: what was left before the charge
      groups.forEach((g, gi) => {
        if (parts[gi].allowed) for (const i of g.idx) results[i] = { ...results[i], remaining: results[i].remaining + amounts[i] };
      });
    }
    return { allowed, results, now: Math.max(...parts.map((p) => p.now)), source: this.name };
  }

  async adjust(key: string, items: readonly AdjustItem[]): Promise<void> {
    if (items.length === 0) return;
    const keys = items.map((it) => it.key ?? key);
    const groups = this.slotGroups(keys, items.length);
    const run = (ks: StoreKeys, its: readonly AdjustItem[]) => this.run('adjust', ks, its.map((it) => it.limit), (_, i) => [its[i].delta, its[i].bucket]);
    if (groups === null) {
      await run(keys, items);
      return;
    }
    await Promise.all(groups.map((g) => run(g.key, g.idx.map((i) => items[i]))));
  }

  private async reserveOnce(keys: StoreKeys, limits: readonly PreparedLimit[], amounts: readonly number[]): Promise<StoreReservation> {
    const reply = (await this.run('check', keys, limits, (_l, i) => [amounts[i], 0])) as number[];
    const results: Evaluation[] = limits.map((_l, i) => {
      const [ok, remaining, resetMs, retry, bucket] = reply.slice(2 + i * 5, 7 + i * 5).map(Number);
      return { allowed: ok === 1, remaining, resetMs, retryAfterMs: retry < 0 ? null : retry, bucket };
    });
    return { allowed: Number(reply[0]) === 1, results, now: Number(reply[1]), source: this.name };
  }

  /**
   * Null when one script can take every key (one key, or not a Cluster); else the
   * limits grouped by key, in first-seen order.
   */
  private slotGroups(keys: StoreKeys, count: number): { key: string; idx: number[] }[] | null {
    if (typeof keys === 'string' || !this.cluster) return null;
    const byKey = new Map<string, number[]>();
    for (let i = 0; i < count; i++) {
      const k = keyAt(keys, i);
      const idx = byKey.get(k);
      if (idx) idx.push(i);
      else byKey.set(k, [i]);
    }
    return byKey.size <= 1 ? null : [...byKey].map(([key, idx]) => ({ key, idx }));
  }

  /**
   * Resolves once the client is connected. Without an offline queue a command sent
   * while the first connection (or a reconnection) is under way fails at once: right
   * after start or a config reload, every check would fail over. Callers bound the wait
   * (FaultTolerantStore's timeout); all waiters share one listener.
   */
  private connected(): Promise<void> {
    const status = (this.client as { status?: string }).status;
    if (status === undefined || status === 'ready') return Promise.resolve();
    if (status === 'end') return Promise.reject(new Error('the Redis connection was closed for good'));
    this.waitReady ??= new Promise<void>((resolve) => {
      this.client.once('ready', () => {
        this.waitReady = null;
        resolve();
      });
    });
    return this.waitReady;
  }

  /** One EVALSHA (EVAL when the server lacks the script) over the given limits. */
  private async run(
    op: 'check' | 'adjust',
    keys: StoreKeys,
    limits: readonly PreparedLimit[],
    tail: (l: PreparedLimit, i: number) => [number, number],
  ): Promise<unknown> {
    const redisKeys = limits.map((l, i) => this.keyFor(keyAt(keys, i), l));
    const args: (string | number)[] = [op, this.clock ? String(Math.floor(this.clock())) : SERVER_CLOCK];
    limits.forEach((l, i) => {
      const [amount, bucket] = tail(l, i);
      if (l.algorithm === 'sliding_window') args.push('sw', l.limit, l.width, l.n, amount, bucket);
      else args.push('tb', l.limit, String(l.rate), 0, amount, bucket);
    });
    await this.connected();
    try {
      return await this.client.evalsha(SCRIPT_SHA, redisKeys.length, ...redisKeys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      // EVAL both runs the script and caches it for the next EVALSHA.
      return await this.client.eval(LIMITER_LUA, redisKeys.length, ...redisKeys, ...args);
    }
  }
}
