/**
 * llm-audit: what its log phase costs, and how fast its records reach a sink.
 *
 * 1. Core, on this thread. Per record, the work llm-audit's log phase does once
 *    `kong.log.serialize()` has answered (plugins/llm-audit/handler.ts): JSON.parse of
 *    the serialized string (Kong's plugin.lua hands it over as cjson text),
 *    `buildAuditRecord` with the settings `recordSettings` makes from the schema's
 *    defaults, `AuditChain.seal`, JSON.stringify, `DeliveryQueue.enqueue` into the queue
 *    runtime.ts `outputFor` makes (defaults: batches of 500 records or 1 s, spill dir in
 *    a temp dir), for (a) a file sink in a temp dir (fsync per batch, the default) and
 *    (b) an HTTP sink (json_array, gzip) to a server in a child process that accepts
 *    every batch and counts its records. Inputs: 1,000 distinct serialize() strings
 *    shaped like the bridge's (test/bridge/serialize.ts) for a chat completion through
 *    llm-auth, llm-guard, llm-rate-limit and the post-function's Lua (llm.identity,
 *    llm.request, llm.rate_limit, llm.usage), with an OpenAI SDK's request headers and
 *    OpenAI's answer headers; 1 in 20 is a 429 from the gateway, 1 in 10 a stream.
 *    Records are enqueued BENCH_AUDIT_CHUNK (50) at a time, then the event loop turns
 *    (as a plugin server's log events arrive), so the queue's pump writes meanwhile.
 *    Reported: per-record p50/p99 µs of build + seal + stringify + enqueue, the mean
 *    µs of each step (parse apart), records/s of that work alone (1e6 / mean), and
 *    end to end: records/s from the first enqueue until the sink acknowledged the
 *    last (file: written and fdatasync'ed; HTTP: answered 200), checked against the
 *    sink's own count (lines in the file, records the server parsed).
 *    Also `AuditMetrics.observe` per record (metrics on, default label bounds).
 *    BENCH_AUDIT_RECORDS (10,000, a multiple of the batch) records per case and round;
 *    a warm-up round, then BENCH_AUDIT_ROUNDS (5) rounds, the cases in a different
 *    order each round; medians over rounds.
 *
 * 2. Through the bridge (harness.ts): POST /v1/chat/completions with the guard bench's
 *    body; no plugin (baseline); the post-function alone (the suite's Lua, which gives
 *    the audit its llm.* fields; every other row has it too); llm-audit alone (file sink
 *    in a temp dir, metrics off); llm-auth + llm-guard + llm-rate-limit (requests and
 *    tokens, local) without and with llm-audit. Ratios against the baseline, and the
 *    PDK calls per request per plugin and phase. BENCH_AUDIT_BRIDGE_REQUESTS (2000).
 *    At the end the audit files are counted against the requests sent to their routes.
 */
import { spawn, type ChildProcess } from 'child_process';
import crypto = require('crypto');
import fs = require('fs');
import os = require('os');
import path = require('path');
import { performance } from 'perf_hooks';
import { AuditChain } from '../plugins/llm-audit/core/chain';
import { AuditMetrics } from '../plugins/llm-audit/core/metrics';
import { buildAuditRecord, type AuditRecord } from '../plugins/llm-audit/core/record';
import { recordSettings } from '../plugins/llm-audit/handler';
import { outputFor, type AuditOutput } from '../plugins/llm-audit/runtime';
import { Schema, type LlmAuditConfig } from '../plugins/llm-audit/schema';
import { parsePluginConfig } from '../plugins/shared/kong-config';
import { postFunctionConfig, readLuaSources } from '../scripts/gen-kong-lua';
import { authPlugin, benchApiKey } from './auth';
import { compare, median, percentile, probePdkCalls, ROUNDS, startGateway, type Gateway, type PdkCallSummary, type Scenario } from './harness';
import { BENCH_PROMPT, chatBody } from './prose';

