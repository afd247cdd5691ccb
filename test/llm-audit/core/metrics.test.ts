import { register as globalRegister } from 'prom-client';
import {
  AuditMetrics,
  BoundedLabel,
  normalizeModel,
  sanitizeLabelValue,
  statusLabel,
  MAX_LABEL_CHARS,
} from '../../../plugins/llm-audit/core/metrics';
import { buildAuditRecord, type AuditInputs, type AuditRecord } from '../../../plugins/llm-audit/core/record';
import type { DeliveryCounters } from '../../../plugins/llm-audit/core/delivery/options';
import { parseExposition, seriesOf, valueOf, type Exposition } from './exposition';
import { FACTS, IDENTITY, fullInputs, serialized, settings } from './record-fixtures';

const record = (over: Partial<AuditInputs> = {}): AuditRecord => buildAuditRecord(fullInputs(over), settings());

async function scrape(m: AuditMetrics): Promise<Exposition> {
  return parseExposition(await m.exposition());
}

/** The records of the exposition test: two chat calls (one naming a snapshot), a rate-limit refusal, a guard block, a long estimated stream. */
function records(): AuditRecord[] {
  return [
    record(),
    record({ request_facts: { ...FACTS, model: 'gpt-4o-mini-2024-07-18' } }),
    record({
      identity: { ...IDENTITY, consumer: 'team-b', tenant: undefined },
      serialized: serialized({ response: { status: 429, size: 10 }, source: 'kong', latencies: { kong: 2, request: 2 } }),
      usage: undefined,
      response_findings: undefined,
      rate_limit: {
        allowed: false,
        refused_by: 'rpm',
        limits: [
          { id: 'tpm', unit: 'tokens', limit: 100000, remaining: 500 },
          { id: 'rpm', unit: 'requests', limit: 60, remaining: 0 },
        ],
      },
    }),
    record({
      serialized: serialized({ response: { status: 400, size: 10 }, source: 'kong', latencies: { kong: 40, request: 41 } }),
      usage: undefined,
      response_findings: undefined,
      request_facts: { ...FACTS, findings: { pii: {}, injection: [{ rule_id: 'r1', category: 'jailbreak' }], blocked: true } },
    }),
    record({
      serialized: serialized({ latencies: { kong: 3, proxy: 95_000, request: 95_004 } }),
      usage: { source: 'none', status: 200, answer_bytes: 2000, stream: true, encoded: false },
      request_facts: { ...FACTS, stream: true, findings: { pii: {}, injection: [], blocked: false } },
      response_findings: {},
    }),
  ];
}

