/**
 * The shipped dashboard and Prometheus config against what metrics.ts exports: every
 * metric a PromQL expression names is one AuditMetrics registers, every label it
 * filters or groups by is one that metric has, and the scrape target is the metrics
 * server's default port. So a renamed metric or label fails here, not on a blank panel.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { AuditMetrics } from '../../../plugins/llm-audit/core/metrics';
import { DEFAULT_METRICS_PORT, METRICS_PATH } from '../../../plugins/llm-audit/core/metrics-server';
import { buildAuditRecord } from '../../../plugins/llm-audit/core/record';
import { parseExposition } from './exposition';
import { FACTS, fullInputs, serialized, settings } from './record-fixtures';

const ROOT = join(__dirname, '../../..');
const DASHBOARD = join(ROOT, 'kong/grafana/llm-gateway-dashboard.json');

/** PromQL words that are not metric names: aggregations, functions, modifiers, Grafana's variables. */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'];

interface Selector {
  metric: string;
  labels: string[];
}

/**
 * The metric names an expression selects, each with the label names its matchers use,
 * and the label names of its `by (...)` groupings. Strings, durations and Grafana
 * variables are removed first; a word followed by `(` is a function.
 */
function readExpr(expr: string): { selectors: Selector[]; grouping: string[] } {
  const selectors: Selector[] = [];
  const grouping: string[] = [];
  let e = expr.replace(/\$__\w+|\$\w+/g, 'VAR');
  for (const m of e.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)) grouping.push(...m[1].split(',').map((s) => s.trim()).filter(Boolean));
  e = e.replace(/\b(?:by|without)\s*\([^)]*\)/g, ' ');
  for (const m of e.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)) {
    const labels = [...m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"/g)].map((x) => x[1]);
    selectors.push({ metric: m[1], labels });
  }
  // bare selectors: remove matchers, strings, durations, numbers, then words not followed by "("
  const rest = e.replace(/\{[^}]*\}/g, ' ').replace(/"(?:[^"\\]|\\.)*"/g, ' ').replace(/\[[^\]]*\]/g, ' ');
  for (const m of rest.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || KEYWORDS.has(m[1]) || /^\d/.test(m[1]) || m[1] === 'VAR') continue;
    if (!selectors.some((s) => s.metric === m[1])) selectors.push({ metric: m[1], labels: [] });
  }
  return { selectors, grouping };
}

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

function expressions(dashboard: { panels: Panel[]; templating: { list: { type: string; definition?: string }[] } }): string[] {
  const out: string[] = [];
  const walk = (ps: Panel[]): void => {
    for (const p of ps) {
      for (const t of p.targets ?? []) out.push(t.expr);
      walk(p.panels ?? []);
    }
  };
  walk(dashboard.panels);
  // label_values(metric, label) of the query variables: the metric and the label count too
  for (const v of dashboard.templating.list) {
    const m = v.type === 'query' ? /^label_values\((\w+),\s*(\w+)\)$/.exec(v.definition ?? '') : null;
    if (v.type === 'query' && !m) throw new Error(`variable query not understood: ${v.definition}`);
    if (m) out.push(`sum by (${m[2]}) (${m[1]})`);
  }
  return out;
}

/** Metric family → label names, from a scrape of metrics fed one record of every kind and a sink. */
async function exportedLabels(): Promise<Map<string, Set<string>>> {
  const m = new AuditMetrics({ top_consumers: 0 });
  m.observe(buildAuditRecord(fullInputs(), settings()));
  m.observe(
    buildAuditRecord(
      fullInputs({
        serialized: serialized({ response: { status: 429, size: 1 }, source: 'kong' }),
        rate_limit: { allowed: false, refused_by: 'rpm', limits: [{ id: 'rpm', unit: 'requests', limit: 1, remaining: 0 }] },
        request_facts: { ...FACTS, findings: { pii: {}, injection: [], blocked: true } },
      }),
      settings(),
    ),
  );
  m.observeSink('stdout', { queued: 1, sent: 1, retried: 0, spilled: 0, dropped: 0, replayed: 0, memory_depth: 0, spill_depth: 0 });
  const e = parseExposition(await m.exposition());
  const labels = new Map<string, Set<string>>();
  for (const [name, type] of e.types) {
    const names = type === 'histogram' ? HISTOGRAM_SUFFIXES.map((s) => name + s) : [name];
    for (const n of names) labels.set(n, new Set(n.endsWith('_bucket') ? ['le'] : []));
  }
  for (const s of e.samples) for (const l of Object.keys(s.labels)) labels.get(s.name)!.add(l);
  // every family the registry declares has samples here, so its label set is complete
  for (const [name, type] of e.types) {
    const sampled = e.samples.some((s) => s.name === name || (type === 'histogram' && s.name.startsWith(name + '_')));
    if (!sampled) throw new Error(`test feeds no sample of ${name}: extend exportedLabels`);
  }
  return labels;
}

