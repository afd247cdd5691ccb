/**
 * llm-audit's Kong adapter through the bridge and the real plugin servers, with the
 * openai SDK as the client: records of admitted, redacted and rate-limited requests in
 * a file and at an HTTP endpoint, valid against the schema, chained (the verifier
 * passes), without the client's secrets or the prompt's personal data; one PDK call per
 * log event; the metrics endpoint; records queued in memory flushed on SIGTERM.
 */
import crypto = require('crypto');
import fs = require('fs');
import os = require('os');
import path = require('path');
import OpenAI from 'openai';
import { parseKeyFile } from '../../plugins/llm-audit/core/keys';
import { verifyChain } from '../../plugins/llm-audit/core/verify';
import { postFunctionConfig, readLuaSources } from '../../scripts/gen-kong-lua';
import { bridgeWithYml, type BridgeWith } from '../support/bridge-with';
import { sparePort } from '../llm-rate-limit/core/support/redis-server';
import { schemaCheck } from './core/audit-schema';
import { Recorder } from './core/sinks/recorder';

const PLUGIN = 'llm-audit';
const KEY = `base64:${crypto.randomBytes(32).toString('base64')}`;
const CLIENT_SECRET = 'sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd';
/** The client's gateway key (llm-auth) and the company's OpenAI key llm-auth puts in its place. */
const ALICE_KEY = 'sk-llm-audit-alice-0123456789abcdefghijklmnopqrstuvwx';
const COMPANY_KEY = 'sk-company-upstream-key-0123456789abcdefghijklmnopqr';
const sha256 = (x: string) => 'sha256:' + crypto.createHash('sha256').update(x).digest('hex');
const chat = (content: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content }] });

function yml(dir: string, opts: { recorderUrl?: string; metricsPort?: number; waitMs: number; namespace: string }): string {
  const postFunction = ['    plugins:', '      - name: post-function', ...postFunctionConfig(readLuaSources(), ['llm_auth', 'llm_guard', 'llm_rate_limit'], '        ')].join('\n');
  const http = opts.recorderUrl ? `\n                - { type: http, url: "${opts.recorderUrl}/ingest", preset: json_array, timeout_ms: 2000 }` : '';
  return `_format_version: "3.0"
services:
  - name: openai
    url: http://127.0.0.1:1/v1
${postFunction}
    routes:
      - name: audited
        paths: [/v1]
        strip_path: true
        plugins:
          - name: llm-auth
            config:
              openai_api_key: "{vault://env/openai-api-key}"
              api_keys:
                - { id: alice-key, key_hash: "${sha256(ALICE_KEY)}", consumer: alice, tenant: acme, scopes: [chat] }
          - name: llm-guard
            config: {}
          - name: llm-rate-limit
            config:
              namespace: ${opts.namespace}
              key_by: header
              header_name: x-team
              limits:
                - { id: rpm, unit: requests, limit: 3, window_seconds: 60 }
          - name: llm-audit
            config:
              signing_key: "{vault://env/llm-audit-test-key}"
              batch_max_wait_ms: ${opts.waitMs}
              spill_dir: ${path.join(dir, 'spill')}
              metrics: ${opts.metricsPort !== undefined}
              metrics_host: 127.0.0.1
              metrics_port: ${opts.metricsPort ?? 9464}
              sinks:
                - { type: file, path: ${path.join(dir, 'audit.jsonl')} }${http}
consumers:
  - username: alice
`;
}