describe('AuditMetrics exposition', () => {
  let m: AuditMetrics;
  let rs: AuditRecord[];
  let e: Exposition;
  beforeAll(async () => {
    m = new AuditMetrics();
    rs = records();
    for (const r of rs) m.observe(r);
    e = await scrape(m);
  });

  it('counts requests by consumer, tenant, normalized model, status code, source and route', () => {
    const chat = { consumer: 'team-a', tenant: 'acme', model: 'gpt-4o-mini', route: 'chat' };
    expect(valueOf(e, 'llm_requests_total', { ...chat, status: '200', source: 'upstream' })).toBe(3);
    expect(valueOf(e, 'llm_requests_total', { ...chat, status: '400', source: 'gateway' })).toBe(1);
    expect(valueOf(e, 'llm_requests_total', { consumer: 'team-b', tenant: 'unknown', model: 'gpt-4o-mini', status: '429', source: 'gateway', route: 'chat' })).toBe(1);
    expect(seriesOf(e, 'llm_requests_total')).toHaveLength(3);
    expect(e.types.get('llm_requests_total')).toBe('counter');
  });

  it('counts prompt and completion tokens with exact and estimated apart', () => {
    const a = { consumer: 'team-a', tenant: 'acme', model: 'gpt-4o-mini' };
    // records 1, 2 (usage: exact), 4 and 5 (the guard's exact prompt count)
    expect(valueOf(e, 'llm_prompt_tokens_total', { ...a, method: 'exact' })).toBe(4000);
    expect(valueOf(e, 'llm_prompt_tokens_total', { consumer: 'team-b', method: 'exact' })).toBe(1000);
    expect(valueOf(e, 'llm_completion_tokens_total', { ...a, method: 'exact' })).toBe(1000);
    expect(valueOf(e, 'llm_completion_tokens_total', { ...a, method: 'estimated' })).toBe(rs[4].tokens.completion);
    // the refused request had no answer: no completion series for team-b at all
    expect(seriesOf(e, 'llm_completion_tokens_total').filter((s) => s.labels.consumer === 'team-b')).toHaveLength(0);
  });

  it('adds the record costs in USD by basis', () => {
    const a = { consumer: 'team-a', tenant: 'acme', model: 'gpt-4o-mini' };
    expect(rs[0].cost.usd_micros).toBeGreaterThan(0);
    expect(valueOf(e, 'llm_cost_usd_total', { ...a, basis: 'exact' })).toBeCloseTo((2 * rs[0].cost.usd_micros!) / 1e6, 12);
    expect(valueOf(e, 'llm_cost_usd_total', { ...a, basis: 'estimated' })).toBeCloseTo(rs[4].cost.usd_micros! / 1e6, 12);
  });

  it('puts latencies in seconds into the buckets, streams apart', () => {
    const ns = { model: 'gpt-4o-mini', stream: 'false' };
    expect(valueOf(e, 'llm_kong_latency_seconds_count', ns)).toBe(4);
    // 3, 3, 2 ms at or under 5 ms; the blocked request's 40 ms above
    expect(valueOf(e, 'llm_kong_latency_seconds_bucket', { ...ns, le: '0.005' })).toBe(3);
    expect(valueOf(e, 'llm_kong_latency_seconds_bucket', { ...ns, le: '0.05' })).toBe(4);
    expect(valueOf(e, 'llm_kong_latency_seconds_sum', ns)).toBeCloseTo(0.048, 9);
    // the refused and the blocked request never went upstream
    expect(valueOf(e, 'llm_upstream_latency_seconds_count', ns)).toBe(2);
    expect(valueOf(e, 'llm_upstream_latency_seconds_bucket', { ...ns, le: '0.25' })).toBe(0);
    expect(valueOf(e, 'llm_upstream_latency_seconds_bucket', { ...ns, le: '0.5' })).toBe(2);
    const st = { model: 'gpt-4o-mini', stream: 'true' };
    expect(valueOf(e, 'llm_request_duration_seconds_bucket', { ...st, le: '60' })).toBe(0);
    expect(valueOf(e, 'llm_request_duration_seconds_bucket', { ...st, le: '120' })).toBe(1);
    expect(valueOf(e, 'llm_request_duration_seconds_bucket', { ...st, le: '600' })).toBe(1);
    expect(valueOf(e, 'llm_request_duration_seconds_sum', st)).toBeCloseTo(95.004, 9);
  });

  it('counts a rate-limit refusal under the limit that reached zero', () => {
    expect(seriesOf(e, 'llm_rate_limit_rejections_total')).toEqual([{ name: 'llm_rate_limit_rejections_total', labels: { limit_id: 'rpm', unit: 'requests' }, value: 1 }]);
  });

  it('counts guard blocks by finding and findings by stage, kind and type', () => {
    expect(seriesOf(e, 'llm_guard_blocks_total').map((s) => [s.labels.finding, s.value])).toEqual([['injection', 1]]);
    expect(valueOf(e, 'llm_guard_findings_total', { stage: 'request', kind: 'sensitive_data', type: 'email' })).toBe(6);
    expect(valueOf(e, 'llm_guard_findings_total', { stage: 'request', kind: 'injection', type: 'instruction_override' })).toBe(3);
    expect(valueOf(e, 'llm_guard_findings_total', { stage: 'request', kind: 'injection', type: 'jailbreak' })).toBe(1);
    expect(valueOf(e, 'llm_guard_findings_total', { stage: 'response', kind: 'sensitive_data', type: 'email' })).toBe(2);
  });

  it('writes nothing to prom-client\'s global registry', async () => {
    expect((await globalRegister.getMetricsAsJSON()).filter((x) => x.name.startsWith('llm_'))).toEqual([]);
  });

  it('keeps two instances apart (each its own registry)', async () => {
    const other = new AuditMetrics();
    other.observe(rs[0]);
    expect(valueOf(await scrape(other), 'llm_requests_total', { status: '200' })).toBe(1);
    expect(valueOf(await scrape(m), 'llm_requests_total', { consumer: 'team-a', status: '200' })).toBe(3);
  });
});

