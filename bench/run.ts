/**
 * Gateway overhead of llm-auth, measured through the bridge and the real plugin
 * server, as ratios against a baseline route without plugins measured in the same
 * run (absolute numbers depend on the machine; ratios are the budget).
 *
 *   npm run bench            (BENCH_REQUESTS, BENCH_CONCURRENCY to change the load)
 *
 * Scenarios: no plugin; API key; JWT seen before (verified-credential cache); a new
 * RS256 JWT on every request (signature check each time). The gateway (bridge and
 * mock upstream) runs in a child process, so the load generator does not share its
 * event loop. Traffic stays on loopback and every loop is bounded by a request count.
 */
import { fork } from 'child_process';
import crypto = require('crypto');
import fs = require('fs');
import http = require('http');
import os = require('os');
import path = require('path');
import jwt = require('jsonwebtoken');
import { KongBridge } from '../test/bridge/gateway';
import { MockOpenAI } from '../test/mock-openai/server';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);
/** Rounds of all scenarios; each ratio is the median over rounds, against its own round's baseline. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const WARMUP = Math.min(500, REQUESTS);
// random per run; the gateway child gets it through the environment
const API_KEY = process.env.BENCH_API_KEY ?? 'sk-llm-bench-' + crypto.randomBytes(24).toString('base64url');
process.env.BENCH_API_KEY = API_KEY;
const KEY_HASH = 'sha256:' + crypto.createHash('sha256').update(API_KEY).digest('hex');

interface Result {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

function kongYml(publicKeyPem: string): string {
  const auth = (methods: string) => `
          - name: llm-auth
            config:
              methods: [${methods}]
              consumer_by: username
              api_keys:
                - { id: bench-key, key_hash: "${KEY_HASH}", consumer: bench }
              jwt:
                keys:
                  - algorithm: RS256
                    public_key: ${JSON.stringify(publicKeyPem)}
              openai_api_key: "{vault://env/openai-api-key}"`;
  return `_format_version: "3.0"
services:
  - name: openai
    url: http://127.0.0.1:1/v1
    routes:
      - name: baseline
        paths: [/baseline/v1]
        strip_path: true
      - name: api-key
        paths: [/apikey/v1]
        strip_path: true
        plugins:${auth('api_key')}
      - name: jwt
        paths: [/jwt/v1]
        strip_path: true
        plugins:${auth('jwt')}
consumers:
  - username: bench
`;
}

/** Runs `total` GETs with `concurrency` keep-alive connections; headers per request index. */
async function load(url: string, total: number, headers: (i: number) => Record<string, string>): Promise<{ latencies: number[]; seconds: number; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const t0 = process.hrtime.bigint();
      const req = http.get(url, { agent, headers: headers(i) }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) errors++;
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
    });
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < total) await one(next++);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  agent.destroy();
  return { latencies, seconds, errors };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function scenario(name: string, url: string, headers: (i: number) => Record<string, string>): Promise<Result> {
  await load(url, WARMUP, (i) => headers(REQUESTS + i));
  const { latencies, seconds, errors } = await load(url, REQUESTS, headers);
  latencies.sort((a, b) => a - b);
  return { name, rps: REQUESTS / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

/** Child process: the bridge in front of the mock; tells the parent its URL, runs until killed. */
async function serve(publicKeyPem: string): Promise<void> {
  const mock = new MockOpenAI();
  await mock.start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  fs.writeFileSync(path.join(dir, 'kong.yml'), kongYml(publicKeyPem));
  const bridge = await KongBridge.start({
    kongYml: path.join(dir, 'kong.yml'),
    serviceUrls: { openai: mock.url },
    env: { OPENAI_API_KEY: 'sk-bench-upstream' },
  });
  const stop = async () => {
    await bridge.stop();
    await mock.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('disconnect', () => void stop());
  process.send!({ url: bridge.url });
}

async function startGatewayProcess(publicKeyPem: string): Promise<{ url: string; stop(): void }> {
  const child = fork(__filename, ['--serve'], { env: { ...process.env, BENCH_PUBLIC_KEY: publicKeyPem } });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { url: string }).url));
    child.once('exit', (code) => reject(new Error(`gateway process exited (${code})`)));
  });
  return { url, stop: () => child.disconnect() };
}

async function main(): Promise<void> {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const sign = (i: number) => jwt.sign({ sub: 'bench', n: i }, privateKey, { algorithm: 'RS256', expiresIn: 600 });
  const cachedToken = sign(-1);
  // a new token for every request of every round, warm-ups included
  const freshTokens = Array.from({ length: (ROUNDS + 1) * (REQUESTS + WARMUP) }, (_, i) => sign(i));

  const gateway = await startGatewayProcess(pem);
  const base = gateway.url;
  const scenarios: Array<[string, string, (i: number) => Record<string, string>]> = [
    ['no plugin (baseline)', `${base}/baseline/v1/models`, () => ({})],
    ['llm-auth, API key', `${base}/apikey/v1/models`, () => ({ authorization: `Bearer ${API_KEY}` })],
    ['llm-auth, cached JWT', `${base}/jwt/v1/models`, () => ({ authorization: `Bearer ${cachedToken}` })],
    ['llm-auth, new RS256 JWT each request', `${base}/jwt/v1/models`, (i) => ({ authorization: `Bearer ${freshTokens[i]}` })],
  ];
  try {
    // ratios[s] = per-round [throughput, p50, p99] ratios against that round's baseline
    const ratios: number[][][] = scenarios.map(() => []);
    const baselines: Result[] = [];
    let errors = 0;
    // round 0 warms up every process (JIT, pools, caches) and is not counted
    for (let round = 0; round <= ROUNDS; round++) {
      const results: Result[] = [];
      const offset = round * (REQUESTS + WARMUP);
      for (const [name, url, headers] of scenarios) results.push(await scenario(name, url, (i) => headers(offset + i)));
      if (round === 0) continue;
      const b = results[0];
      baselines.push(b);
      results.forEach((r, i) => ratios[i].push([r.rps / b.rps, r.p50 / b.p50, r.p99 / b.p99]));
      errors += results.reduce((n, r) => n + r.errors, 0);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    process.stdout.write(
      `\nllm-auth through the bridge: ${ROUNDS} rounds x ${REQUESTS} requests per scenario, concurrency ${CONCURRENCY}, ` +
        `node ${process.version}, ${os.cpus().length} cores; medians of per-round ratios\n\n`,
    );
    process.stdout.write('| scenario | throughput vs baseline | p50 latency vs baseline | p99 latency vs baseline |\n| --- | --- | --- | --- |\n');
    scenarios.forEach(([name], i) => {
      const [t, p50, p99] = [0, 1, 2].map((k) => median(ratios[i].map((r) => r[k])).toFixed(2));
      process.stdout.write(`| ${name} | ${t} | ${p50} | ${p99} |\n`);
    });
    const rps = baselines.map((b) => b.rps.toFixed(0)).join(', ');
    process.stdout.write(`\n(baseline req/s per round: ${rps}; errors: ${errors})\n`);
    if (errors > 0) process.exitCode = 1;
  } finally {
    gateway.stop();
  }
}

const run = process.argv[2] === '--serve' ? serve(process.env.BENCH_PUBLIC_KEY ?? '') : main();
run.catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
