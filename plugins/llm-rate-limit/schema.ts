/**
 * llm-rate-limit configuration, declared once as Kong schema data; `LlmRateLimitConfig`
 * is derived from the same declaration. Limits are checked (ids, windows, divisibility)
 * when the instance starts (core/limits.ts): a limit that cannot work makes the
 * instance answer 500 instead of passing requests unlimited.
 */
import { array, boolean, integer, map, number, record, string, toKongFields, type ConfigOf } from '../shared/kong-schema';
import { defaultPriceField, pricesField } from '../shared/pricing/schema';
import { ALGORITHMS, UNITS } from './core/limits';

export const KEY_BY = ['consumer', 'credential', 'tenant', 'ip', 'header', 'global'] as const;
export type KeyBy = (typeof KEY_BY)[number];

const limit = record(
  {
    id: string({ required: true, len_min: 1, len_max: 64, description: 'Names the limit in headers, logs and store keys (A-Z a-z 0-9 _ . -); unique within the plugin.' }),
    algorithm: string({
      default: 'sliding_window',
      one_of: ALGORITHMS,
      description:
        'sliding_window: at most `limit` in any window of `window_seconds` (no burst at a window edge; a charge is held up to one sub-window longer than the window). token_bucket: a bucket of `limit` refilled at `refill_per_second`, for bursty clients.',
    }),
    unit: string({
      required: true,
      one_of: UNITS,
      description: 'requests: 1 per request; tokens: prompt + requested completion tokens, settled to the actual usage; usd: cost from the price table, settled to the actual cost.',
    }),
    limit: number({ required: true, gt: 0, description: 'The budget per window (or the bucket size): a whole number of requests or tokens, or USD (to the micro-dollar).' }),
    window_seconds: integer({ between: [1, 31622400], description: 'sliding_window: the window length (60 = per minute, 86400 = per day).' }),
    sub_windows: integer({ between: [1, 100], description: 'sliding_window: buckets per window (default 10); the window\'s milliseconds must divide by it.' }),
    refill_per_second: number({ gt: 0, description: 'token_bucket: budget regained per second.' }),
  },
  { description: 'One limit.' },
);

const limits = (description: string, required: boolean) =>
  required ? array(limit, { required: true, len_min: 1, description }) : array(limit, { default: [], description });

const hostPort = string({ len_min: 3, description: 'A node as host:port.' });

const redis = record(
  {
    mode: string({ default: 'standalone', one_of: ['standalone', 'sentinel', 'cluster'], description: 'How to reach Redis.' }),
    host: string({ default: '127.0.0.1', referenceable: true, description: 'standalone: the server (a vault reference such as {vault://env/llm-redis-host} lets one kong.yml serve several environments).' }),
    port: integer({ default: 6379, between: [1, 65535], description: 'standalone: the port.' }),
    database: integer({ default: 0, between: [0, 1024], description: 'standalone, sentinel: the database (Cluster has only 0).' }),
    username: string({ referenceable: true, description: 'ACL user (Redis 6+).' }),
    password: string({ referenceable: true, encrypted: true, description: 'Password (or the ACL user\'s).' }),
    sentinel_master: string({ description: 'sentinel: the master group name.' }),
    sentinel_nodes: array(hostPort, { default: [], description: 'sentinel: the sentinels, host:port.' }),
    sentinel_username: string({ referenceable: true, description: 'sentinel: ACL user at the sentinels.' }),
    sentinel_password: string({ referenceable: true, encrypted: true, description: 'sentinel: password at the sentinels.' }),
    cluster_nodes: array(hostPort, { default: [], description: 'cluster: seed nodes, host:port.' }),
    ssl: boolean({ default: false, description: 'Connect with TLS.' }),
    ssl_verify: boolean({ default: true, description: 'Verify the server certificate against the system CAs.' }),
    server_name: string({ description: 'TLS SNI and certificate name, when not the host.' }),
    timeout_ms: integer({
      default: 200,
      between: [10, 10000],
      description: 'Longest a check waits for Redis (command timeout and the limiter\'s own deadline); then fault_tolerant decides.',
    }),
    key_prefix: string({ default: 'llm-rl:', len_max: 64, description: 'Prepended to every key (no { or }).' }),
  },
  { required: true, description: 'The Redis store, for policy "redis".' },
);