describe('AuditMetrics rate limits and guard edge cases', () => {
  it('counts a refusal under the limit that refused, or unknown when the decision does not name one, never guessing', async () => {
    const m = new AuditMetrics();
    m.observe(record({ rate_limit: { allowed: false, limits: [{ id: 'tpm', unit: 'tokens', limit: 1000, remaining: 200 }] } }));
    m.observe(record({ rate_limit: { allowed: true, limits: [{ id: 'rpm', unit: 'requests', limit: 10, remaining: 0 }] } }));
    const e = await scrape(m);
    expect(seriesOf(e, 'llm_rate_limit_rejections_total').map((s) => [s.labels, s.value])).toEqual([[{ limit_id: 'unknown', unit: 'unknown' }, 1]]);
  });

  it('names a block without findings "none" and one with only PII "sensitive_data"', async () => {
    const m = new AuditMetrics();
    m.observe(record({ request_facts: { ...FACTS, findings: { pii: {}, injection: [], blocked: true } } }));
    m.observe(record({ request_facts: { ...FACTS, findings: { pii: { ssn: 1 }, injection: [], blocked: true } } }));
    const e = await scrape(m);
    expect(valueOf(e, 'llm_guard_blocks_total', { finding: 'none' })).toBe(1);
    expect(valueOf(e, 'llm_guard_blocks_total', { finding: 'sensitive_data' })).toBe(1);
  });

  it('survives a record that is not one (counts the error, throws nothing)', async () => {
    const m = new AuditMetrics();
    expect(() => m.observe({} as AuditRecord)).not.toThrow();
    expect(() => m.observe(null as unknown as AuditRecord)).not.toThrow();
    expect(valueOf(await scrape(m), 'llm_metrics_observe_errors_total')).toBe(2);
  });
});

describe('AuditMetrics cardinality', () => {
  it('keeps consumers and tenants to top-N plus other under 10,000 distinct consumers', async () => {
    const m = new AuditMetrics({ top_consumers: 20, top_tenants: 5 });
    const base = record();
    for (let i = 0; i < 10_000; i++) {
      m.observe({ ...base, consumer: `consumer-${i}`, tenant: `tenant-${i % 500}` });
    }
    const e = await scrape(m);
    const series = seriesOf(e, 'llm_requests_total');
    const consumers = new Set(series.map((s) => s.labels.consumer));
    // first seen, sticky: consumer-0..19 keep their labels, the rest are other
    expect(consumers).toEqual(new Set([...Array.from({ length: 20 }, (_, i) => `consumer-${i}`), 'other']));
    expect(new Set(series.map((s) => s.labels.tenant))).toEqual(new Set(['tenant-0', 'tenant-1', 'tenant-2', 'tenant-3', 'tenant-4', 'other']));
    expect(series.length).toBeLessThanOrEqual(21 * 6);
    expect(series.reduce((a, s) => a + s.value, 0)).toBe(10_000);
    expect(valueOf(e, 'llm_requests_total', { consumer: 'consumer-7' })).toBe(1);
    expect(valueOf(e, 'llm_metrics_label_overflow_total', { dimension: 'consumer' })).toBe(10_000 - 20);
    // every series of the whole exposition is bounded too
    expect(e.samples.length).toBeLessThan(1000);
  });

  it('bounds models, routes and finding types too', async () => {
    const m = new AuditMetrics({ top_models: 3, top_routes: 2, top_finding_types: 4 });
    const base = record();
    for (let i = 0; i < 2000; i++) {
      m.observe({
        ...base,
        request: { ...base.request, model: `model-${i}` },
        route: { id: `r-${i}`, name: null },
        guard: { ...base.guard, request_findings: { [`custom:t${i}`]: 1 } },
      });
    }
    const e = await scrape(m);
    expect(new Set(seriesOf(e, 'llm_requests_total').map((s) => s.labels.model)).size).toBe(4);
    expect(new Set(seriesOf(e, 'llm_requests_total').map((s) => s.labels.route))).toEqual(new Set(['r-0', 'r-1', 'other']));
    // one bound over all stages and kinds: the base record's instruction_override and email took two slots first
    expect(new Set(seriesOf(e, 'llm_guard_findings_total').map((s) => s.labels.type))).toEqual(new Set(['instruction_override', 'email', 'custom:t0', 'custom:t1', 'other']));
  });

  it('keeps memory of a dimension at its bound', () => {
    const b = new BoundedLabel('x', 3);
    for (let i = 0; i < 100; i++) b.label(`v${i}`);
    expect(b.size).toBe(3);
    expect(b.label('v1')).toBe('v1');
    expect(b.label('v99')).toBe('other');
    // the reserved words take no slot
    expect(new BoundedLabel('y', 0).label('unknown')).toBe('unknown');
  });

  it('refuses a bound that is not a non-negative integer', () => {
    expect(() => new AuditMetrics({ top_consumers: -1 })).toThrow(RangeError);
    expect(() => new AuditMetrics({ top_models: 1.5 })).toThrow(RangeError);
  });
});

