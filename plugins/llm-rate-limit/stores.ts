/**
 * The stores behind llm-rate-limit instances, owned by the plugin-server process:
 * - one LocalStore for the whole process: Kong runs one plugin server per node and
 *   starts an instance per worker and per config, so node-wide counters must live here,
 *   not in an instance; it is also the fallback of every Redis store;
 * - one Redis client and FaultTolerantStore per connection setting (fingerprint), made
 *   on first use and kept for the process's life: Kong drops instances without a close
 *   hook, and a client per instance would leak connections on every config reload.
 * Store faults are logged through Kong's error log by the next request (deferred-log.ts),
 * at most once per interval with a count, without keys or credentials.
 */
import { logOutsideRequest } from '../shared/deferred-log';
import { configFingerprint } from '../shared/per-config';
import { safeError } from '../shared/safe-error';
import {
  createRedisClient, FaultTolerantStore, LimitConfigError, LocalStore, RedisStore,
  type LimiterStore, type RedisClient, type RedisClientOptions, type RedisHost,
} from './core';
import type { LlmRateLimitConfig, RedisConfig } from './schema';

const PLUGIN = 'llm-rate-limit';
let local: LocalStore | null = null;
/** Redis stores by connection settings, most recently made last. */
const shared = new Map<string, { store: LimiterStore; client: RedisClient }>();
/**
 * Redis connections kept at once: a config change (a rotated password, another timeout)
 * makes a new client, and Kong drops old instances without telling: past this many,
 * the oldest client is closed (an instance still using it then falls back or answers 503).
 */
const MAX_REDIS_CLIENTS = 8;

/** This node's counters (one per process). */
export function localStore(): LocalStore {
  return (local ??= new LocalStore());
}

const logLine = (level: 'error' | 'notice', event: string, fields: Record<string, unknown>): void => logOutsideRequest(PLUGIN, level, event, fields);

function hostPort(where: string, s: string): RedisHost {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new LimitConfigError(`redis.${where}: each entry must be host:port`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/** ioredis options for the schema's `redis` record. */
export function redisClientOptions(r: RedisConfig): RedisClientOptions {
  const tls = r.ssl ? { rejectUnauthorized: r.ssl_verify, servername: r.server_name ?? undefined } : undefined;
  const common = {
    username: r.username ?? undefined,
    password: r.password ?? undefined,
    tls,
    commandTimeoutMs: r.timeout_ms,
    connectTimeoutMs: Math.max(r.timeout_ms, 1000),
  };
  switch (r.mode) {
    case 'sentinel':
      if (!r.sentinel_master || r.sentinel_nodes.length === 0) throw new LimitConfigError('redis: sentinel mode needs sentinel_master and sentinel_nodes');
      return {
        ...common,
        mode: 'sentinel',
        db: r.database,
        sentinels: r.sentinel_nodes.map((n) => hostPort('sentinel_nodes', n)),
        sentinelMasterName: r.sentinel_master,
        sentinelUsername: r.sentinel_username ?? undefined,
        sentinelPassword: r.sentinel_password ?? undefined,
      };
    case 'cluster':
      if (r.cluster_nodes.length === 0) throw new LimitConfigError('redis: cluster mode needs cluster_nodes');
      return { ...common, mode: 'cluster', nodes: r.cluster_nodes.map((n) => hostPort('cluster_nodes', n)) };
    default:
      // Kong passes "" for a vault reference it could not resolve: say so, do not connect to localhost
      if (r.host.trim() === '') throw new LimitConfigError('redis.host is empty (a vault reference that did not resolve?)');
      return { ...common, mode: 'standalone', host: r.host, port: r.port, db: r.database };
  }
}

/** The store a config uses: this node's LocalStore, or the shared Redis store for its connection settings. */
export function storeFor(config: Pick<LlmRateLimitConfig, 'policy' | 'redis' | 'fault_tolerant'>): LimiterStore {
  if (config.policy === 'local') return localStore();
  const r = config.redis;
  const id = configFingerprint('llm-rate-limit-redis', { r, fault_tolerant: config.fault_tolerant });
  const existing = shared.get(id);
  if (existing) return existing.store;
  if (/[{}]/.test(r.key_prefix)) throw new LimitConfigError('redis.key_prefix must not contain { or }');
  const client = createRedisClient(redisClientOptions(r));
  // ioredis reports connection errors as events; unhandled, Node would print each one
  client.on('error', () => undefined);
  const where = r.mode === 'standalone' ? `${r.host}:${r.port}` : r.mode;
  const store = new FaultTolerantStore({
    primary: new RedisStore({ client, prefix: r.key_prefix }),
    fallback: localStore(),
    faultTolerant: config.fault_tolerant,
    timeoutMs: r.timeout_ms,
    onFault: ({ error, suppressed }) =>
      logLine('error', 'store_unavailable', { store: 'redis', redis: where, fallback: config.fault_tolerant ? 'local' : 'reject_503', suppressed, ...safeError(error) }),
    onRecover: () => logLine('notice', 'store_recovered', { store: 'redis', redis: where }),
  });
  shared.set(id, { store, client });
  while (shared.size > MAX_REDIS_CLIENTS) {
    const [oldest, entry] = shared.entries().next().value!;
    shared.delete(oldest);
    void entry.client.quit().catch(() => entry.client.disconnect());
  }
  return store;
}
