/**
 * Gateway overhead of llm-auth, measured through the bridge and the real plugin
 * server, as ratios against a baseline route without plugins measured in the same
 * run (absolute numbers depend on the machine; ratios are the budget).
 *
 *   npm run bench            (BENCH_REQUESTS, BENCH_CONCURRENCY to change the load)
 *
 * Scenarios: no plugin; API key; JWT seen before (verified-credential cache); a new
 * RS256 JWT on every request (signature check each time). Traffic stays on loopback
 * and every loop is bounded by a request count.
 */
import crypto = require('crypto');
import fs = require('fs');
import http = require('http');
import os = require('os');
import path = require('path');
import jwt = require('jsonwebtoken');
import { KongBridge } from '../test/bridge/gateway';
import { MockOpenAI } from '../test/mock-openai/server';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 3000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const WARMUP = Math.min(500, REQUESTS);
const API_KEY = 'sk-llm-bench-' + crypto.randomBytes(24).toString('base64url');
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

async function main(): Promise<void> {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const sign = (i: number) => jwt.sign({ sub: 'bench', n: i }, privateKey, { algorithm: 'RS256', expiresIn: 600 });
  const cachedToken = sign(-1);
  const freshTokens = Array.from({ length: REQUESTS + WARMUP }, (_, i) => sign(i));

  const mock = new MockOpenAI();
  await mock.start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-'));
  fs.writeFileSync(path.join(dir, 'kong.yml'), kongYml(pem));
  const bridge = await KongBridge.start({
    kongYml: path.join(dir, 'kong.yml'),
    serviceUrls: { openai: mock.url },
    env: { OPENAI_API_KEY: 'sk-bench-upstream' },
  });
  try {
    const results: Result[] = [];
    results.push(await scenario('no plugin (baseline)', `${bridge.url}/baseline/v1/models`, () => ({})));
    results.push(await scenario('llm-auth, API key', `${bridge.url}/apikey/v1/models`, () => ({ authorization: `Bearer ${API_KEY}` })));
    results.push(await scenario('llm-auth, cached JWT', `${bridge.url}/jwt/v1/models`, () => ({ authorization: `Bearer ${cachedToken}` })));
    results.push(await scenario('llm-auth, new RS256 JWT each request', `${bridge.url}/jwt/v1/models`, (i) => ({ authorization: `Bearer ${freshTokens[i]}` })));

    const base = results[0];
    process.stdout.write(`\nllm-auth through the bridge: ${REQUESTS} requests per scenario, concurrency ${CONCURRENCY}, node ${process.version}, ${os.cpus().length} cores\n\n`);
    process.stdout.write('| scenario | throughput vs baseline | p50 latency vs baseline | p99 latency vs baseline | errors |\n| --- | --- | --- | --- | --- |\n');
    for (const r of results) {
      process.stdout.write(
        `| ${r.name} | ${(r.rps / base.rps).toFixed(2)} | ${(r.p50 / base.p50).toFixed(2)} | ${(r.p99 / base.p99).toFixed(2)} | ${r.errors} |\n`,
      );
    }
    process.stdout.write(`\n(baseline: ${base.rps.toFixed(0)} req/s, p50 ${base.p50.toFixed(2)} ms, p99 ${base.p99.toFixed(2)} ms)\n`);
    if (results.some((r) => r.errors > 0)) process.exitCode = 1;
  } finally {
    await bridge.stop();
    await mock.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
