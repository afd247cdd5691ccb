/**
 * Shared machinery of the gateway benches: the gateway (bridge and mock upstream) in
 * a child process (gateway-process.ts), a keep-alive load generator, and rounds of
 * scenarios reported as medians of per-round ratios against the round's baseline
 * (absolute numbers depend on the machine; ratios are the budget).
 *
 * Every load loop is bounded by a request count and by time (BENCH_MAX_SECONDS per
 * loop; a loop cut short reports throughput over the requests it completed and is
 * flagged), and traffic stays on loopback.
 */
import { fork } from 'child_process';
import fs = require('fs');
import http = require('http');
import os = require('os');
import path = require('path');

export const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
/** Rounds of all scenarios; each ratio is the median over rounds, against its own round's baseline. */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Upper bound on one load loop (warm-up or measured), whatever its request count. */
export const MAX_SECONDS = Number(process.env.BENCH_MAX_SECONDS ?? 60);
/** Per request: past it the request counts as an error. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface Scenario {
  name: string;
  /** Path on the gateway, e.g. /baseline/v1/models. */
  path: string;
  method?: 'GET' | 'POST';
  /** Headers of request number i (unique across warm-ups and rounds). */
  headers?: (i: number) => Record<string, string>;
  body?: Buffer;
}

interface Result {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** The loop stopped at MAX_SECONDS before its request count. */
  cut: boolean;
}

export interface LoadResult {
  latencies: number[];
  seconds: number;
  errors: number;
  cut: boolean;
}

