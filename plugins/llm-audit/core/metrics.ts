/**
 * Prometheus metrics derived from audit records (record.ts): the dashboard and the audit
 * log count the same requests, because both are built from the one record.
 *
 * One `AuditMetrics` per plugin server process (the adapter keeps it at module level:
 * Kong creates and drops plugin instances per config, a registry must outlive them). It
 * owns its own prom-client `Registry`; nothing is added to prom-client's global
 * registry, so a second instance (tests) or another library in the process never sees
 * or collides with these series.
 *
 * Cardinality. Every label value comes from the request or the config and is bounded:
 * - values are sanitized (`sanitizeLabelValue`): a small character set, 64 characters;
 * - consumers, tenants, models, routes, finding types, limit ids and sink names each
 *   pass a `BoundedLabel`: the first N distinct values a process sees keep their own
 *   label for the life of the process, every later one is `other` (first seen, sticky).
 *   Why not "most requests in a period": Prometheus counters are cumulative, so a value
 *   that lost its slot would leave a frozen series behind (memory grows with every value
 *   ever ranked) or be removed and come back as a counter reset. Sticky first-seen keeps
 *   memory at N entries, never moves a series, and is predictable: raise the bound when
 *   `llm_metrics_label_overflow_total` shows a dimension folding values into `other`.
 *   The plugin server's restart starts a new set (the series of the old process end).
 * - status is the HTTP code (see `statusLabel`), model names lose snapshot dates
 *   (`normalizeModel`). So each metric's series count is at most the product of its
 *   dimensions' bounds, whatever the traffic.
 *
 * `observe` never throws: it runs in the log phase for every record, and a metrics fault
 * must not cost the record its delivery.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DeliveryCounters } from './delivery/options';
import type { AuditRecord } from './record';

/** The label for a value past its dimension's bound. */
export const OTHER = 'other';
/** The label for a value the record does not have (null: plugin not run, nothing published). */
export const UNKNOWN = 'unknown';
/** Longest label value kept (after sanitizing). */
export const MAX_LABEL_CHARS = 64;

/** Bounds per dimension (distinct values with their own label, `other` beyond). */
export interface MetricsOptions {
  top_consumers: number;
  top_tenants: number;
  top_models: number;
  top_routes: number;
  /** Guard finding types (PII kinds, injection categories). */
  top_finding_types: number;
  /** Rate-limit ids. */
  top_limits: number;
  top_sinks: number;
}

/**
 * Defaults: enough for a company's teams and apps on one dashboard, small enough that
 * the requests counter stays in the low thousands of series in practice (a consumer
 * usually has one tenant and a few models).
 */
export const METRICS_DEFAULTS: Readonly<MetricsOptions> = {
  top_consumers: 100,
  top_tenants: 50,
  top_models: 30,
  top_routes: 50,
  top_finding_types: 50,
  top_limits: 64,
  top_sinks: 16,
};

/**
 * Latency buckets (seconds). Gateway overhead (Kong's own time, our plugins' RPC round
 * trips included) is milliseconds; an LLM call is seconds, and a stream of a reasoning
 * model or a long answer runs for minutes, so the upstream and total buckets reach 10 min.
 */
const KONG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const LLM_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300, 600];

/** Sink queue counters exported as `event` values (DeliveryCounters minus the depths). */
const SINK_EVENTS = ['queued', 'sent', 'retried', 'spilled', 'dropped', 'replayed'] as const;
type SinkEvent = (typeof SINK_EVENTS)[number];
/** Sinks tracked for deltas at most: sink names come from config, this is only a backstop. */
const MAX_SINK_STATES = 256;

/** Characters outside this set become `_`: no quotes, backslashes, newlines, commas or spaces reach a label. */
const UNSAFE_LABEL_CHARS = /[^A-Za-z0-9_.:@/+-]/g;

/**
 * A label value from a hostile string: characters outside `[A-Za-z0-9_.:@/+-]` replaced
 * by `_`, cut to `MAX_LABEL_CHARS`; null for a non-string or an empty result. Distinct
 * inputs may meet in one value (`a b`, `a_b`): labels group, the audit record identifies.
 * prom-client escapes values in the text format too; sanitizing also keeps dashboards'
 * regex matchers and legends readable and its series keys unambiguous.
 */
