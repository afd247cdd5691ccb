/**
 * llm-rate-limit through the bridge and the real plugin servers: what the plugin costs
 * a request, alone and behind llm-guard and llm-auth, with the node-local store and
 * with Redis. POST /v1/chat/completions with the guard bench's ~300-byte chat body.
 *
 * Scenarios: no plugin (baseline); llm-rate-limit alone (a requests limit, key_by
 * header); llm-guard alone; llm-guard + llm-rate-limit (requests and tokens limits:
 * the tokens limit reads llm-guard's facts in access and settles the actual usage in
 * log); llm-auth + llm-guard; llm-auth + llm-guard + llm-rate-limit (key_by consumer,
 * requests and tokens). Each llm-rate-limit scenario with policy local and policy
 * redis (fault_tolerant off, so a Redis failure is a 503 and counts as an error, never
 * a silent fallback to local). The guard and auth rows without the rate limit are
 * there to tell its cost from theirs.
 *
 * Limits are 1,000,000,000 per 60 s, so every request is admitted: this measures the
 * check (and the settlement), not refusals. key_by header spreads requests over 100
 * keys. BENCH_RL_BRIDGE_REQUESTS (default 2000) per scenario and round; the harness's
 * warm-up, rounds and medians of per-round ratios against the baseline.
 *
 * Also the PDK calls per request of each plugin, as the bridge counted them, over
 * PROBE requests sent one at a time before the timed rounds (log-phase calls included).
 * Redis: REDIS_HOST/REDIS_PORT (127.0.0.1:6379); keys under a prefix unique to the run,
 * deleted at the end.
 */
import crypto = require('crypto');
import { Redis } from 'ioredis';
import { authPlugin, benchApiKey } from './auth';
import { compare, probePdkCalls, startGateway, type Gateway, type PdkCallSummary, type Scenario } from './harness';
import { BENCH_PROMPT, chatBody } from './prose';

const PROBE = 20;
const TEAMS = 100;
const HUGE = 1_000_000_000;

interface Row extends Scenario {
  /** Plugins that must show PDK calls on this route (the check that they really ran). */
  plugins: string[];
  redis: boolean;
}

function rateLimit(namespace: string, keyBy: 'header' | 'consumer', tokens: boolean, redis: { host: string; port: number; prefix: string } | null): string {
  const limits = [`{ id: rpm, unit: requests, limit: ${HUGE}, window_seconds: 60 }`];
  if (tokens) limits.push(`{ id: tpm, unit: tokens, limit: ${HUGE}, window_seconds: 60 }`);
  return `
          - name: llm-rate-limit
            config:
              namespace: ${namespace}
              key_by: ${keyBy}${keyBy === 'header' ? '\n              header_name: x-team' : ''}
              limits:${limits.map((l) => `\n                - ${l}`).join('')}${
                redis
                  ? `
              policy: redis
              fault_tolerant: false
              redis: { host: "${redis.host}", port: ${redis.port}, key_prefix: "${redis.prefix}" }`
                  : ''
              }`;
}

const GUARD = `
          - name: llm-guard
            config: {}`;

function route(name: string, plugins: string): string {
  return `
      - name: ${name}
        paths: [/${name}/v1]
        strip_path: true${plugins ? `\n        plugins:${plugins}` : ''}`;
}

/** Counts the keys under `prefix`, deleting them if asked. */
async function keysUnder(client: Redis, prefix: string, remove: boolean): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, found] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) n += remove ? await client.unlink(...found) : found.length;
  } while (cursor !== '0');
  return n;
}