describe('AuditMetrics hostile label values', () => {
  const hostile = [
    'evil"} 1\nllm_requests_total{consumer="forged"} 99\n# TYPE x counter',
    'back\\slash\\',
    '__proto__',
    'constructor',
    'line\r\nbreak',
    'a'.repeat(5000),
    '\u0000nul',
    'ümlaut-☃-😀',
  ];

  it('keeps the exposition well formed and labels in the safe set', async () => {
    const m = new AuditMetrics();
    const base = record();
    for (const h of hostile) {
      m.observe({
        ...base,
        consumer: h,
        tenant: h,
        route: { id: null, name: h },
        request: { ...base.request, model: h },
        guard: { ...base.guard, request_findings: Object.defineProperty({}, h, { value: 1, enumerable: true }) },
        rate_limit: { allowed: false, key_by: 'consumer', limit_set: 'default', store: 'local', refused_by: h, limits: [{ id: h, unit: h, limit: 1, remaining: 0, reset_ms: 1 }], reserved: { tokens: 0, usd_micros: 0 } },
      });
    }
    m.observeSink('sink"\n__proto__', { queued: 1, sent: 1, retried: 0, spilled: 0, dropped: 0, replayed: 0, memory_depth: 0, spill_depth: 0 });
    const text = await m.exposition();
    const e = parseExposition(text); // throws on any broken line
    for (const s of e.samples) {
      for (const v of Object.values(s.labels)) {
        expect(v).toMatch(/^[A-Za-z0-9_.:@/+-]{1,64}$/);
      }
    }
    expect(e.samples.some((s) => Object.values(s.labels).includes('forged'))).toBe(false);
    expect(valueOf(e, 'llm_requests_total', { consumer: '__proto__' })).toBe(1);
    expect(valueOf(e, 'llm_guard_findings_total', { stage: 'request', kind: 'sensitive_data', type: '__proto__' })).toBe(1);
    expect(seriesOf(e, 'llm_requests_total').reduce((a, s) => a + s.value, 0)).toBe(hostile.length);
    // nothing reached a prototype
    expect(({} as Record<string, unknown>).consumer).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'forged')).toBe(false);
  });

  it('sanitizes: unsafe characters to _, cut to 64, empty is no value', () => {
    expect(sanitizeLabelValue('a"b\nc\\d e,f')).toBe('a_b_c_d_e_f');
    expect(sanitizeLabelValue('x'.repeat(100))).toHaveLength(MAX_LABEL_CHARS);
    expect(sanitizeLabelValue('custom:emp_id')).toBe('custom:emp_id');
    expect(sanitizeLabelValue('')).toBeNull();
    expect(sanitizeLabelValue(42)).toBeNull();
  });
});

