import fs = require('fs');
import os = require('os');
import path = require('path');
import { ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { DeliveryQueue, DELIVERY_DEFAULTS } from '../../../../plugins/llm-audit/core/delivery/queue';
import { AzureMonitorSink, azureCredential, type AzureMonitorSinkOptions } from '../../../../plugins/llm-audit/core/sinks/azure-monitor';
import { FakeLogsIngestion } from './azure-ingestion-server';

const RULE = 'dcr-0123456789abcdef0123456789abcdef';
const STREAM = 'Custom-LlmAudit';
const TOKEN = 'eyJ0eXAiOiJKV1Qi.secret-token-value';

/** A static TokenCredential that records the scopes asked for. */
const staticCredential = (scopes: string[][] = []): TokenCredential => ({
  getToken: async (s) => {
    scopes.push(Array.isArray(s) ? s : [s]);
    return { token: TOKEN, expiresOnTimestamp: Date.now() + 3600_000 };
  },
});

const rec = (i: number, extra: Record<string, unknown> = {}) => JSON.stringify({ time: '2026-01-02T03:04:05.000Z', request_id: `r${i}`, i, ...extra });

describe('AzureMonitorSink against a Logs Ingestion endpoint', () => {
  const az = new FakeLogsIngestion();
  const sinks: AzureMonitorSink[] = [];
  beforeAll(() => az.start());
  afterAll(() => az.stop());
  beforeEach(() => {
    az.calls.length = 0;
    az.answer = () => ({ status: 204 });
  });
  afterEach(async () => {
    for (const s of sinks.splice(0)) await s.close();
  });
  const sink = (o: Partial<AzureMonitorSinkOptions> = {}) => {
    const s = new AzureMonitorSink({ endpoint: az.url, rule_id: RULE, stream: STREAM, credential: staticCredential(), timeout_ms: 3000, tls_ca: az.ca, ...o });
    sinks.push(s);
    return s;
  };

  it('posts the records as a gzipped JSON array to the rule and stream, with the bearer token for the Monitor audience', async () => {
    const scopes: string[][] = [];
    const batch = [rec(1), rec(2, { nested: { a: [1, 'é'] } })];
    await sink({ credential: staticCredential(scopes) }).send(batch);
    expect(az.calls).toHaveLength(1);
    const [call] = az.calls;
    expect(call.method).toBe('POST');
    expect(call.path).toBe(`/dataCollectionRules/${RULE}/streams/${STREAM}`);
    expect(call.query.get('api-version')).toBe('2023-01-01');
    expect(call.headers).toMatchObject({ authorization: `Bearer ${TOKEN}`, 'content-encoding': 'gzip', 'content-type': 'application/json' });
    expect(String(call.headers['user-agent'])).toMatch(/^kong-llm-audit /);
    expect(call.records).toEqual(batch.map((r) => JSON.parse(r)));
    expect(scopes).toEqual([['https://monitor.azure.com/.default']]);
  });

  it('a batch over 1 MB goes in several calls, one after another, every record once and in order', async () => {
    const pad = 'x'.repeat(10_000);
    const batch = Array.from({ length: 250 }, (_, i) => rec(i, { pad }));
    await sink().send(batch);
    expect(az.calls.length).toBeGreaterThanOrEqual(3);
    expect(az.calls.flatMap((c) => (c.records as { i: number }[]).map((r) => r.i))).toEqual(Array.from({ length: 250 }, (_, i) => i));
  });

  it('rejects a failed upload after one attempt, naming the status only, and counts retriability by status', async () => {
    for (const [status, retriable] of [[503, true], [500, true], [429, true], [401, true], [403, true], [400, false], [413, false]] as const) {
      az.calls.length = 0;
      az.answer = () => ({ status });
      const err = await sink().send([rec(1)]).catch((e) => e);
      expect(err).toMatchObject({ name: 'SinkError', retriable, status, message: `azure_monitor: upload failed (HTTP ${status})` });
      expect(az.calls).toHaveLength(1); // the client's own retries are off
      expect(String(err.message)).not.toMatch(/secret|eyJ0/);
    }
  });

  it('stops at the first failed call of a split batch: the later ones are not sent, and send rejects', async () => {
    const pad = 'x'.repeat(10_000);
    const batch = Array.from({ length: 250 }, (_, i) => rec(i, { pad }));
    az.answer = () => (az.calls.length === 2 ? { status: 503 } : { status: 204 });
    await expect(sink().send(batch)).rejects.toMatchObject({ retriable: true, status: 503 });
    expect(az.calls).toHaveLength(2);
  });

  it('rejects when no token can be had, without its message, and sends nothing', async () => {
    const failing: TokenCredential = {
      getToken: async () => {
        throw Object.assign(new Error('AADSTS7000215: Invalid client secret provided: s3cr3t'), { name: 'AuthenticationError' });
      },
    };
    const err = await sink({ credential: failing }).send([rec(1)]).catch((e) => e);
    expect(err).toMatchObject({ name: 'SinkError', retriable: true, message: 'azure_monitor: no token (AuthenticationError)' });
    const plain: TokenCredential = { getToken: async () => Promise.reject(new Error('token endpoint said: s3cr3t')) };
    await expect(sink({ credential: plain }).send([rec(1)])).rejects.toMatchObject({ retriable: true, message: 'azure_monitor: upload failed (error)' });
    expect(az.calls).toHaveLength(0);
  });

  it('gives up after timeout_ms, retriably', async () => {
    az.answer = () => ({ status: 204, delayMs: 1000 });
    await expect(sink({ timeout_ms: 150 }).send([rec(1)])).rejects.toMatchObject({ retriable: true, message: 'azure_monitor: upload: no answer within 150 ms' });
  });

  it('does not trust the self-signed server without tls_ca (the trust is this client\'s, not the process\'s)', async () => {
    const err = await sink({ tls_ca: null }).send([rec(1)]).catch((e) => e);
    expect(err).toMatchObject({ name: 'SinkError', retriable: true });
    expect(err.message).toBe('azure_monitor: upload failed (request failed (DEPTH_ZERO_SELF_SIGNED_CERT))');
    expect(az.calls).toHaveLength(0);
  });

  it('refuses a record that is not a JSON object, by position, without retry', async () => {
    await expect(sink().send([rec(1), '"a string"'])).rejects.toMatchObject({ retriable: false, message: 'azure_monitor: record 1 of the batch is not a JSON object' });
    expect(az.calls).toHaveLength(0);
  });

  it('through the delivery queue, an endpoint down (503) then back receives every record exactly once, in order', async () => {
    let failures = 3;
    az.answer = () => (failures-- > 0 ? { status: 503 } : { status: 204 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-az-'));
    try {
      const q = new DeliveryQueue(sink(), { ...DELIVERY_DEFAULTS, batch_max_records: 25, batch_max_wait_ms: 5, retry_initial_ms: 5, retry_max_ms: 20, spill: { dir, max_bytes: 1 << 20, segment_bytes: 8192 } });
      const N = 120;
      for (let i = 0; i < N; i++) q.enqueue(rec(i));
      const counters = await q.close(10_000);
      const accepted = az.calls.filter((_, k) => k >= 3);
      expect(accepted.flatMap((c) => (c.records as { i: number }[]).map((r) => r.i))).toEqual(Array.from({ length: N }, (_, i) => i));
      expect(counters).toMatchObject({ queued: N, dropped: 0, memory_depth: 0, spill_depth: 0 });
      expect(counters.retried).toBeGreaterThan(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('AzureMonitorSink config', () => {
  const base: AzureMonitorSinkOptions = { endpoint: 'https://dce-1.westeurope-1.ingest.monitor.azure.com', rule_id: RULE, stream: STREAM, credential: staticCredential(), timeout_ms: 1000 };

  it('refuses plain http (no bearer token without TLS), credentials in the URL, a bad rule id or stream', () => {
    expect(() => new AzureMonitorSink({ ...base, endpoint: 'http://127.0.0.1:9' })).toThrow('azure_monitor: endpoint must be https (bearer tokens are only sent over TLS)');
    expect(() => new AzureMonitorSink({ ...base, endpoint: 'https://u:pw@dce.example' })).toThrow('azure_monitor: endpoint must not carry credentials');
    expect(() => new AzureMonitorSink({ ...base, rule_id: 'my-rule' })).toThrow('azure_monitor: rule_id must be');
    expect(() => new AzureMonitorSink({ ...base, stream: 'LlmAudit' })).toThrow('azure_monitor: stream must be');
  });

  it('builds the credential named by the settings, and names a missing field without echoing the others', () => {
    expect(azureCredential({ type: 'default' })).toBeInstanceOf(DefaultAzureCredential);
    expect(azureCredential({ type: 'managed_identity', client_id: '00000000-0000-0000-0000-000000000001' })).toBeInstanceOf(ManagedIdentityCredential);
    expect(azureCredential({ type: 'managed_identity' })).toBeInstanceOf(ManagedIdentityCredential);
    expect(azureCredential({ type: 'client_secret', tenant_id: '00000000-0000-0000-0000-00000000000a', client_id: '00000000-0000-0000-0000-00000000000b', client_secret: 's3cr3t' })).toBeInstanceOf(ClientSecretCredential);
    const missing = () => azureCredential({ type: 'client_secret', tenant_id: '', client_id: 'c', client_secret: 's3cr3t' });
    expect(missing).toThrow('azure_monitor: credential tenant_id is required');
    expect(missing).not.toThrow(/s3cr3t/);
  });
});