const KEY_TEXT = `base64:${crypto.randomBytes(32).toString('base64')}`;
const KEY = Buffer.from(KEY_TEXT.slice(7), 'base64');
const INPUTS = 1000;
const CONSUMERS = 50;
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini'];

// ---------------------------------------------------------------- inputs

const hex = (n: number) => crypto.randomBytes(n).toString('hex');

/** serialize() of request `i` as Kong's plugin.lua sends it (a JSON string). */
function serializedText(i: number): string {
  const refused = i % 20 === 19;
  const stream = i % 10 === 3;
  const consumer = `team-${i % CONSUMERS}`;
  const model = MODELS[i % MODELS.length];
  const id = hex(16);
  const started = Date.now() - 60_000 + i;
  const prompt = 600 + (i % 400);
  const completion = refused ? 0 : 150 + (i % 300);
  const upstream = refused ? 0 : 400 + (i % 900);
  const reqHeaders: Record<string, string> = {
    host: 'llm-gw.internal:8000',
    'content-type': 'application/json',
    'content-length': String(300 + (i % 200)),
    accept: 'application/json',
    authorization: 'REDACTED',
    'user-agent': 'OpenAI/JS 6.49.0',
    'x-stainless-lang': 'js',
    'x-stainless-package-version': '6.49.0',
    'x-stainless-os': 'Linux',
    'x-stainless-arch': 'x64',
    'x-stainless-runtime': 'node',
    'x-stainless-runtime-version': 'v20.19.0',
    'x-stainless-retry-count': '0',
    'x-stainless-timeout': '600000',
    'x-team': consumer,
    'x-request-trace': `00-${hex(16)}-${hex(8)}-01`,
    connection: 'keep-alive',
  };
  // a client that forwards a secret under a name that says nothing: the detectors' work
  if (i % 25 === 7) reqHeaders['x-debug-note'] = `forwarded sk-proj-${hex(24)}`;
  const resHeaders: Record<string, string | string[]> = refused
    ? { 'content-type': 'application/json', 'content-length': '190', 'retry-after': '12', 'ratelimit-limit': '60', 'ratelimit-remaining': '0', 'ratelimit-reset': '12', server: 'kong/3.10.0' }
    : {
        'content-type': stream ? 'text/event-stream; charset=utf-8' : 'application/json',
        'transfer-encoding': 'chunked',
        connection: 'keep-alive',
        date: new Date(started).toUTCString(),
        'access-control-expose-headers': 'X-Request-ID',
        'openai-organization': 'acme-corp-x1y2z3',
        'openai-processing-ms': String(upstream - 20),
        'openai-project': `proj_${hex(12)}`,
        'openai-version': '2020-10-01',
        'x-envoy-upstream-service-time': String(upstream - 10),
        'x-ratelimit-limit-requests': '10000',
        'x-ratelimit-limit-tokens': '30000000',
        'x-ratelimit-remaining-requests': '9999',
        'x-ratelimit-remaining-tokens': String(29_999_000 - prompt),
        'x-ratelimit-reset-requests': '6ms',
        'x-ratelimit-reset-tokens': '0s',
        'x-request-id': `req_${hex(16)}`,
        'strict-transport-security': 'max-age=31536000; includeSubDomains; preload',
        'cf-cache-status': 'DYNAMIC',
        'set-cookie': [`__cf_bm=${hex(40)}-${started}-1.0.1.1-${hex(30)}; path=/; expires=Thu, 01-Jan-2026 00:30:00 GMT; domain=.api.openai.com; HttpOnly; Secure; SameSite=None`, `_cfuvid=${hex(20)}-${started}-0.0.1.1-604800000; path=/; domain=.api.openai.com; HttpOnly; Secure; SameSite=None`],
        'x-content-type-options': 'nosniff',
        server: 'cloudflare',
        'cf-ray': `${hex(8)}-FRA`,
        'alt-svc': 'h3=":443"; ma=86400',
        'ratelimit-limit': '1000000',
        'ratelimit-remaining': String(999_000 - (i % 1000)),
        'ratelimit-reset': '41',
        'x-kong-upstream-latency': String(upstream),
        'x-kong-proxy-latency': '3',
        via: '1.1 kong/3.10.0',
      };
  const route = { id: crypto.randomUUID(), name: 'chat', paths: ['/v1'], protocols: ['http', 'https'], strip_path: true, preserve_host: false, https_redirect_status_code: 426, regex_priority: 0, path_handling: 'v0', request_buffering: true, response_buffering: true, created_at: 1767225600, updated_at: 1767225600, ws_id: '00000000-0000-4000-8000-000000000000', service: { id: 'f3b5c0de-0000-4000-8000-000000000001' } };
  const service = { id: 'f3b5c0de-0000-4000-8000-000000000001', name: 'openai', protocol: 'https', host: 'api.openai.com', port: 443, path: '/v1', retries: 5, connect_timeout: 60000, write_timeout: 60000, read_timeout: 60000, enabled: true, created_at: 1767225600, updated_at: 1767225600, ws_id: '00000000-0000-4000-8000-000000000000' };
  const limits = [
    { id: 'rpm', unit: 'requests', limit: 60, remaining: refused ? 0 : 59 - (i % 59), reset_ms: 12_000 },
    { id: 'tpm', unit: 'tokens', limit: 1_000_000, remaining: 999_000 - (i % 1000), reset_ms: 41_000 },
  ];
  const serialized = {
    request: { id, uri: '/v1/chat/completions', url: 'http://llm-gw.internal:8000/v1/chat/completions', querystring: {}, method: 'POST', headers: reqHeaders, size: 900 + (i % 200) },
    upstream_uri: '/v1/chat/completions',
    upstream_status: refused ? '' : '200',
    response: { status: refused ? 429 : 200, headers: resHeaders, size: refused ? 420 : 1200 + (i % 2000) },
    latencies: { kong: 3 + (i % 4), proxy: upstream, request: upstream + 5, receive: 0 },
    tries: refused ? undefined : [{ ip: '162.159.140.245', port: 443, balancer_latency: 0 }],
    authenticated_entity: { id: `cred-${i % CONSUMERS}`, consumer_id: crypto.randomUUID() },
    route,
    service,
    consumer: { id: crypto.randomUUID(), username: consumer, created_at: 1767225600 },
    client_ip: `10.0.${i % 256}.${(i * 7) % 256}`,
    started_at: started,
    source: refused ? 'exit' : 'upstream',
    workspace: '00000000-0000-4000-8000-000000000000',
    workspace_name: 'default',
    llm: {
      identity: { consumer, tenant: `tenant-${i % 10}`, credential_id: `cred-${i % CONSUMERS}`, auth_method: 'api_key', scopes: ['chat'] },
      request: {
        endpoint: 'chat.completions',
        model,
        stream,
        include_usage_injected: stream,
        prompt_tokens: prompt,
        prompt_tokens_method: 'exact',
        requested_completion_tokens: 512,
        body_rewritten: i % 4 === 0,
        findings: { pii: i % 4 === 0 ? { email: 1, phone: i % 8 === 0 ? 1 : 0 } : {}, injection: i % 50 === 0 ? [{ rule_id: 'ign-1', category: 'instruction_override' }] : [], blocked: false },
      },
      rate_limit: refused
        ? { allowed: false, key_by: 'consumer', limit_set: 'default', store: 'local', limits, refused_by: 'rpm' }
        : { allowed: true, key_by: 'consumer', limit_set: 'default', store: 'local', limits, reserved: { tokens: prompt + 512, usd_micros: 0 } },
      ...(refused ? {} : { usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, cached_tokens: i % 3 === 0 ? 256 : 0, reasoning_tokens: null, source: stream ? 'stream' : 'response' } }),
    },
  };
  return JSON.stringify(serialized);
}