describe('kong/grafana/llm-gateway-dashboard.json', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
  const exprs = expressions(dashboard);

  it('is a Grafana dashboard with panels and a Prometheus data source variable', () => {
    expect(dashboard.uid).toBe('llm-gateway');
    expect(typeof dashboard.schemaVersion).toBe('number');
    expect(dashboard.panels.length).toBeGreaterThan(10);
    const ids = dashboard.panels.map((p: { id: number }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const ds = dashboard.templating.list.find((v: { type: string }) => v.type === 'datasource');
    expect(ds.query).toBe('prometheus');
    for (const p of dashboard.panels as (Panel & { datasource?: { uid: string } })[]) {
      if (p.type !== 'row') expect([p.title, p.datasource?.uid]).toEqual([p.title, '${datasource}']);
    }
  });

  it('reads the selectors of an expression (the reader this test relies on)', () => {
    const r = readExpr('histogram_quantile(0.95, sum by (le, model) (rate(llm_x_bucket{model=~"$model", a!="b"}[$__rate_interval]))) / sum(llm_y) or vector(0)');
    expect(r.selectors).toEqual([
      { metric: 'llm_x_bucket', labels: ['model', 'a'] },
      { metric: 'llm_y', labels: [] },
    ]);
    expect(r.grouping).toEqual(['le', 'model']);
  });

  it('queries only metrics metrics.ts exports, by labels they have', async () => {
    const exported = await exportedLabels();
    const used = new Set<string>();
    for (const expr of exprs) {
      const { selectors, grouping } = readExpr(expr);
      expect([expr, selectors.length > 0]).toEqual([expr, true]);
      for (const s of selectors) {
        used.add(s.metric);
        expect([expr, s.metric, exported.has(s.metric)]).toEqual([expr, s.metric, true]);
        const have = exported.get(s.metric)!;
        for (const l of [...s.labels, ...grouping]) {
          // a grouping label may belong to another selector of the same expression
          const anywhere = selectors.some((o) => exported.get(o.metric)?.has(l));
          expect([expr, s.metric, l, s.labels.includes(l) ? have.has(l) : anywhere]).toEqual([expr, s.metric, l, true]);
        }
      }
    }
    // the panels the issue asks for: traffic, tokens, cost, latency, limits, guard, sinks
    for (const name of [
      'llm_requests_total',
      'llm_prompt_tokens_total',
      'llm_completion_tokens_total',
      'llm_cost_usd_total',
      'llm_request_duration_seconds_bucket',
      'llm_upstream_latency_seconds_bucket',
      'llm_kong_latency_seconds_bucket',
      'llm_rate_limit_rejections_total',
      'llm_guard_blocks_total',
      'llm_guard_findings_total',
      'llm_audit_sink_records_total',
      'llm_audit_sink_queue_depth',
    ]) {
      expect([name, used.has(name)]).toEqual([name, true]);
    }
  });
});

describe('Prometheus and Grafana provisioning', () => {
  it('scrapes the metrics server\'s default port and path on the kong container', () => {
    const cfg = load(readFileSync(join(ROOT, 'kong/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    };
    const job = cfg.scrape_configs.find((j) => j.job_name === 'llm-audit')!;
    expect(job.metrics_path ?? '/metrics').toBe(METRICS_PATH);
    // llm-audit's plugin server on the default port, llm-gateway's on the one kong.yml gives its audit record
    expect(job.static_configs.flatMap((s) => s.targets)).toEqual([`kong:${DEFAULT_METRICS_PORT}`, 'kong:9465']);
    expect(readFileSync(join(ROOT, 'kong/kong.yml'), 'utf8')).toMatch(/- name: llm-gateway[\s\S]*?metrics_port: 9465/);
  });

  it('provisions the data source the dashboard defaults to and the folder it is mounted in', () => {
    const ds = load(readFileSync(join(ROOT, 'kong/grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as {
      datasources: { uid: string; type: string; url: string }[];
    };
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    const dsVar = dashboard.templating.list.find((v: { type: string }) => v.type === 'datasource');
    expect(ds.datasources).toEqual([expect.objectContaining({ uid: dsVar.current.value, type: 'prometheus', url: 'http://prometheus:9090' })]);
    const prov = load(readFileSync(join(ROOT, 'kong/grafana/provisioning/dashboards/llm-gateway.yml'), 'utf8')) as {
      providers: { options: { path: string } }[];
    };
    const compose = load(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { volumes?: string[]; profiles?: string[] }> };
    const mounts = compose.services.grafana.volumes ?? [];
    expect(mounts).toContain(`./kong/grafana/llm-gateway-dashboard.json:${prov.providers[0].options.path}/llm-gateway-dashboard.json:ro`);
    expect(compose.services.grafana.profiles).toEqual(['observability']);
    expect(compose.services.prometheus.profiles).toEqual(['observability']);
  });
});