/** Runs up to `total` requests with CONCURRENCY keep-alive connections, for at most MAX_SECONDS. */
export async function load(base: string, s: Scenario, total: number, first: number): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const url = new URL(s.path, base);
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  let cut = false;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const headers: Record<string, string | number> = { ...(s.headers?.(first + i) ?? {}) };
      if (s.body) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = s.body.length;
      }
      const t0 = process.hrtime.bigint();
      const req = http.request(url, { method: s.method ?? 'GET', agent, headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) errors++;
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(s.body);
    });
  const start = process.hrtime.bigint();
  const deadline = Date.now() + MAX_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < total) {
        if (Date.now() > deadline) {
          cut = true;
          break;
        }
        await one(next++);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  agent.destroy();
  return { latencies, seconds, errors, cut };
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(base: string, s: Scenario, requests: number, warmup: number, first: number): Promise<Result> {
  const w = await load(base, s, warmup, first + requests);
  const { latencies, seconds, errors, cut } = await load(base, s, requests, first);
  latencies.sort((a, b) => a - b);
  return { name: s.name, rps: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors: errors + w.errors, cut: cut || w.cut };
}

/** Headers of request i need at most this many distinct indexes (e.g. one fresh token each). */
export function requestIndexes(requests: number): number {
  return (ROUNDS + 1) * (requests + warmupOf(requests));
}

const warmupOf = (requests: number) => Math.min(500, requests);

/**
 * A warm-up round (not counted), then ROUNDS rounds of every scenario in order, the
 * first being the baseline. Prints a markdown table of median per-round ratios and
 * returns the number of failed requests.
 */
export async function compare(title: string, base: string, scenarios: Scenario[], requests: number): Promise<number> {
  const warmup = warmupOf(requests);
  // ratios[s] = per-round [throughput, p50, p99] ratios against that round's baseline
  const ratios: number[][][] = scenarios.map(() => []);
  const baselines: Result[] = [];
  let errors = 0;
  let cut = false;
  // round 0 warms up every process (JIT, pools, caches) and is not counted
  for (let round = 0; round <= ROUNDS; round++) {
    const results: Result[] = [];
    const offset = round * (requests + warmup);
    for (const s of scenarios) results.push(await measure(base, s, requests, warmup, offset));
    errors += results.reduce((n, r) => n + r.errors, 0);
    cut ||= results.some((r) => r.cut);
    if (round === 0) continue;
    const b = results[0];
    baselines.push(b);
    results.forEach((r, i) => ratios[i].push([r.rps / b.rps, r.p50 / b.p50, r.p99 / b.p99]));
  }
  process.stdout.write(
    `\n${title}: ${ROUNDS} rounds x ${requests} requests per scenario, concurrency ${CONCURRENCY}, ` +
      `node ${process.version}, ${os.cpus().length} cores; medians of per-round ratios\n\n`,
  );
  process.stdout.write('| scenario | throughput vs baseline | p50 latency vs baseline | p99 latency vs baseline |\n| --- | --- | --- | --- |\n');
  scenarios.forEach(({ name }, i) => {
    const [t, p50, p99] = [0, 1, 2].map((k) => median(ratios[i].map((r) => r[k])).toFixed(2));
    process.stdout.write(`| ${name} | ${t} | ${p50} | ${p99} |\n`);
  });
  const rps = baselines.map((b) => b.rps.toFixed(0)).join(', ');
  process.stdout.write(`\n(baseline req/s per round: ${rps}; errors: ${errors}${cut ? `; some loops stopped at ${MAX_SECONDS} s before their count` : ''})\n`);
  return errors;
}

export interface Gateway {
  url: string;
  /** PDK calls of the last `last` requests as the bridge counted them (send them one at a time first). */
  pdkCalls(last: number): Promise<PdkCallSummary>;
  stop(): Promise<void>;
}

/** PDK calls per request, per plugin and phase, over the last requests the bridge ran. */
export interface PdkCallSummary {
  requests: number;
  plugins: Record<string, { perPhase: Record<string, number>; lastRequest: string[] }>;
  /** Plugin events (HandleEvent round trips) per request, per plugin and phase. */
  events: Record<string, Record<string, number>>;
}

/**
 * Starts the bridge (with the real plugin servers) in front of the mock upstream in a
 * child process, so the load generator does not share its event loop. `kongYml` routes
 * the service `openai` (its URL is replaced by the mock's).
 */
export async function startGateway(kongYml: string): Promise<Gateway> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  const file = path.join(dir, 'kong.yml');
  fs.writeFileSync(file, kongYml);
  const child = fork(path.join(__dirname, 'gateway-process.js'), [file]);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  let url: string;
  try {
    url = await new Promise<string>((resolve, reject) => {
      child.once('message', (m) => resolve((m as { url: string }).url));
      child.once('exit', (code) => reject(new Error(`gateway process exited (${code})`)));
    });
  } catch (err) {
    cleanup();
    throw err;
  }
  return {
    url,
    pdkCalls(last) {
      return new Promise<PdkCallSummary>((resolve, reject) => {
        const onExit = () => reject(new Error('the gateway process exited'));
        const onMessage = (m: { summary?: PdkCallSummary }) => {
          if (!m.summary) return;
          child.off('message', onMessage);
          child.off('exit', onExit);
          resolve(m.summary);
        };
        if (!child.connected) return reject(new Error('the gateway process is gone'));
        child.on('message', onMessage);
        child.once('exit', onExit);
        child.send({ pdkCalls: last });
      });
    },
    async stop() {
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
      cleanup();
    },
  };
}

/**
 * Sends `warmup` requests of `row` not counted, then `count` counted, one at a time (each
 * must be answered 200; request i gets `row.headers(first + i)`), and returns the
 * bridge's PDK call counts of the counted ones; each of `plugins` must show calls (the
 * check that it really ran on that route).
 */
export async function probePdkCalls(
  gateway: Gateway,
  row: Scenario & { plugins: readonly string[] },
  opts: { count: number; warmup?: number; first?: number },
): Promise<PdkCallSummary> {
  const total = (opts.warmup ?? 0) + opts.count;
  for (let i = 0; i < total; i++) {
    const r = await fetch(`${gateway.url}${row.path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(row.headers?.((opts.first ?? 0) + i) ?? {}) },
      body: row.body,
    });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`${row.name}: the probe request got ${r.status}`);
  }
  const summary = await gateway.pdkCalls(opts.count);
  for (const p of row.plugins) if (!summary.plugins[p]) throw new Error(`${row.name}: ${p} made no PDK call (did it run?)`);
  return summary;
}