// ---------------------------------------------------------------- the HTTP sink's server

/** A server in a child process: 200 to every POST, counting the records of each json_array batch (gzip or not). */
const SINK_SERVER = `
const http = require('http'), zlib = require('zlib');
let records = 0, posts = 0, bytes = 0;
http.createServer((req, res) => {
  if (req.method === 'GET') return res.end(JSON.stringify({ records, posts, bytes }));
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    bytes += body.length;
    const count = (raw) => { try { records += JSON.parse(raw).length; } catch {} posts++; res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}'); };
    if (req.headers['content-encoding'] === 'gzip') zlib.gunzip(body, (e, raw) => count(e ? '[]' : raw)); else count(body);
  });
}).listen(0, '127.0.0.1', function () { process.stdout.write(this.address().port + '\\n'); });
process.on('disconnect', () => process.exit(0));
`;

async function startSinkServer(): Promise<{ url: string; count(): Promise<{ records: number; posts: number; bytes: number }>; stop(): void }> {
  const child: ChildProcess = spawn(process.execPath, ['-e', SINK_SERVER], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the sink server exited (${code})`)));
  });
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    async count() {
      return (await (await fetch(url)).json()) as { records: number; posts: number; bytes: number };
    },
    stop() {
      child.kill();
    },
  };
}

// ---------------------------------------------------------------- core

interface CoreResult {
  p50: number;
  p99: number;
  /** Mean µs per record of each step. */
  parse: number;
  build: number;
  seal: number;
  stringify: number;
  enqueue: number;
  /** Records/s of build + seal + stringify + enqueue alone. */
  workRps: number;
  /** Records/s from the first enqueue to the sink's acknowledgement of the last. */
  e2eRps: number;
  lineBytes: number;
  spilled: number;
  dropped: number;
  sinkCount: number;
}

function auditConfig(raw: Record<string, unknown>): LlmAuditConfig {
  return parsePluginConfig<LlmAuditConfig>(Schema, { signing_key: KEY_TEXT, metrics: false, ...raw });
}

async function until(done: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
  return true;
}

async function runPipeline(output: AuditOutput, config: LlmAuditConfig, inputs: string[], n: number, chunk: number, offset: number): Promise<Omit<CoreResult, 'sinkCount'> & { seconds: number }> {
  const settings = recordSettings(config);
  const chain = new AuditChain({ key: KEY, key_id: config.signing_key_id });
  const lat = new Float64Array(n);
  let parse = 0,
    build = 0,
    seal = 0,
    stringify = 0,
    enqueue = 0,
    bytes = 0;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const serialized = JSON.parse(inputs[(offset + i) % inputs.length]) as { llm: Record<string, unknown> };
    const t1 = performance.now();
    const llm = serialized.llm;
    const record = buildAuditRecord({ serialized, node_id: 'bench-node', identity: llm.identity, request_facts: llm.request, rate_limit: llm.rate_limit, usage: llm.usage }, settings);
    const t2 = performance.now();
    const sealed = chain.seal(record);
    const t3 = performance.now();
    const line = JSON.stringify(sealed);
    const t4 = performance.now();
    output.queue.enqueue(line);
    const t5 = performance.now();
    parse += t1 - t0;
    build += t2 - t1;
    seal += t3 - t2;
    stringify += t4 - t3;
    enqueue += t5 - t4;
    lat[i] = (t5 - t1) * 1000;
    bytes += line.length;
    if ((i + 1) % chunk === 0) await new Promise((r) => setImmediate(r));
  }
  const reached = await until(() => {
    const c = output.queue.counters();
    return c.sent + c.replayed >= n;
  }, 120_000);
  const seconds = (performance.now() - start) / 1000;
  if (!reached) throw new Error(`${output.name}: ${JSON.stringify(output.queue.counters())} after 120 s, of ${n} records`);
  const c = output.queue.counters();
  const sorted = Array.from(lat).sort((a, b) => a - b);
  const us = (ms: number) => (ms * 1000) / n;
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    parse: us(parse),
    build: us(build),
    seal: us(seal),
    stringify: us(stringify),
    enqueue: us(enqueue),
    workRps: n / ((build + seal + stringify + enqueue) / 1000),
    e2eRps: n / seconds,
    lineBytes: bytes / n,
    spilled: c.spilled,
    dropped: c.dropped,
    seconds,
  };
}

interface MetricsResult {
  p50: number;
  p99: number;
  mean: number;
}

function runMetrics(records: AuditRecord[], n: number): MetricsResult {
  const metrics = new AuditMetrics();
  const lat = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    metrics.observe(records[i % records.length]);
    const d = performance.now() - t0;
    lat[i] = d * 1000;
    sum += d;
  }
  const sorted = Array.from(lat).sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean: (sum * 1000) / n };
}

const f1 = (x: number) => x.toFixed(1);
const f0 = (x: number) => Math.round(x).toLocaleString('en-US');

export async function benchAuditCore(): Promise<number> {
  const n = Number(process.env.BENCH_AUDIT_RECORDS ?? 10_000);
  const rounds = Number(process.env.BENCH_AUDIT_ROUNDS ?? 5);
  const chunk = Number(process.env.BENCH_AUDIT_CHUNK ?? 50);
  const inputs = Array.from({ length: INPUTS }, (_, i) => serializedText(i));
  const inputBytes = inputs.reduce((s, x) => s + x.length, 0) / inputs.length;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-audit-'));
  const server = await startSinkServer();
  const results: Record<'file' | 'http', CoreResult[]> = { file: [], http: [] };
  const metricsResults: MetricsResult[] = [];
  let lastServer = { records: 0, posts: 0, bytes: 0 };
  // records built once for the metrics case (observe reads a record, never changes it)
  const probeSettings = recordSettings(auditConfig({}));
  const records = inputs.map((t) => {
    const serialized = JSON.parse(t) as { llm: Record<string, unknown> };
    const l = serialized.llm;
    return buildAuditRecord({ serialized, node_id: 'bench-node', identity: l.identity, request_facts: l.request, rate_limit: l.rate_limit, usage: l.usage }, probeSettings);
  });
  try {
    const cases = ['file', 'http', 'metrics'] as const;
    for (let round = 0; round <= rounds; round++) {
      // a different order each round: each case runs first, second and last in turn
      const order = cases.map((_, k) => cases[(k + round) % cases.length]);
      for (const kind of order) {
        if (kind === 'metrics') {
          const r = runMetrics(records, n);
          if (round > 0) metricsResults.push(r);
          continue;
        }
        const spill_dir = path.join(dir, `spill-${kind}-${round}`);
        const file = path.join(dir, `audit-${round}.jsonl`);
        const sink = kind === 'file' ? { type: 'file', path: file } : { type: 'http', url: `${server.url}/ingest`, preset: 'json_array' };
        const config = auditConfig({ sinks: [sink], spill_dir });
        const output = outputFor(config.sinks[0], config, 'sinks[0]');
        const r = await runPipeline(output, config, inputs, n, chunk, round * n);
        await output.queue.close(5000);
        let sinkCount: number;
        if (kind === 'file') {
          sinkCount = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
          fs.rmSync(file);
        } else {
          const now = await server.count();
          sinkCount = now.records - lastServer.records;
          lastServer = now;
        }
        if (sinkCount !== n) throw new Error(`${kind} sink: ${sinkCount} records arrived of ${n}`);
        if (round > 0) results[kind].push({ ...r, sinkCount });
      }
    }
  } finally {
    server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  process.stdout.write(
    `\nllm-audit log-phase work on this thread: ${rounds} rounds x ${n} records per case (after a warm-up round), ` +
      `${INPUTS} distinct serialize() strings of ${f0(inputBytes)} bytes on average, enqueued ${chunk} at a time; ` +
      `node ${process.version}, ${os.cpus().length} cores; medians over rounds\n\n`,
  );
  process.stdout.write(
    '| sink | build+seal+stringify+enqueue p50 µs | p99 µs | records/s of that work | build µs | seal µs | stringify µs | enqueue µs | (JSON.parse of serialize() µs) | records/s reaching the sink, end to end |\n' +
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n',
  );
  for (const kind of ['file', 'http'] as const) {
    const rs = results[kind];
    const m = (k: keyof CoreResult) => median(rs.map((r) => r[k]));
    const label = kind === 'file' ? 'file (temp dir, fdatasync per batch)' : 'http (json_array, gzip, child-process server)';
    process.stdout.write(`| ${label} | ${f1(m('p50'))} | ${f1(m('p99'))} | ${f0(m('workRps'))} | ${f1(m('build'))} | ${f1(m('seal'))} | ${f1(m('stringify'))} | ${f1(m('enqueue'))} | ${f1(m('parse'))} | ${f0(m('e2eRps'))} |\n`);
  }
  const all = [...results.file, ...results.http];
  process.stdout.write(
    `\n(record line: ${f0(median(all.map((r) => r.lineBytes)))} bytes; every round's records counted at the sink: ${n} each; ` +
      `spilled ${all.reduce((s, r) => s + r.spilled, 0)}, dropped ${all.reduce((s, r) => s + r.dropped, 0)}; ` +
      `end to end per round, file: ${results.file.map((r) => f0(r.e2eRps)).join(', ')}; http: ${results.http.map((r) => f0(r.e2eRps)).join(', ')} records/s)\n`,
  );
  const mm = (k: keyof MetricsResult) => median(metricsResults.map((r) => r[k]));
  process.stdout.write(
    `\nAuditMetrics.observe (default bounds; ${CONSUMERS} consumers, 10 tenants, ${MODELS.length} models): ` +
      `p50 ${f1(mm('p50'))} µs, p99 ${f1(mm('p99'))} µs, mean ${f1(mm('mean'))} µs per record (${f0(1e6 / mm('mean'))} records/s)\n`,
  );
  return 0;
}

// ---------------------------------------------------------------- through the bridge

const PROBE = 20;

interface Row extends Scenario {
  plugins: string[];
  /** The audit file this route writes, if any. */
  auditFile: string | null;
}

function postFunction(marks: string[]): string {
  return ['', '          - name: post-function', ...postFunctionConfig(readLuaSources(), marks, '            ')].join('\n');
}

function audit(file: string, spill: string): string {
  return `
          - name: llm-audit
            config:
              signing_key: "${KEY_TEXT}"
              metrics: false
              spill_dir: ${spill}
              sinks:
                - { type: file, path: ${file} }`;
}

const RATE_LIMIT = (namespace: string) => `
          - name: llm-rate-limit
            config:
              namespace: ${namespace}
              key_by: consumer
              limits:
                - { id: rpm, unit: requests, limit: 1000000000, window_seconds: 60 }
                - { id: tpm, unit: tokens, limit: 1000000000, window_seconds: 60 }`;

function route(name: string, plugins: string): string {
  return `
      - name: ${name}
        paths: [/${name}/v1]
        strip_path: true${plugins ? `\n        plugins:${plugins}` : ''}`;
}

export async function benchAuditBridge(): Promise<number> {
  const requests = Number(process.env.BENCH_AUDIT_BRIDGE_REQUESTS ?? 2000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-audit-bridge-'));
  const run = crypto.randomBytes(4).toString('hex');
  const apiKey = benchApiKey();
  const auth = authPlugin('api_key', apiKey.hash);
  const GUARD = `
          - name: llm-guard
            config: {}`;
  const files = { alone: path.join(dir, 'alone.jsonl'), suite: path.join(dir, 'suite.jsonl') };
  const suiteMarks = ['llm_auth', 'llm_guard', 'llm_rate_limit'];
  const routes = [
    route('baseline', ''),
    route('post-function', postFunction([])),
    route('audit', postFunction([]) + audit(files.alone, path.join(dir, 'spill'))),
    route('suite', postFunction(suiteMarks) + auth + GUARD + RATE_LIMIT(`bench-audit-${run}-suite`)),
    route('suite-audit', postFunction(suiteMarks) + auth + GUARD + RATE_LIMIT(`bench-audit-${run}-suite-audit`) + audit(files.suite, path.join(dir, 'spill'))),
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
  const bearer = () => ({ authorization: `Bearer ${apiKey.key}` });
  const row = (name: string, p: string, plugins: string[], auditFile: string | null, headers?: () => Record<string, string>): Row => ({
    name,
    path: `/${p}/v1/chat/completions`,
    method: 'POST',
    body,
    headers,
    plugins,
    auditFile,
  });
  const rows: Row[] = [
    row('no plugin (baseline)', 'baseline', [], null),
    row('post-function only (the suite\'s Lua; on every row below)', 'post-function', [], null),
    row('llm-audit (file sink, metrics off)', 'audit', ['llm-audit'], files.alone),
    row('llm-auth + llm-guard + llm-rate-limit', 'suite', ['llm-auth', 'llm-guard', 'llm-rate-limit'], null, bearer),
    row('llm-auth + llm-guard + llm-rate-limit + llm-audit', 'suite-audit', ['llm-auth', 'llm-guard', 'llm-rate-limit', 'llm-audit'], files.suite, bearer),
  ];

  let gateway: Gateway | null = await startGateway(kongYml);
  let errors = 0;
  try {
    const summaries: PdkCallSummary[] = [];
    for (const r of rows) summaries.push(await probePdkCalls(gateway, r, { count: PROBE, warmup: 1 }));
    errors = await compare(`llm-audit through the bridge (POST /v1/chat/completions, ${body.length}-byte body)`, gateway.url, rows, requests);

    process.stdout.write(`\nPDK calls per request as the bridge counted them (${PROBE} requests one at a time per scenario, after one not counted):\n\n`);
    process.stdout.write('| scenario | plugin | access | log | calls of one request |\n| --- | --- | --- | --- | --- |\n');
    rows.forEach((r, i) => {
      for (const [plugin, p] of Object.entries(summaries[i].plugins)) {
        const phase = (k: string) => (p.perPhase[k] ?? 0).toFixed(2).replace(/\.00$/, '');
        const other = Object.keys(p.perPhase).filter((k) => k !== 'access' && k !== 'log');
        const extra = other.length ? ` (also ${other.map((k) => `${k} ${phase(k)}`).join(', ')})` : '';
        process.stdout.write(`| ${r.name} | ${plugin} | ${phase('access')} | ${phase('log')}${extra} | ${p.lastRequest.join(', ')} |\n`);
      }
    });
    await gateway.stop(); // SIGTERM: the plugin server flushes its queues
    gateway = null;
    // every request of an audit route, warm-ups and probes included, must have its record
    const sent = PROBE + 1 + (ROUNDS + 1) * (requests + Math.min(500, requests));
    const lines = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0);
    process.stdout.write(
      `\n(records in the audit files after the gateway stopped: llm-audit alone ${lines(files.alone)}, with the suite ${lines(files.suite)}; ` +
        `requests sent to each of those routes: ${sent}, of which failed: see errors above)\n`,
    );
    process.stdout.write(
      '\nNot modelled: on Kong, a JS log phase also costs Kong a kong.log.serialize() (Lua building the table, cjson encoding it) and a timer ' +
        '(ngx.timer.at) per request before the event reaches the plugin server. The bridge does both in JavaScript, in its own process ' +
        '(test/bridge/serialize.ts, setImmediate), so these ratios carry them at the bridge\'s cost, not at Lua\'s.\n',
    );
    return errors;
  } finally {
    await gateway?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchAudit(): Promise<number> {
  return (await benchAuditCore()) + (await benchAuditBridge());
}