async function linesOf(file: string, n: number, timeoutMs = 5000): Promise<string[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const lines = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.length >= n || Date.now() > until) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('llm-audit through the bridge', () => {
  let env: BridgeWith;
  let recorder: Recorder;
  let dir: string;
  let metricsPort: number;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-audit-'));
    recorder = new Recorder();
    await recorder.start();
    metricsPort = await sparePort();
    env = await bridgeWithYml(yml(dir, { recorderUrl: recorder.url, metricsPort, waitMs: 20, namespace: `audit-${crypto.randomBytes(4).toString('hex')}` }), {
      env: { LLM_AUDIT_TEST_KEY: KEY, OPENAI_API_KEY: COMPANY_KEY },
    });
  });
  afterAll(async () => {
    await env?.close();
    await recorder?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes one chained, schema-valid, redacted record per request to every sink, in one PDK call per log event', async () => {
    const sdk = new OpenAI({ apiKey: ALICE_KEY, baseURL: `${env.bridge.url}/v1`, maxRetries: 0, defaultHeaders: { 'x-team': 'a', 'x-debug-note': `forwarded ${CLIENT_SECRET}` } });
    await sdk.chat.completions.create(chat('Write to jane.doe@example.com about the launch.'));
    const stream = await sdk.chat.completions.create({ ...chat('hello'), stream: true });
    for await (const _ of stream) void _;
    await sdk.chat.completions.create(chat('third'));
    const refused = await sdk.chat.completions.create(chat('one too many')).catch((e) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    await env.bridge.drainLogPhase();

    const file = path.join(dir, 'audit.jsonl');
    const lines = await linesOf(file, 4);
    expect(lines).toHaveLength(4);
    const records = lines.map((l) => JSON.parse(l));
    for (const r of records) expect(schemaCheck(r)).toBe(true);

    // tamper evidence: the chain verifies with the key, and an edit is found
    expect(verifyChain(lines, parseKeyFile(KEY, 'k1'))).toMatchObject({ ok: true, verified: 4 });
    const edited = [...lines];
    edited[1] = edited[1].replace('"status":200', '"status":201');
    expect(verifyChain(edited, parseKeyFile(KEY, 'k1')).issues.map((i) => [i.kind, i.line])).toEqual([['edited', 2]]);

    // no secret of the client, not the company key llm-auth put in Authorization, no personal data of the prompt
    const text = fs.readFileSync(file, 'utf8');
    for (const secret of [CLIENT_SECRET, ALICE_KEY, COMPANY_KEY, 'jane.doe@example.com']) expect(text).not.toContain(secret);

    const [first, streamed, , refusedRecord] = records;
    expect(first).toMatchObject({ consumer: 'alice', tenant: 'acme', credential_id: 'alice-key', auth_method: 'api_key' });
    // the stream asked for its usage (llm-guard), the body_filter read it: exact
    expect(streamed).toMatchObject({ request: { stream: true }, tokens: { completion_method: 'exact', usage_source: 'stream' } });
    expect(first).toMatchObject({
      request: { method: 'POST', endpoint: 'chat.completions', model: 'gpt-4o-mini', stream: false },
      response: { status: 200, source: 'upstream' },
      tokens: { prompt_method: 'exact', completion_method: 'exact', usage_source: 'response' },
      cost: { basis: 'exact', known: true },
      rate_limit: { allowed: true, key_by: 'header', limits: [{ id: 'rpm', unit: 'requests', limit: 3, remaining: 2 }] },
      guard: { request_findings: { email: 1 }, response_findings: null },
    });
    // a header whose name says nothing: the secret detectors found the key in its value
    expect(first.request.headers['x-debug-note']).toMatch(/^forwarded \[REDACTED:openai_key\]$/);
    expect(first.tokens.total).toBeGreaterThan(0);
    expect(refusedRecord).toMatchObject({
      response: { status: 429, source: 'gateway', error_type: 'rate_limit_error' },
      rate_limit: { allowed: false, refused_by: 'rpm' },
      tokens: { completion: null },
    });

    // the same records at the HTTP sink
    for (let i = 0; i < 100 && recorder.requests.flatMap((r) => JSON.parse(r.body)).length < 4; i++) await new Promise((r) => setTimeout(r, 50));
    for (const r of recorder.requests) for (const secret of [CLIENT_SECRET, ALICE_KEY, COMPANY_KEY]) expect(r.body).not.toContain(secret);
    expect(recorder.requests.flatMap((r) => JSON.parse(r.body) as unknown[])).toEqual(records);

    const logCalls = env.bridge.traces.map((t) => t.pdkCalls.filter((c) => c.plugin === PLUGIN).map((c) => c.method));
    expect(logCalls[0]).toEqual(['kong.log.serialize', 'kong.node.get_id']);
    expect(logCalls.slice(1)).toEqual([['kong.log.serialize'], ['kong.log.serialize'], ['kong.log.serialize']]);
  });

  it('serves Prometheus metrics from the plugin server', async () => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toMatch(/^llm_requests_total\{.*status="200".*\} 3$/m);
    expect(body).toMatch(/^llm_rate_limit_rejections_total\{limit_id="rpm",unit="requests"\} 1$/m);
  });
});

