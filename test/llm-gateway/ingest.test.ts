/**
 * The ingest endpoint's work on batches of compact records, with the real llm-audit
 * and llm-rate-limit handlers behind it (file sink, local store): records written once
 * (a retried batch is deduplicated), a refusal completed with what the refusing
 * process remembered, a batch for an entity not started yet answered 503 (Kong's
 * queue retries it), settlement refunding an over-reservation. And the socket itself.
 */
import crypto = require('crypto');
import fs = require('fs');
import http = require('http');
import os = require('os');
import path = require('path');
import { LlmAuditHandler } from '../../plugins/llm-audit/handler';
import { LlmRateLimitHandler } from '../../plugins/llm-rate-limit/handler';
import { RECORD_VERSION, type CompactRecord } from '../../plugins/llm-gateway/contract';
import { ingestBatch } from '../../plugins/llm-gateway/ingest';
import { registerGateway, rememberRefusal } from '../../plugins/llm-gateway/instances';

const KEY = `base64:${crypto.randomBytes(32).toString('base64')}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-ingest-'));
const auditFile = path.join(dir, 'audit.jsonl');

function record(id: string, over: Partial<CompactRecord> = {}): CompactRecord {
  return {
    v: RECORD_VERSION,
    request_id: id,
    started_at: 1764489600000,
    node_id: 'node-1',
    method: 'POST',
    uri: '/v1/chat/completions?api_key=sk-in-the-query-0123456789abcdef',
    querystring: { api_key: 'sk-in-the-query-0123456789abcdef' },
    request_headers: { authorization: 'REDACTED', 'content-type': 'application/json' },
    request_size: 120,
    status: 200,
    response_headers: { 'content-type': 'application/json' },
    response_size: 300,
    source: 'upstream',
    latencies: { kong: 1, proxy: 20, request: 22 },
    route: { id: 'route-1', name: 'chat' },
    service: { id: 'service-1', name: 'openai' },
    client_ip: '127.0.0.1',
    shared: {
      llm_auth: { consumer: 'alice', tenant: 'acme', credential_id: 'alice-key-1', auth_method: 'api_key', scopes: ['openai:chat'] },
      llm_usage: { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16, source: 'response' },
    },
    plugin_id: 'gw-1',
    ...over,
  };
}

async function auditLines(n: number): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const lines = fs.existsSync(auditFile) ? fs.readFileSync(auditFile, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.length >= n || Date.now() > deadline) return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('llm-gateway ingest', () => {
  const audit = new LlmAuditHandler({
    signing_key: KEY,
    sinks: [{ type: 'file', path: auditFile }],
    spill_dir: path.join(dir, 'spill'),
    metrics: false,
    batch_max_wait_ms: 10,
  });
  const rateLimit = new LlmRateLimitHandler({
    key_by: 'consumer',
    policy: 'local',
    namespace: `ingest-${crypto.randomUUID()}`,
    limits: [{ id: 'tpm', unit: 'tokens', limit: 10000, window_seconds: 60 }],
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('answers 503 while no entity is started (a restarted plugin server), so Kong retries', async () => {
    const r = await ingestBatch(JSON.stringify([record('early-1')]));
    expect(r.status).toBe(503);
    expect(r.counts.deferred).toBe(1);
  });

  it('writes one audit record per request, redacted, and a retried batch only once', async () => {
    expect(audit.ready).toBe(true);
    registerGateway({ pluginId: 'gw-1', routeId: 'route-1', serviceId: null, rateLimit, audit });
    const batch = JSON.stringify([record('early-1'), record('r-2')]);
    expect(await ingestBatch(batch)).toEqual({ status: 200, counts: { handled: 2, duplicate: 0, deferred: 0, unattributed: 0 } });
    expect(await ingestBatch(batch)).toEqual({ status: 200, counts: { handled: 0, duplicate: 2, deferred: 0, unattributed: 0 } });
    const lines = await auditLines(2);
    expect(lines.map((l) => l.request_id)).toEqual(['early-1', 'r-2']);
    expect(lines[0]).toMatchObject({ consumer: 'alice', tenant: 'acme', credential_id: 'alice-key-1', tokens: { prompt: 11, completion: 5, total: 16 } });
    expect(JSON.stringify(lines)).not.toContain('sk-in-the-query');
  });

  it('completes a refusal with what the refusing stages published (no decision reached Lua)', async () => {
    rememberRefusal('refused-1', { pluginId: 'gw-1', shared: { llm_auth: { consumer: 'bob', credential_id: 'bob-key-1', auth_method: 'api_key', scopes: [] } } });
    const r = record('refused-1', { status: 400, source: 'kong', shared: {}, plugin_id: undefined });
    expect((await ingestBatch(JSON.stringify([r]))).status).toBe(200);
    const lines = await auditLines(3);
    expect(lines[2]).toMatchObject({ request_id: 'refused-1', consumer: 'bob', response: { status: 400, source: 'gateway' } });
  });

  it('answers 503 for a record of an entity not started yet, after handling the rest', async () => {
    const r = await ingestBatch(JSON.stringify([record('r-4'), record('r-5', { plugin_id: 'gw-not-yet', route: { id: 'route-9' } })]));
    expect(r).toEqual({ status: 503, counts: { handled: 1, duplicate: 0, deferred: 1, unattributed: 0 } });
  });

  it('attributes a record whose entity id a config change replaced to the entity on its route', async () => {
    const r = await ingestBatch(JSON.stringify([record('r-6', { plugin_id: 'gw-old-id' })]));
    expect(r).toEqual({ status: 200, counts: { handled: 1, duplicate: 0, deferred: 0, unattributed: 0 } });
  });

  it('handles a record once when Kong sends its batch again while the first is still being handled', async () => {
    const batch = JSON.stringify([record('concurrent-1'), record('concurrent-2')]);
    const [a, b] = await Promise.all([ingestBatch(batch), ingestBatch(batch)]);
    expect(a.counts.handled + b.counts.handled).toBe(2);
    expect(a.counts.duplicate + b.counts.duplicate).toBe(2);
    const lines = await auditLines(0);
    expect(lines.filter((l) => String(l.request_id).startsWith('concurrent-'))).toHaveLength(2);
  });

  it('refuses what is not a JSON array (400: retrying cannot help)', async () => {
    expect((await ingestBatch('{"v":1}')).status).toBe(400);
    expect((await ingestBatch('not json')).status).toBe(400);
  });

  it('settles a reservation to the usage the answer reported', async () => {
    const ns = `ingest-settle-${crypto.randomUUID()}`;
    const rl = new LlmRateLimitHandler({ key_by: 'consumer', policy: 'local', namespace: ns, limits: [{ id: 'tpm', unit: 'tokens', limit: 1000, window_seconds: 60 }] });
    registerGateway({ pluginId: 'gw-settle', routeId: null, serviceId: null, rateLimit: rl, audit: null });
    // what the rate-limit stage published for a request that reserved 900 tokens
    const { StagedPdk } = await import('../../plugins/shared/pipeline/staged-pdk');
    const guardFacts = { endpoint: 'chat.completions', model: 'gpt-4o-mini', stream: false, include_usage_injected: false, prompt_tokens: 100, prompt_tokens_method: 'exact', requested_completion_tokens: 800, body_rewritten: false, findings: { pii: {}, injection: [], blocked: false } };
    const reserve = async () => {
      const s = new StagedPdk({} as never, { method: 'POST', path: '/v1/chat/completions', rawQuery: '', headers: {}, forwardedIp: '1.2.3.4', body: null, bodyUnread: false });
      await s.ctx.shared.set('llm_auth', { consumer: 'carol', credential_id: 'c', auth_method: 'api_key', scopes: [] });
      await s.ctx.shared.set('llm_guard', guardFacts);
      await rl.access(s);
      return s;
    };
    const first = await reserve();
    expect(first.exit).toBeNull();
    expect(first.sharedValues().llm_rate_limit).toMatchObject({ log: { reserved: { tokens: 900 } } });
    // without settlement a second 900-token request would not fit in 1000
    const settled = record('settle-1', { plugin_id: 'gw-settle', shared: { llm_rate_limit: first.sharedValues().llm_rate_limit, llm_usage: { prompt_tokens: 100, completion_tokens: 0, total_tokens: 100, source: 'response' } } });
    expect((await ingestBatch(JSON.stringify([settled]))).status).toBe(200);
    const second = await reserve();
    expect(second.exit).toBeNull();
  });
});

describe('llm-gateway ingest socket', () => {
  it('serves POST /v1/records on <kong prefix>/llm-gateway-ingest.sock', async () => {
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-prefix-'));
    const argv = process.argv;
    process.argv = [...argv, '--kong-prefix', prefix];
    try {
      jest.resetModules();
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const ingest = require('../../plugins/llm-gateway/ingest') as typeof import('../../plugins/llm-gateway/ingest');
      ingest.startIngest();
      const socketPath = path.join(prefix, 'llm-gateway-ingest.sock');
      for (let i = 0; i < 50 && !fs.existsSync(socketPath); i++) await new Promise((r) => setTimeout(r, 10));
      const post = (p: string, body: string) =>
        new Promise<number>((resolve, reject) => {
          const req = http.request({ socketPath, path: p, method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end(body);
        });
      expect(await post('/v1/records', '[]')).toBe(200);
      expect(await post('/v1/records', 'nope')).toBe(400);
      expect(await post('/other', '[]')).toBe(404);
      const { runShutdownHooks } = require('../../plugins/shared/shutdown') as typeof import('../../plugins/shared/shutdown');
      await runShutdownHooks(1000);
    } finally {
      process.argv = argv;
      fs.rmSync(prefix, { recursive: true, force: true });
    }
  });
});
