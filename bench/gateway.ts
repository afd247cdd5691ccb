/**
 * The two faces of the suite through the bridge and the real plugin servers, in one
 * run: the four separate plugins (llm-auth, llm-guard, llm-rate-limit, llm-audit, with
 * the post-function Lua) and llm-gateway holding the same four configs (with its
 * pre-function and post-function Lua, records shipped through the bridge's model of
 * kong.tools.queue to its ingest socket). POST /v1/chat/completions with the guard
 * bench's ~300-byte chat body, admitted by every stage (limits never reached), audit
 * records into a file.
 *
 * Reports, per face: round trips per request as the bridge counted them (plugin events,
 * log events, PDK calls: what a request costs in a real Kong, where each round trip
 * costs Kong's Lua side more than Node's), then throughput and latency ratios against
 * a route without plugins, measured in the same rounds.
 *
 * The bridge's own costs differ from Kong's (a JS event loop plays nginx, the Lua is
 * TypeScript): the ratios show the plugin servers' share; the round-trip counts are
 * what carries over to a real Kong (../shared/kong-external-plugins.md has the real
 * figures per round trip). BENCH_GATEWAY_REQUESTS (default 2000) per scenario and round.
 */
import crypto = require('crypto');
import fs = require('fs');
import os = require('os');
import path = require('path');
import { postFunctionConfig, preFunctionConfig, readLuaSources } from '../scripts/gen-kong-lua';
import { benchApiKey } from './auth';
import { compare, probePdkCalls, startGateway, type Gateway, type PdkCallSummary, type Scenario } from './harness';
import { BENCH_PROMPT, chatBody } from './prose';

const PROBE = 20;
const HUGE = 1_000_000_000;

/** Returns the number of failed requests. */
export async function benchGateway(): Promise<number> {
  const requests = Number(process.env.BENCH_GATEWAY_REQUESTS ?? 2000);
  const run = crypto.randomBytes(4).toString('hex');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-gateway-'));
  const apiKey = benchApiKey();
  const lua = readLuaSources();
  const stage = {
    auth: `{ methods: [api_key], consumer_by: username, openai_api_key: sk-bench-upstream, api_keys: [ { id: bench-key, key_hash: "${apiKey.hash}", consumer: bench } ] }`,
    guard: '{ endpoint: chat.completions }',
    rate_limit: (ns: string) =>
      `{ key_by: consumer, policy: local, namespace: ${ns}, limits: [ { id: rpm, unit: requests, limit: ${HUGE}, window_seconds: 60 }, { id: tpm, unit: tokens, limit: ${HUGE}, window_seconds: 60 } ] }`,
    audit: (file: string) => `{ signing_key: "base64:${crypto.randomBytes(32).toString('base64')}", metrics: false, sinks: [ { type: file, path: "${file}" } ] }`,
  };
  const kongYml = `_format_version: "3.0"
consumers:
  - username: bench
services:
  - name: openai
    url: http://127.0.0.1:1/v1
    routes:
      - name: baseline
        paths: [/baseline/v1]
        strip_path: true
      - name: separate
        paths: [/separate/v1]
        strip_path: true
        plugins:
          - name: llm-auth
            config: ${stage.auth}
          - name: llm-guard
            config: ${stage.guard}
          - name: llm-rate-limit
            config: ${stage.rate_limit(`bench-${run}-separate`)}
          - name: llm-audit
            config: ${stage.audit(path.join(dir, 'separate.jsonl'))}
          - name: post-function
${postFunctionConfig(lua, ['llm_auth', 'llm_guard', 'llm_rate_limit'], '            ').join('\n')}
      - name: gateway
        paths: [/gateway/v1]
        strip_path: true
        plugins:
          - name: pre-function
${preFunctionConfig(lua, '            ').join('\n')}
          - name: llm-gateway
            config:
              auth: ${stage.auth}
              guard: ${stage.guard}
              rate_limit: ${stage.rate_limit(`bench-${run}-gateway`)}
              audit: ${stage.audit(path.join(dir, 'gateway.jsonl'))}
          - name: post-function
${postFunctionConfig(lua, ['llm_gateway'], '            ').join('\n')}
`;

  const body = chatBody(BENCH_PROMPT);
  const bearer = () => ({ authorization: `Bearer ${apiKey.key}` });
  const row = (name: string, route: string, plugins: string[]): Scenario & { plugins: string[] } => ({
    name,
    path: `/${route}/v1/chat/completions`,
    method: 'POST',
    body,
    headers: bearer,
    plugins,
  });
  const rows = [
    row('no plugin (baseline)', 'baseline', []),
    row('separate plugins: llm-auth + llm-guard + llm-rate-limit + llm-audit', 'separate', ['llm-auth', 'llm-guard', 'llm-rate-limit', 'llm-audit']),
    row('llm-gateway: auth + guard + rate_limit + audit', 'gateway', ['llm-gateway']),
  ];

  let gateway: Gateway | null = null;
  try {
    gateway = await startGateway(kongYml);
    const summaries: PdkCallSummary[] = [];
    for (const [i, r] of rows.entries()) summaries.push(await probePdkCalls(gateway, r, { count: PROBE, warmup: 2, first: 10_000_000 + i * PROBE }));

    process.stdout.write(`\nRound trips per admitted request as the bridge counted them (${PROBE} requests one at a time per face, after a warm-up):\n\n`);
    process.stdout.write('| face | plugin events | of which log events | PDK calls | per plugin (events / calls) |\n| --- | --- | --- | --- | --- |\n');
    rows.slice(1).forEach((r, k) => {
      const s = summaries[k + 1];
      const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
      const events = Object.values(s.events).reduce((a, p) => a + sum(p), 0);
      const logEvents = Object.values(s.events).reduce((a, p) => a + (p.log ?? 0), 0);
      const calls = Object.values(s.plugins).reduce((a, p) => a + sum(p.perPhase), 0);
      const per = Object.keys(s.events)
        .map((p) => `${p} ${fmt(sum(s.events[p]))} / ${fmt(sum(s.plugins[p]?.perPhase ?? {}))}`)
        .join('; ');
      process.stdout.write(`| ${r.name} | ${fmt(events)} | ${fmt(logEvents)} | ${fmt(calls)} | ${per} |\n`);
    });

    const errors = await compare(`The two faces through the bridge (POST /v1/chat/completions, ${body.length}-byte body, every stage admits)`, gateway.url, rows, requests);
    // the records still on their way: the log phases, then Kong's queue to the ingest (drained by the probe call)
    await gateway.pdkCalls(1);
    await new Promise((r) => setTimeout(r, 1500)); // llm-audit's own file batches (batch_max_wait_ms)
    const lines = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0);
    process.stdout.write(`\n(audit records written: separate ${lines(path.join(dir, 'separate.jsonl'))}, llm-gateway ${lines(path.join(dir, 'gateway.jsonl'))})\n`);
    return errors;
  } finally {
    await gateway?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const fmt = (n: number) => n.toFixed(2).replace(/\.00$/, '');