export function sanitizeLabelValue(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const s = v.slice(0, MAX_LABEL_CHARS).replace(UNSAFE_LABEL_CHARS, '_');
  return s.length === 0 ? null : s;
}

/** `-2024-08-06` (OpenAI's dated snapshots) or `-0613` (older ones: `gpt-4-0613`, `gpt-3.5-turbo-0125`). */
const SNAPSHOT_SUFFIX = /-(?:\d{4}-\d{2}-\d{2}|(?:0[1-9]|1[0-2])\d{2})$/;

/**
 * The model label: lower-cased, the snapshot date dropped (`gpt-4o-2024-08-06` →
 * `gpt-4o`), a fine-tune reduced to its base (`ft:gpt-4o-mini-2024-07-18:org::id` →
 * `ft:gpt-4o-mini`, the org and job id would make one series per fine-tune), sanitized.
 * Dates are dropped because dashboards compare model families and every OpenAI release
 * would otherwise start new series; a snapshot's own price is already in the cost
 * counter, and the audit record keeps the exact name. null: no model.
 */
export function normalizeModel(model: unknown): string | null {
  if (typeof model !== 'string') return null;
  let m = model.trim().toLowerCase().slice(0, 256);
  let prefix = '';
  if (m.startsWith('ft:')) {
    prefix = 'ft:';
    m = m.slice(3).split(':', 1)[0];
  }
  m = m.replace(SNAPSHOT_SUFFIX, '');
  return m === '' ? null : sanitizeLabelValue(prefix + m);
}

/**
 * The status label: the HTTP code itself (`429`), `unknown` when the record has none
 * or it is not a status. Codes rather than classes because the codes an LLM gateway
 * answers with mean different things to act on (401 a bad key, 429 a budget, 400 a
 * guard or a bad request, 502/503/504 OpenAI or the network), and they are a closed
 * set (at most 500 values, a dozen in practice); `status=~"5.."` gives the class.
 */
export function statusLabel(status: number | null): string {
  return status !== null && Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : UNKNOWN;
}

/**
 * A dimension's label values, bounded: the first `limit` distinct values keep their
 * own label, later ones are `other`. Memory: at most `limit` strings. See the file
 * comment for why first-seen and sticky.
 */
export class BoundedLabel {
  private readonly admitted = new Set<string>();

  constructor(
    readonly dimension: string,
    private readonly limit: number,
    private readonly onOverflow: (dimension: string) => void = () => undefined,
  ) {}

  /** The label for `value` (already sanitized); `unknown` for null. `admit` false: an
   * admitted value keeps its label, a new one is `other` and takes no slot. */
  label(value: string | null, admit = true): string {
    if (value === null) return UNKNOWN;
    // the two reserved words are labels of their own and take no slot
    if (value === OTHER || value === UNKNOWN || this.admitted.has(value)) return value;
    if (admit && this.admitted.size < this.limit) {
      this.admitted.add(value);
      return value;
    }
    this.onOverflow(this.dimension);
    return OTHER;
  }

  get size(): number {
    return this.admitted.size;
  }
}

function boundOption(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`metrics option ${name} must be a non-negative integer, got ${String(v)}`);
  return v;
}

const ms = (v: number | null): number | null => (v === null ? null : v / 1000);

/**
 * The metrics of one process. Exported series (all names are in `registry`):
 * - `llm_requests_total{consumer,tenant,model,status,source,route}`
 * - `llm_prompt_tokens_total` / `llm_completion_tokens_total{consumer,tenant,model,method}`
 *   (`method`: `exact` as OpenAI reported, `estimated` by the gateway)
 * - `llm_cost_usd_total{consumer,tenant,model,basis}`
 * - `llm_kong_latency_seconds`, `llm_upstream_latency_seconds`,
 *   `llm_request_duration_seconds` (histograms; `{model,stream}`)
 * - `llm_rate_limit_rejections_total{limit_id,unit}`
 * - `llm_guard_blocks_total{finding}`, `llm_guard_findings_total{stage,kind,type}`
 * - `llm_audit_sink_records_total{sink,event}`, `llm_audit_sink_queue_depth{sink,buffer}`
 * - `llm_metrics_label_overflow_total{dimension}` (values folded into `other`)
 */