describe('llm-audit on SIGTERM', () => {
  it('flushes the records still queued in memory before the plugin server exits', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-audit-term-'));
    try {
      // a batch waits a minute: only the shutdown flush can write these records now
      const env = await bridgeWithYml(yml(dir, { waitMs: 60000, namespace: `term-${crypto.randomBytes(4).toString('hex')}` }), { env: { LLM_AUDIT_TEST_KEY: KEY, OPENAI_API_KEY: COMPANY_KEY } });
      const sdk = new OpenAI({ apiKey: ALICE_KEY, baseURL: `${env.bridge.url}/v1`, maxRetries: 0, defaultHeaders: { 'x-team': 't' } });
      await sdk.chat.completions.create(chat('one'));
      await sdk.chat.completions.create(chat('two'));
      await env.bridge.drainLogPhase();
      const file = path.join(dir, 'audit.jsonl');
      expect(fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '').toBe('');
      await env.close(); // SIGTERM to every plugin server
      const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
      expect(lines).toHaveLength(2);
      expect(verifyChain(lines, parseKeyFile(KEY, 'k1'))).toMatchObject({ ok: true, verified: 2 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('llm-audit behind llm-guard (share_placeholders) and llm-response-guard', () => {
  const PHONE = '+1 (415) 555-2671';
  const EMAIL = 'jane.doe@example.com';
  let env: BridgeWith;
  let dir: string;

  // one post-function for the service: its guard requires only the mark every route has
  // the prompt's phone is replaced (its placeholder shared), its e-mail allowed through:
  // the mock echoes the prompt, so OpenAI's answer holds the e-mail, which
  // llm-response-guard redacts (or, on /blocked, withholds) and the phone is restored
  function checkedYml(): string {
    const postFunction = ['    plugins:', '      - name: post-function', ...postFunctionConfig(readLuaSources(), ['llm_guard'], '        ')].join('\n');
    const route = (name: string, responseGuard: string) => `      - name: ${name}
        paths: [/${name}/v1]
        strip_path: true
        plugins:
          - name: llm-guard
            config:
              redaction: { share_placeholders: true, actions: { email: allow } }
          - name: llm-response-guard
            config: ${responseGuard}
          - name: llm-audit
            config:
              signing_key: "{vault://env/llm-audit-test-key}"
              batch_max_wait_ms: 20
              spill_dir: ${path.join(dir, 'spill')}
              metrics: false
              sinks:
                - { type: file, path: ${path.join(dir, 'audit.jsonl')} }`;
    return `_format_version: "3.0"
services:
  - name: openai
    url: http://127.0.0.1:1/v1
${postFunction}
    routes:
${route('checked', '{ restore_placeholders: true }')}
${route('blocked', '{ redaction: { actions: { email: block } } }')}
      - name: plain
        paths: [/plain/v1]
        strip_path: true
        plugins:
          - name: llm-guard
            config:
              redaction: { share_placeholders: true, actions: { email: allow } }
          - name: llm-audit
            config:
              signing_key: "{vault://env/llm-audit-test-key}"
              batch_max_wait_ms: 20
              spill_dir: ${path.join(dir, 'spill')}
              metrics: false
              sinks:
                - { type: file, path: ${path.join(dir, 'audit.jsonl')} }
`;
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-audit-checked-'));
    env = await bridgeWithYml(checkedYml(), { env: { LLM_AUDIT_TEST_KEY: KEY } });
  });
  afterAll(async () => {
    await env?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("records the answer's findings (types and counts), never its text; null where no answer was checked", async () => {
    const sdk = (route: string) => new OpenAI({ apiKey: 'sk-client', baseURL: `${env.bridge.url}/${route}/v1`, maxRetries: 0 });
    const prompt = `Call ${PHONE} or write ${EMAIL}`;
    const answer = await sdk('checked').chat.completions.create(chat(prompt));
    expect(env.mock.requests[0].body).not.toContain('555-2671');
    expect(env.mock.requests[0].body).toContain(EMAIL);
    expect(answer.choices[0].message.content).toBe(`Echo: Call ${PHONE} or write [EMAIL_1]`);
    const withheld = await sdk('blocked').chat.completions.create(chat(prompt)).catch((e) => e);
    expect(withheld).toMatchObject({ status: 502, code: 'response_blocked' });
    await sdk('plain').chat.completions.create(chat(prompt));
    await env.bridge.drainLogPhase();

    const file = path.join(dir, 'audit.jsonl');
    const lines = await linesOf(file, 3);
    expect(lines).toHaveLength(3);
    const records = lines.map((l) => JSON.parse(l));
    for (const r of records) expect(schemaCheck(r)).toBe(true);
    const [checked, blocked, plain] = records;
    expect(checked).toMatchObject({
      route: { name: 'checked' },
      // the rewritten answer went out through kong.response.exit: Kong's source is "exit"
      response: { status: 200, source: 'gateway' },
      guard: { request_findings: { phone: 1, email: 1 }, response_findings: { email: 1 }, blocked: false },
      // llm-response-guard read the usage from the whole answer; the post-function logged it
      tokens: { completion_method: 'exact', usage_source: 'response' },
    });
    expect(checked.tokens.total).toBeGreaterThan(0);
    expect(blocked).toMatchObject({
      route: { name: 'blocked' },
      response: { status: 502, source: 'gateway', error_type: 'server_error' },
      guard: { response_findings: { email: 1 } },
    });
    expect(plain).toMatchObject({ route: { name: 'plain' }, response: { status: 200 }, guard: { request_findings: { phone: 1, email: 1 }, response_findings: null } });

    // neither the answer's nor the prompt's text, nor the placeholder map llm-guard shared
    const text = fs.readFileSync(file, 'utf8');
    for (const t of [EMAIL, '555-2671', 'Echo', '[EMAIL_1]', '[PHONE_1]', 'Call ']) expect(text).not.toContain(t);
    // still one PDK call per log event: the findings came in serialize()
    const logCalls = env.bridge.traces.map((t) => t.pdkCalls.filter((c) => c.plugin === PLUGIN).map((c) => c.method));
    expect(logCalls).toEqual([['kong.log.serialize', 'kong.node.get_id'], ['kong.log.serialize'], ['kong.log.serialize']]);
  });
});
