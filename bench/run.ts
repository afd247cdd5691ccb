/**
 * The benchmarks, as ratios against a baseline measured in the same run (absolute
 * numbers depend on the machine; ratios are the budget).
 *
 *   npm run bench                          all of them, one after the other
 *   node dist/bench/run.js guard-core      some: auth, guard-core, guard-bridge, rate-limit,
 *                                          rate-limit-bridge, audit, gateway
 *
 * auth.ts          llm-auth through the bridge (BENCH_REQUESTS, default 3000)
 * guard.ts         llm-guard's runGuard vs prompt size on this thread (BENCH_GUARD_SECONDS),
 *                  and llm-guard through the bridge (BENCH_GUARD_REQUESTS, default 2000)
 * rate-limit.ts    the llm-rate-limit core (LocalStore, RedisStore, FaultTolerantStore) vs
 *                  rate-limiter-flexible (RateLimiterMemory, RateLimiterRedis) on this thread,
 *                  one Redis (REDIS_HOST/REDIS_PORT, default 127.0.0.1:6379); BENCH_RL_ROUNDS,
 *                  BENCH_RL_MS, BENCH_RL_CHECKS, BENCH_RL_IN_FLIGHT (see the file)
 * rate-limit-bridge.ts  llm-rate-limit through the bridge, alone and behind llm-guard and
 *                  llm-auth, policy local and redis, with PDK calls per request
 *                  (BENCH_RL_BRIDGE_REQUESTS, default 2000; the same Redis)
 * audit.ts         llm-audit's log-phase work on this thread (record, chain, JSON, enqueue) into
 *                  a file and an HTTP sink, delivery end to end and metrics observe
 *                  (BENCH_AUDIT_RECORDS, BENCH_AUDIT_ROUNDS, BENCH_AUDIT_CHUNK), then llm-audit
 *                  through the bridge, alone and behind llm-auth + llm-guard + llm-rate-limit,
 *                  with PDK calls per request (BENCH_AUDIT_BRIDGE_REQUESTS, default 2000)
 * gateway.ts       the two faces in one run: the four separate plugins and llm-gateway with the
 *                  same configs, round trips per request (events, log events, PDK calls) and
 *                  ratios against a route without plugins (BENCH_GATEWAY_REQUESTS, default 2000)
 *
 * Bridge benches (harness.ts): the gateway (bridge, plugin servers, mock upstream)
 * runs in a child process, so the load generator does not share its event loop; a
 * warm-up round, then BENCH_ROUNDS (3) rounds, BENCH_CONCURRENCY (16) connections;
 * every load loop is bounded by its request count and BENCH_MAX_SECONDS (60), and
 * traffic stays on loopback.
 */
import { benchAudit } from './audit';
import { benchAuth } from './auth';
import { benchGateway } from './gateway';
import { benchGuardBridge, benchGuardCore } from './guard';
import { benchRateLimit } from './rate-limit';
import { benchRateLimitBridge } from './rate-limit-bridge';

const BENCHES: Record<string, () => Promise<number> | number> = {
  auth: benchAuth,
  'guard-core': () => {
    benchGuardCore();
    return 0;
  },
  'guard-bridge': benchGuardBridge,
  'rate-limit': benchRateLimit,
  'rate-limit-bridge': benchRateLimitBridge,
  audit: benchAudit,
  gateway: benchGateway,
};

async function main(): Promise<void> {
  const names = process.argv.slice(2);
  for (const n of names) if (!(n in BENCHES)) throw new Error(`unknown bench "${n}" (one of: ${Object.keys(BENCHES).join(', ')})`);
  let errors = 0;
  for (const name of names.length ? names : Object.keys(BENCHES)) errors += await BENCHES[name]();
  if (errors > 0) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
