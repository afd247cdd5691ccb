/**
 * The Redis client a limiter store uses, for standalone, Sentinel or Cluster, built so a
 * check can fail fast instead of waiting: no offline queue (a command while the
 * connection is down fails at once instead of queueing without bound), a command
 * timeout, a connect timeout, at most `maxRetriesPerRequest` retries, and background
 * reconnection with capped backoff (so recovery needs no one to act).
 *
 * Clients belong at module level, shared by connection settings (Kong drops instances
 * without a close hook): the adapter keeps one per settings fingerprint.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { ConnectionOptions as TlsOptions } from 'tls';
import { LimitConfigError } from './errors';
import type { RedisClient } from './redis-store';

export const DEFAULT_CONNECT_TIMEOUT_MS = 1000;
export const DEFAULT_COMMAND_TIMEOUT_MS = 200;
export const DEFAULT_MAX_RETRIES_PER_REQUEST = 1;
/** Reconnect backoff: 50 ms per attempt, capped. */
const RECONNECT_STEP_MS = 50;
const RECONNECT_MAX_MS = 2000;

export interface RedisHost {
  host: string;
  port: number;
}

export interface RedisClientOptions {
  mode: 'standalone' | 'sentinel' | 'cluster';
  /** standalone: the server (default 127.0.0.1:6379). */
  host?: string;
  port?: number;
  /** standalone, sentinel: the database (Cluster has only 0). */
  db?: number;
  /** sentinel: the sentinels and the master group name. */
  sentinels?: RedisHost[];
  sentinelMasterName?: string;
  sentinelUsername?: string;
  sentinelPassword?: string;
  /** cluster: the seed nodes. */
  nodes?: RedisHost[];
  /** ACL user (Redis 6+) and password. */
  username?: string;
  password?: string;
  /** true, or Node TLS options (ca, cert, key, servername, rejectUnauthorized). */
  tls?: boolean | TlsOptions;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  maxRetriesPerRequest?: number;
}

const reconnect = (times: number): number => Math.min(times * RECONNECT_STEP_MS, RECONNECT_MAX_MS);

/** A client per `options`; connects in the background (no command waits for it). */
export function createRedisClient(options: RedisClientOptions): RedisClient {
  const tls = options.tls === true ? {} : options.tls || undefined;
  const common: RedisOptions = {
    username: options.username,
    password: options.password,
    tls,
    connectTimeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    commandTimeout: options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: options.maxRetriesPerRequest ?? DEFAULT_MAX_RETRIES_PER_REQUEST,
    enableOfflineQueue: false,
    retryStrategy: reconnect,
  };
  switch (options.mode) {
    case 'standalone':
      return new Redis({ ...common, host: options.host ?? '127.0.0.1', port: options.port ?? 6379, db: options.db });
    case 'sentinel':
      if (!options.sentinels?.length || !options.sentinelMasterName) throw new LimitConfigError('sentinel mode needs sentinels and sentinelMasterName');
      return new Redis({
        ...common,
        db: options.db,
        sentinels: options.sentinels,
        name: options.sentinelMasterName,
        sentinelUsername: options.sentinelUsername,
        sentinelPassword: options.sentinelPassword,
        sentinelTLS: tls,
        enableTLSForSentinelMode: tls !== undefined,
        sentinelRetryStrategy: reconnect,
      });
    case 'cluster': {
      if (!options.nodes?.length) throw new LimitConfigError('cluster mode needs nodes');
      const { enableOfflineQueue, retryStrategy, ...redisOptions } = common;
      const clusterOptions: ClusterOptions = {
        enableOfflineQueue,
        clusterRetryStrategy: retryStrategy as (times: number) => number,
        maxRedirections: 3,
        redisOptions,
      };
      return new Cluster(options.nodes, clusterOptions);
    }
    default:
      throw new LimitConfigError('mode must be standalone, sentinel or cluster');
  }
}