export class AuditMetrics {
  readonly registry = new Registry();
  private readonly consumers: BoundedLabel;
  private readonly tenants: BoundedLabel;
  private readonly models: BoundedLabel;
  private readonly routes: BoundedLabel;
  private readonly findingTypes: BoundedLabel;
  private readonly limits: BoundedLabel;
  private readonly sinks: BoundedLabel;
  private readonly sinkLast = new Map<string, Record<SinkEvent, number>>();

  private readonly overflow: Counter<'dimension'>;
  private readonly requests: Counter<'consumer' | 'tenant' | 'model' | 'status' | 'source' | 'route'>;
  private readonly promptTokens: Counter<'consumer' | 'tenant' | 'model' | 'method'>;
  private readonly completionTokens: Counter<'consumer' | 'tenant' | 'model' | 'method'>;
  private readonly cost: Counter<'consumer' | 'tenant' | 'model' | 'basis'>;
  private readonly kongLatency: Histogram<'model' | 'stream'>;
  private readonly upstreamLatency: Histogram<'model' | 'stream'>;
  private readonly totalLatency: Histogram<'model' | 'stream'>;
  private readonly rejections: Counter<'limit_id' | 'unit'>;
  private readonly blocks: Counter<'finding'>;
  private readonly findings: Counter<'stage' | 'kind' | 'type'>;
  private readonly sinkRecords: Counter<'sink' | 'event'>;
  private readonly sinkDepth: Gauge<'sink' | 'buffer'>;
  private readonly observeErrors: Counter;