export const fields = {
  key_by: string({
    default: 'consumer',
    one_of: KEY_BY,
    description:
      'Whose limits: consumer, credential or tenant (from llm-auth\'s identity; consumer and credential fall back to Kong\'s own authenticated consumer and credential), ip (the client address as Kong resolves it, trusted_ips honoured), header (header_name\'s value) or global (one budget for the route).',
  }),
  header_name: string({ len_min: 1, description: 'key_by "header": the header whose value is the key.' }),
  key_missing: string({
    default: 'ip',
    one_of: ['ip', 'reject'],
    description: 'When the request has no value for key_by (an anonymous caller, a missing header): limit it by client address, or answer 403 (rate_limit_key_missing).',
  }),
  namespace: string({
    default: 'default',
    len_min: 1,
    len_max: 64,
    description: 'Counters are shared by every llm-rate-limit instance (any route, any Kong node on the same Redis) with the same namespace, key and limit id; give routes that must count apart their own.',
  }),
  limits: limits('The limits of each key; a request passes only if all of them (and the global ones) admit it, and a refused request charges none.', true),
  consumer_overrides: map(limits('Limits for this consumer instead of `limits`.', true), {
    default: {},
    description: 'Per consumer name (llm-auth identity, or Kong consumer username): its own limits, replacing `limits` (consumer beats tenant).',
  }),
  tenant_overrides: map(limits('Limits for this tenant instead of `limits`.', true), {
    default: {},
    description: 'Per tenant (llm-auth identity): its own limits, replacing `limits`.',
  }),
  global_limits: limits(
    'Gateway-wide limits checked with every request of every key, in the same atomic step: mirror the OpenAI organization\'s own RPM/TPM so the gateway throttles before OpenAI answers 429 to everyone.',
    false,
  ),
  default_completion_tokens: integer({
    default: 1024,
    between: [0, 10000000],
    description: 'Completion tokens reserved for a request that sets no max_tokens / max_completion_tokens / max_output_tokens; settled to the actual count after the answer.',
  }),
  prices: pricesField('Price overrides per model (lower case; a key also matches its dated snapshots) on top of the shipped OpenAI list prices (plugins/shared/pricing).'),
  default_price: defaultPriceField('Price of a model the table does not know; unset, such a request costs 0 against usd limits.'),
  include_usage: boolean({
    default: true,
    description:
      'When llm-guard did not run before this plugin and the request streams without stream_options.include_usage, add it (so the stream reports exact usage); the usage-capture Lua removes that extra chunk before the client sees it.',
  }),
  policy: string({ default: 'local', one_of: ['local', 'redis'], description: 'local: counters in this node\'s plugin server (per node); redis: shared by every node.' }),
  redis,
  fault_tolerant: boolean({
    default: true,
    description: 'Redis failing or slow: decide with this node\'s local counters (logged once per 30 s) instead of answering 503. Either way recovery is automatic.',
  }),
  hide_client_headers: boolean({ default: false, description: 'Send no RateLimit-* / x-ratelimit-* headers of ours to the client.' }),
  hide_upstream_headers: boolean({
    default: true,
    description: 'Remove OpenAI\'s own x-ratelimit-* headers (the company organization\'s quota) from answers.',
  }),
} as const;

export type LlmRateLimitConfig = ConfigOf<typeof fields>;
export type LimitConfig = LlmRateLimitConfig['limits'][number];
export type RedisConfig = LlmRateLimitConfig['redis'];

/** What kong-js-pluginserver exports as the plugin's `Schema` (config fields). */
export const Schema = toKongFields(fields);
