/**
 * Shared store on Redis (standalone, Sentinel or Cluster; the ioredis client comes from
 * the caller, see `createRedisClient`). One round trip per check: EVALSHA of the one
 * script in `redis-script.ts` over every limit of the request, EVAL once if the server
 * does not know the script yet (NOSCRIPT: after a restart, a failover, SCRIPT FLUSH).
 *
 * Keys: `<prefix>{<key>}:<limit id>:<algorithm and its shape>`. The `{<key>}` hash tag
 * puts every limit of one key in one Cluster slot, which a multi-key script requires.
 * Braces and `%` in the key are percent-encoded so a key cannot end the tag early
 * (and two keys cannot collide).
 */
import crypto = require('crypto');
import type { Cluster, Redis } from 'ioredis';
import type { Evaluation } from './algorithms';
import { LimitConfigError } from './errors';
import type { PreparedLimit } from './limits';
import { LIMITER_LUA } from './redis-script';
import type { AdjustItem, LimiterStore, StoreReservation } from './store';

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

  constructor(options: RedisStoreOptions) {
    this.client = options.client;
    this.prefix = options.prefix ?? DEFAULT_KEY_PREFIX;
    if (/[{}]/.test(this.prefix)) throw new LimitConfigError('the Redis key prefix must not contain { or }');
    this.clock = options.now;
  }

  /** The Redis key holding `limit`'s state for `key`. */
  keyFor(key: string, limit: PreparedLimit): string {
    return `${this.prefix}{${encodeKey(key)}}:${limit.stateName}`;
  }

  async reserve(key: string, limits: readonly PreparedLimit[], amounts: readonly number[]): Promise<StoreReservation> {
    const reply = (await this.run('check', key, limits, (_, i) => [amounts[i], 0])) as number[];
    const results: Evaluation[] = limits.map((_, i) => {
      const [ok, remaining, resetMs, retry, bucket] = reply.slice(2 + i * 5, 7 + i * 5).map(Number);
      return { allowed: ok === 1, remaining, resetMs, retryAfterMs: retry < 0 ? null : retry, bucket };
    });
    return { allowed: Number(reply[0]) === 1, results, now: Number(reply[1]), source: this.name };
  }

  async adjust(key: string, items: readonly AdjustItem[]): Promise<void> {
    if (items.length === 0) return;
    await this.run('adjust', key, items.map((it) => it.limit), (_, i) => [items[i].delta, items[i].bucket]);
  }

  /** One EVALSHA (EVAL when the server lacks the script) over all limits of `key`. */
  private async run(
    op: 'check' | 'adjust',
    key: string,
    limits: readonly PreparedLimit[],
    tail: (l: PreparedLimit, i: number) => [number, number],
  ): Promise<unknown> {
    const keys = limits.map((l) => this.keyFor(key, l));
    const args: (string | number)[] = [op, this.clock ? String(Math.floor(this.clock())) : SERVER_CLOCK];
    limits.forEach((l, i) => {
      const [amount, bucket] = tail(l, i);
      if (l.algorithm === 'sliding_window') args.push('sw', l.limit, l.width, l.n, amount, bucket);
      else args.push('tb', l.limit, String(l.rate), 0, amount, bucket);
    });
    try {
      return await this.client.evalsha(SCRIPT_SHA, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      // EVAL both runs the script and caches it for the next EVALSHA.
      return await this.client.eval(LIMITER_LUA, keys.length, ...keys, ...args);
    }
  }
}