/** Returns the number of failed requests. */
export async function benchRateLimitBridge(): Promise<number> {
  const requests = Number(process.env.BENCH_RL_BRIDGE_REQUESTS ?? 2000);
  const host = process.env.REDIS_HOST ?? '127.0.0.1';
  const port = Number(process.env.REDIS_PORT ?? 6379);
  const run = crypto.randomBytes(4).toString('hex');
  const prefix = `bench-rlb:${process.pid}:${run}:`;
  const redis = { host, port, prefix };
  const apiKey = benchApiKey();
  const auth = authPlugin('api_key', apiKey.hash);
  const ns = (name: string) => `bench-${run}-${name}`;

  const routes = [
    route('baseline', ''),
    route('rl-local', rateLimit(ns('rl-local'), 'header', false, null)),
    route('rl-redis', rateLimit(ns('rl-redis'), 'header', false, redis)),
    route('guard', GUARD),
    route('guard-rl-local', GUARD + rateLimit(ns('guard-rl-local'), 'header', true, null)),
    route('guard-rl-redis', GUARD + rateLimit(ns('guard-rl-redis'), 'header', true, redis)),
    route('auth-guard', auth + GUARD),
    route('auth-guard-rl-local', auth + GUARD + rateLimit(ns('auth-guard-rl-local'), 'consumer', true, null)),
    route('auth-guard-rl-redis', auth + GUARD + rateLimit(ns('auth-guard-rl-redis'), 'consumer', true, redis)),
  ];
  const kongYml = `_format_version: "3.0"
services:
  - name: openai
    url: http://127.0.0.1:1/v1
    routes:${routes.join('')}
consumers:
  - username: bench
`;

  const body = chatBody(BENCH_PROMPT);
  const team = (i: number) => ({ 'x-team': `team-${i % TEAMS}` });
  const bearer = () => ({ authorization: `Bearer ${apiKey.key}` });
  const row = (name: string, path: string, plugins: string[], isRedis: boolean, headers?: (i: number) => Record<string, string>): Row => ({
    name,
    path: `/${path}/v1/chat/completions`,
    method: 'POST',
    body,
    headers,
    plugins,
    redis: isRedis,
  });
  const rows: Row[] = [
    row('no plugin (baseline)', 'baseline', [], false),
    row('llm-rate-limit (requests, key_by header), local', 'rl-local', ['llm-rate-limit'], false, team),
    row('llm-rate-limit (requests, key_by header), redis', 'rl-redis', ['llm-rate-limit'], true, team),
    row('llm-guard', 'guard', ['llm-guard'], false, team),
    row('llm-guard + llm-rate-limit (requests + tokens), local', 'guard-rl-local', ['llm-guard', 'llm-rate-limit'], false, team),
    row('llm-guard + llm-rate-limit (requests + tokens), redis', 'guard-rl-redis', ['llm-guard', 'llm-rate-limit'], true, team),
    row('llm-auth + llm-guard', 'auth-guard', ['llm-auth', 'llm-guard'], false, bearer),
    row('llm-auth + llm-guard + llm-rate-limit (key_by consumer), local', 'auth-guard-rl-local', ['llm-auth', 'llm-guard', 'llm-rate-limit'], false, bearer),
    row('llm-auth + llm-guard + llm-rate-limit (key_by consumer), redis', 'auth-guard-rl-redis', ['llm-auth', 'llm-guard', 'llm-rate-limit'], true, bearer),
  ];

  const client = new Redis({ host, port, lazyConnect: true, maxRetriesPerRequest: 1 });
  let gateway: Gateway | null = null;
  try {
    await client.connect().catch((err: Error) => {
      throw new Error(`the rate-limit bridge bench needs Redis at ${host}:${port} (REDIS_HOST/REDIS_PORT): ${err.message}`);
    });
    gateway = await startGateway(kongYml);
    const summaries: PdkCallSummary[] = [];
    // probe indexes stay clear of the timed rounds' (harmless if not: the limits never refuse)
    for (const [i, r] of rows.entries()) summaries.push(await probePdkCalls(gateway, r, { count: PROBE, first: 10_000_000 + i * PROBE }));
    if ((await keysUnder(client, prefix, false)) === 0) throw new Error('the redis rows wrote no key under the run\'s prefix: is the store really Redis?');

    const errors = await compare(`llm-rate-limit through the bridge (POST /v1/chat/completions, ${body.length}-byte body, limits never reached)`, gateway.url, rows, requests);

    process.stdout.write(`\nPDK calls per request as the bridge counted them (${PROBE} requests one at a time per scenario; access and log phases):\n\n`);
    process.stdout.write('| scenario | plugin | access | log | calls of one request |\n| --- | --- | --- | --- | --- |\n');
    rows.forEach((r, i) => {
      for (const [plugin, p] of Object.entries(summaries[i].plugins)) {
        const phase = (k: string) => (p.perPhase[k] ?? 0).toFixed(2).replace(/\.00$/, '');
        const other = Object.keys(p.perPhase).filter((k) => k !== 'access' && k !== 'log');
        const extra = other.length ? ` (also ${other.map((k) => `${k} ${phase(k)}`).join(', ')})` : '';
        process.stdout.write(`| ${r.name} | ${plugin} | ${phase('access')} | ${phase('log')}${extra} | ${p.lastRequest.join(', ')} |\n`);
      }
    });
    return errors;
  } finally {
    await gateway?.stop();
    if (client.status === 'ready') {
      const left = await keysUnder(client, prefix, true);
      process.stdout.write(`\n(Redis keys written under the run's prefix and deleted at the end: ${left})\n`);
    }
    client.disconnect();
  }
}
