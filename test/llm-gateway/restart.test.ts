/**
 * No record lost across a restart of llm-gateway's plugin server: the records of
 * requests Kong answered while the server was gone (the bypass guard's 503s) and of
 * those whose batch was queued or in flight when it died wait in Kong's queue
 * (kong.tools.queue, in nginx: the bridge's model) and are retried until the new
 * server's ingest takes them. Counted: requests sent, records enqueued, records in the
 * audit file by request id, and the queue's failed sends (its retries).
 *
 * Through the bridge and the real plugin server, a crash (SIGKILL) and a stop (SIGTERM,
 * what Kong sends on reload).
 */
import crypto = require('crypto');
import fs = require('fs');
import os = require('os');
import path = require('path');
import { postFunctionConfig, preFunctionConfig, readLuaSources } from '../../scripts/gen-kong-lua';
import { bridgeWithYml, type BridgeWith } from '../support/bridge-with';

const ALICE_KEY = 'sk-restart-alice-0123456789abcdefghijklmnopqrstuvw';
const sha256 = (x: string) => 'sha256:' + crypto.createHash('sha256').update(x).digest('hex');

function yml(auditFile: string): string {
  const lua = readLuaSources();
  return `_format_version: "3.0"
consumers:
  - username: alice
services:
  - name: openai
    url: http://127.0.0.1:1
    routes:
      - name: gateway
        paths: [/v1]
        strip_path: false
        plugins:
          - name: pre-function
${preFunctionConfig(lua, '            ').join('\n')}
          - name: llm-gateway
            config:
              auth: { openai_api_key: sk-company-restart, api_keys: [ { id: alice-key, key_hash: "${sha256(ALICE_KEY)}", consumer: alice } ] }
              guard: { endpoint: chat.completions }
              rate_limit: { key_by: consumer, policy: local, namespace: restart-${crypto.randomUUID()}, limits: [ { id: tpm, unit: tokens, limit: 100000000, window_seconds: 60 } ] }
              audit: { signing_key: "base64:${crypto.randomBytes(32).toString('base64')}", metrics: false, batch_max_wait_ms: 20, sinks: [ { type: file, path: "${auditFile}" } ] }
          - name: post-function
${postFunctionConfig(lua, ['llm_gateway'], '            ').join('\n')}
`;
}

const chat = (n: number): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ALICE_KEY}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `request ${n}` }] }),
  });

function auditIds(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { request_id: string }).request_id);
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

describe.each(['SIGKILL', 'SIGTERM'] as const)('llm-gateway records across a plugin-server restart (%s)', (signal) => {
  let env: BridgeWith;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-restart-'));
    env = await bridgeWithYml(yml(path.join(dir, 'audit.jsonl')));
  });
  afterAll(async () => {
    await env?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('writes every request\'s record once, the queue retrying while the server is gone', async () => {
    const { bridge } = env;
    const send = async (n: number) => {
      const res = await fetch(`${bridge.url}/v1/chat/completions`, chat(n));
      await res.arrayBuffer();
      // Kong's request id: what the record carries (ngx.var.kong_request_id)
      return { status: res.status, id: bridge.traces.at(-1)!.id };
    };
    const sent: Array<{ status: number; id: string | null }> = [];
    // before: records queued (coalescing), some perhaps in flight when the server goes
    for (let i = 0; i < 20; i++) sent.push(await send(i));
    const server = bridge.servers.get('llm-gateway')!;
    const failuresBefore = bridge.ingest.handlerFailures;
    await server.kill(signal);
    // kept down past the queue's coalescing delay (Kong would respawn it within ~0.5 s:
    // this is a longer outage, so that the queue surely meets it)
    await server.stop();
    // while it is gone: the bypass guard answers 503; Kong still logs those requests
    const during: Array<{ status: number; id: string | null }> = [];
    for (let i = 0; i < 5; i++) during.push(await send(100 + i));
    sent.push(...during);
    await new Promise((r) => setTimeout(r, 2500));
    expect(bridge.ingest.handlerFailures).toBeGreaterThan(failuresBefore);
    await server.start();
    // after: Kong starts the instance again at the next request; the ingest takes the backlog
    for (let i = 0; i < 20; i++) sent.push(await send(200 + i));
    await bridge.drainLogPhase();
    await bridge.drainIngestQueue(30000);

    const ids = sent.map((s) => s.id);
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    expect(during.every((s) => s.status === 503)).toBe(true);
    expect(bridge.ingest.enqueued).toBe(sent.length);
    await waitFor(() => new Set(auditIds(path.join(dir, 'audit.jsonl'))).size >= sent.length, 10000);
    const written = auditIds(path.join(dir, 'audit.jsonl'));
    // every request, none lost (at least once: a batch in flight at a crash may come twice)
    expect(new Set(written)).toEqual(new Set(ids));
    if (signal === 'SIGTERM') expect(written).toHaveLength(sent.length);
    // the gap was bridged by the queue's retries (counted above), and nothing was given up
    expect(bridge.ingest.dropped).toBe(0);
  }, 90_000);
});