  /** Throws RangeError for a bound that is not a non-negative integer (config error, at start). */
  constructor(options: Partial<MetricsOptions> = {}) {
    const o = { ...METRICS_DEFAULTS, ...options };
    const registers = [this.registry];
    this.overflow = new Counter({
      name: 'llm_metrics_label_overflow_total',
      help: 'Observations whose label value was past its dimension bound and counted as "other" (raise the bound if this grows).',
      labelNames: ['dimension'],
      registers,
    });
    const onOverflow = (d: string): void => this.overflow.inc({ dimension: d });
    this.consumers = new BoundedLabel('consumer', boundOption('top_consumers', o.top_consumers), onOverflow);
    this.tenants = new BoundedLabel('tenant', boundOption('top_tenants', o.top_tenants), onOverflow);
    this.models = new BoundedLabel('model', boundOption('top_models', o.top_models), onOverflow);
    this.routes = new BoundedLabel('route', boundOption('top_routes', o.top_routes), onOverflow);
    this.findingTypes = new BoundedLabel('finding_type', boundOption('top_finding_types', o.top_finding_types), onOverflow);
    this.limits = new BoundedLabel('limit_id', boundOption('top_limits', o.top_limits), onOverflow);
    this.sinks = new BoundedLabel('sink', boundOption('top_sinks', o.top_sinks), onOverflow);

    this.requests = new Counter({
      name: 'llm_requests_total',
      help: 'LLM requests through the gateway, by consumer, tenant, model (snapshot date dropped), HTTP status code, who answered (upstream or gateway) and Kong route.',
      labelNames: ['consumer', 'tenant', 'model', 'status', 'source', 'route'],
      registers,
    });
    const tokenLabels = ['consumer', 'tenant', 'model', 'method'] as const;
    this.promptTokens = new Counter({
      name: 'llm_prompt_tokens_total',
      help: 'Prompt (input) tokens; method "exact" as OpenAI reported them, "estimated" when the gateway counted or guessed.',
      labelNames: tokenLabels,
      registers,
    });
    this.completionTokens = new Counter({
      name: 'llm_completion_tokens_total',
      help: 'Completion (output) tokens; method "exact" as OpenAI reported them, "estimated" from the answer size when no usage was captured.',
      labelNames: tokenLabels,
      registers,
    });
    this.cost = new Counter({
      name: 'llm_cost_usd_total',
      help: 'Cost in USD from the shared price table; basis "estimated" when any token count was estimated.',
      labelNames: ['consumer', 'tenant', 'model', 'basis'],
      registers,
    });
    this.kongLatency = new Histogram({
      name: 'llm_kong_latency_seconds',
      help: "Time Kong spent on the request itself (plugins included), from Kong's serialized latencies.kong.",
      labelNames: ['model', 'stream'],
      buckets: KONG_BUCKETS,
      registers,
    });
    this.upstreamLatency = new Histogram({
      name: 'llm_upstream_latency_seconds',
      help: 'Time OpenAI took to answer (a stream until its last byte), from latencies.proxy.',
      labelNames: ['model', 'stream'],
      buckets: LLM_BUCKETS,
      registers,
    });
    this.totalLatency = new Histogram({
      name: 'llm_request_duration_seconds',
      help: 'Whole request as the client saw it, from latencies.request.',
      labelNames: ['model', 'stream'],
      buckets: LLM_BUCKETS,
      registers,
    });
    this.rejections = new Counter({
      name: 'llm_rate_limit_rejections_total',
      help: 'Requests llm-rate-limit refused, by the exhausted limit (limit_id "unknown" when no limit in the decision reached zero) and its unit.',
      labelNames: ['limit_id', 'unit'],
      registers,
    });
    this.blocks = new Counter({
      name: 'llm_guard_blocks_total',
      help: 'Requests llm-guard blocked, by what their findings contained: "injection", else "sensitive_data", else "none" (policy or schema).',
      labelNames: ['finding'],
      registers,
    });
    this.findings = new Counter({
      name: 'llm_guard_findings_total',
      help: 'Guard detections (redacted or blocked, per the guard action), by stage (request, response), kind (sensitive_data, injection) and type.',
      labelNames: ['stage', 'kind', 'type'],
      registers,
    });
    this.sinkRecords = new Counter({
      name: 'llm_audit_sink_records_total',
      help: 'Audit records per sink and delivery event: queued, sent, retried, spilled (to disk), dropped (lost), replayed (from disk).',
      labelNames: ['sink', 'event'],
      registers,
    });
    this.sinkDepth = new Gauge({
      name: 'llm_audit_sink_queue_depth',
      help: 'Audit records waiting per sink, in memory or in the disk spill.',
      labelNames: ['sink', 'buffer'],
      registers,
    });
    this.observeErrors = new Counter({
      name: 'llm_metrics_observe_errors_total',
      help: 'Audit records whose metrics could not be updated (a bug: the record was still delivered).',
      registers,
    });
  }

  /** The text format's content type, for the HTTP answer. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  /** Counts one audit record. Never throws (see the file comment). */
  observe(record: AuditRecord): void {
    try {
      this.count(record);
    } catch {
      this.observeErrors.inc();
    }
  }

  /**
   * Sink health from a delivery queue's counters (`DeliveryQueue.counters()`), to call
   * whenever convenient (before each scrape, on a timer, after each enqueue): the
   * queue's counters are cumulative, so the difference since the last call is added; a
   * counter that went down means a new queue under the same name (restart) and its
   * value is added whole. Depths are set as they are. Never throws.
   */
  observeSink(sink: string, counters: DeliveryCounters): void {
    try {
      const name = sanitizeLabelValue(sink) ?? UNKNOWN;
      let last = this.sinkLast.get(name);
      if (last === undefined) {
        if (this.sinkLast.size >= MAX_SINK_STATES) return;
        last = { queued: 0, sent: 0, retried: 0, spilled: 0, dropped: 0, replayed: 0 };
        this.sinkLast.set(name, last);
      }
      const label = this.sinks.label(name);
      for (const event of SINK_EVENTS) {
        const now = counters[event];
        if (!Number.isFinite(now) || now < 0) continue;
        const delta = now >= last[event] ? now - last[event] : now;
        last[event] = now;
        // inc(0) still creates the series: a sink that never dropped shows 0, not "no data"
        this.sinkRecords.inc({ sink: label, event }, delta);
      }
      if (Number.isFinite(counters.memory_depth)) this.sinkDepth.set({ sink: label, buffer: 'memory' }, counters.memory_depth);
      if (Number.isFinite(counters.spill_depth)) this.sinkDepth.set({ sink: label, buffer: 'spill' }, counters.spill_depth);
    } catch {
      this.observeErrors.inc();
    }
  }