describe('normalizeModel', () => {
  it.each([
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['GPT-4o-Mini-2024-07-18', 'gpt-4o-mini'],
    ['gpt-4-0613', 'gpt-4'],
    ['gpt-3.5-turbo-0125', 'gpt-3.5-turbo'],
    ['o1-2024-12-17', 'o1'],
    ['ft:gpt-4o-mini-2024-07-18:acme::9xYz', 'ft:gpt-4o-mini'],
    ['gpt-4-1106-preview', 'gpt-4-1106-preview'],
    ['text-embedding-3-large', 'text-embedding-3-large'],
    ['gpt-4.1-nano', 'gpt-4.1-nano'],
  ])('%s → %s', (input, out) => {
    expect(normalizeModel(input)).toBe(out);
  });

  it('has no model for null, empty or a bare ft:', () => {
    expect(normalizeModel(null)).toBeNull();
    expect(normalizeModel('  ')).toBeNull();
    expect(normalizeModel('ft:')).toBeNull();
  });
});

describe('statusLabel', () => {
  it('keeps HTTP codes and calls anything else unknown', () => {
    expect(statusLabel(429)).toBe('429');
    expect(statusLabel(null)).toBe('unknown');
    expect(statusLabel(99)).toBe('unknown');
    expect(statusLabel(600)).toBe('unknown');
  });
});

describe('AuditMetrics.observeSink', () => {
  const c = (over: Partial<DeliveryCounters>): DeliveryCounters => ({
    queued: 0, sent: 0, retried: 0, spilled: 0, dropped: 0, replayed: 0, memory_depth: 0, spill_depth: 0, ...over,
  });

  it('adds the queue counters\' increase, sets the depths, restarts after a reset', async () => {
    const m = new AuditMetrics();
    m.observeSink('http', c({ queued: 10, sent: 4, spilled: 3, memory_depth: 3, spill_depth: 3 }));
    m.observeSink('http', c({ queued: 15, sent: 9, spilled: 3, replayed: 3, dropped: 1, memory_depth: 2, spill_depth: 0 }));
    let e = await scrape(m);
    expect(valueOf(e, 'llm_audit_sink_records_total', { sink: 'http', event: 'queued' })).toBe(15);
    expect(valueOf(e, 'llm_audit_sink_records_total', { sink: 'http', event: 'sent' })).toBe(9);
    expect(valueOf(e, 'llm_audit_sink_records_total', { sink: 'http', event: 'spilled' })).toBe(3);
    expect(valueOf(e, 'llm_audit_sink_records_total', { sink: 'http', event: 'replayed' })).toBe(3);
    expect(valueOf(e, 'llm_audit_sink_records_total', { sink: 'http', event: 'dropped' })).toBe(1);
    // a sink that never retried shows 0, not no data
    expect(valueOf(e, 'llm_audit_sink_records_total', { sink: 'http', event: 'retried' })).toBe(0);
    expect(valueOf(e, 'llm_audit_sink_queue_depth', { sink: 'http', buffer: 'memory' })).toBe(2);
    expect(valueOf(e, 'llm_audit_sink_queue_depth', { sink: 'http', buffer: 'spill' })).toBe(0);
    // a new queue under the same name starts from 0: its whole count is added
    m.observeSink('http', c({ queued: 2, sent: 2 }));
    e = await scrape(m);
    expect(valueOf(e, 'llm_audit_sink_records_total', { sink: 'http', event: 'queued' })).toBe(17);
    expect(valueOf(e, 'llm_audit_sink_records_total', { sink: 'http', event: 'sent' })).toBe(11);
    expect(e.types.get('llm_audit_sink_queue_depth')).toBe('gauge');
  });

  it('keeps sinks apart', async () => {
    const m = new AuditMetrics();
    m.observeSink('stdout', c({ sent: 5 }));
    m.observeSink('file', c({ sent: 7 }));
    const e = await scrape(m);
    expect(valueOf(e, 'llm_audit_sink_records_total', { sink: 'stdout', event: 'sent' })).toBe(5);
    expect(valueOf(e, 'llm_audit_sink_records_total', { sink: 'file', event: 'sent' })).toBe(7);
  });
});