  private count(r: AuditRecord): void {
    const consumer = this.consumers.label(sanitizeLabelValue(r.consumer));
    const tenant = this.tenants.label(sanitizeLabelValue(r.tenant));
    // a model name is the client's text: only one OpenAI answered for (2xx) takes a label
    // slot, so made-up names cannot push the real models into `other`
    const served = r.response.source === 'upstream' && r.response.status !== null && r.response.status >= 200 && r.response.status < 300;
    const model = this.models.label(normalizeModel(r.request.model), served);
    const route = this.routes.label(sanitizeLabelValue(r.route.name ?? r.route.id));
    const stream = r.request.stream === null ? UNKNOWN : String(r.request.stream);

    this.requests.inc({ consumer, tenant, model, status: statusLabel(r.response.status), source: r.response.source ?? UNKNOWN, route });

    const t = r.tokens;
    if (t.prompt !== null) this.promptTokens.inc({ consumer, tenant, model, method: t.prompt_method ?? UNKNOWN }, t.prompt);
    if (t.completion !== null) this.completionTokens.inc({ consumer, tenant, model, method: t.completion_method ?? UNKNOWN }, t.completion);
    // usd_micros is the integer the record computed; dividing here keeps the counter's sum free of the float `usd`'s rounding
    if (r.cost.usd_micros !== null) this.cost.inc({ consumer, tenant, model, basis: r.cost.basis ?? UNKNOWN }, r.cost.usd_micros / 1e6);

    const lat = r.latencies_ms;
    const kong = ms(lat.kong);
    const upstream = ms(lat.upstream);
    const total = ms(lat.total);
    if (kong !== null) this.kongLatency.observe({ model, stream }, kong);
    if (upstream !== null) this.upstreamLatency.observe({ model, stream }, upstream);
    if (total !== null) this.totalLatency.observe({ model, stream }, total);

    this.countRateLimit(r);
    this.countGuard(r);
  }

  /**
   * A refused decision is a rejection, counted under the limit llm-rate-limit names as
   * the one that refused (`refused_by`), or `unknown` when the decision does not say.
   */
  private countRateLimit(r: AuditRecord): void {
    const rl = r.rate_limit;
    if (rl === null || rl.allowed) return;
    const refusing = rl.refused_by === null ? undefined : rl.limits.find((l) => l.id === rl.refused_by);
    const limit_id = rl.refused_by !== null ? this.limits.label(sanitizeLabelValue(rl.refused_by)) : UNKNOWN;
    const unit = refusing ? (sanitizeLabelValue(refusing.unit) ?? UNKNOWN) : UNKNOWN;
    this.rejections.inc({ limit_id, unit });
  }

  private countGuard(r: AuditRecord): void {
    const g = r.guard;
    const add = (stage: string, kind: string, counts: Record<string, number> | null): boolean => {
      if (counts === null) return false;
      let any = false;
      // own keys only, and `__proto__` read as data: record.ts defines keys with defineProperty
      for (const [type, n] of Object.entries(counts)) {
        if (!Number.isSafeInteger(n) || n <= 0) continue;
        this.findings.inc({ stage, kind, type: this.findingTypes.label(sanitizeLabelValue(type)) }, n);
        any = true;
      }
      return any;
    };
    const injection = add('request', 'injection', g.injection);
    const sensitive = add('request', 'sensitive_data', g.request_findings);
    add('response', 'sensitive_data', g.response_findings);
    if (g.blocked === true) this.blocks.inc({ finding: injection ? 'injection' : sensitive ? 'sensitive_data' : 'none' });
  }
}
