/**
 * A real Prometheus (Debian's `prometheus` package) scrapes the metrics server, and every
 * PromQL expression of the shipped dashboard is evaluated on it without error. Without
 * the binary the suite is skipped with a note: metrics-dashboard.test.ts still checks
 * the names and labels, and the strict exposition reader the format.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditMetrics } from '../../../plugins/llm-audit/core/metrics';
import { startMetricsServer, type MetricsServer } from '../../../plugins/llm-audit/core/metrics-server';
import { buildAuditRecord } from '../../../plugins/llm-audit/core/record';
import { FACTS, fullInputs, serialized, settings } from './record-fixtures';

const HAVE_PROMETHEUS = spawnSync('prometheus', ['--version']).status === 0;
const HOST = '127.0.0.1';
const DASHBOARD = join(__dirname, '../../../kong/grafana/llm-gateway-dashboard.json');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

async function query(port: number, q: string): Promise<QueryResult> {
  const res = await fetch(`http://${HOST}:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
  return (await res.json()) as QueryResult;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

function dashboardExprs(): string[] {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { targets?: { expr: string }[] }[] };
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

/** Grafana's variables as Grafana would substitute them with "All" selected and a 1 s scrape. */
const substitute = (expr: string): string => expr.replace(/\$__rate_interval/g, '1m').replace(/\$(consumer|tenant|model)\b/g, '.*');

const describeIf = HAVE_PROMETHEUS ? describe : describe.skip;
if (!HAVE_PROMETHEUS) console.warn('metrics-prometheus.test.ts skipped: no prometheus binary (apt-get install prometheus)');

describeIf('the dashboard on a real Prometheus', () => {
  let metrics: AuditMetrics;
  let server: MetricsServer;
  let prom: ChildProcess | null = null;
  let promPort: number;
  let dir: string;

  const feed = (): void => {
    metrics.observe(buildAuditRecord(fullInputs(), settings()));
    metrics.observe(
      buildAuditRecord(
        fullInputs({
          serialized: serialized({ response: { status: 429, size: 1 }, source: 'kong' }),
          rate_limit: { allowed: false, refused_by: 'rpm', limits: [{ id: 'rpm', unit: 'requests', limit: 1, remaining: 0 }] },
          request_facts: { ...FACTS, findings: { pii: { email: 1 }, injection: [], blocked: true } },
        }),
        settings(),
      ),
    );
  };

  beforeAll(async () => {
    metrics = new AuditMetrics();
    feed();
    metrics.observeSink('stdout', { queued: 2, sent: 2, retried: 0, spilled: 0, dropped: 0, replayed: 0, memory_depth: 0, spill_depth: 0 });
    server = await startMetricsServer(metrics, { host: HOST, port: 0 });
    dir = mkdtempSync(join(tmpdir(), 'llm-audit-prom-'));
    const config = `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: llm-audit\n    static_configs:\n      - targets: ["${HOST}:${server.port}"]\n`;
    writeFileSync(join(dir, 'prometheus.yml'), config);
    promPort = await freePort();
    prom = spawn(
      'prometheus',
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${HOST}:${promPort}`],
      { stdio: 'ignore' },
    );
    await until('the first successful scrape', async () => {
      const r = await query(promPort, 'up{job="llm-audit"} == 1');
      return r.data?.result.length === 1 ? true : undefined;
    });
    // rate() needs two samples inside its window: more records, then a later scrape that sees them
    feed();
    await until('a scrape with the second batch', async () => {
      const r = await query(promPort, 'sum(llm_requests_total)');
      return r.data?.result[0]?.value[1] === '4' ? true : undefined;
    });
  }, 60_000);

  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom!.once('exit', r));
      prom.kill('SIGTERM');
      await exited;
    }
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('scrapes the series the records produced', async () => {
    const r = await query(promPort, 'sum by (status) (llm_requests_total)');
    const byStatus = Object.fromEntries(r.data!.result.map((x) => [x.metric.status, x.value[1]]));
    expect(byStatus).toEqual({ '200': '2', '429': '2' });
  });

  it('evaluates every dashboard expression without error, with data behind the traffic panels', async () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThan(15);
    for (const e of exprs) {
      const r = await query(promPort, substitute(e));
      expect([e, r.status, r.error]).toEqual([e, 'success', undefined]);
    }
    for (const e of exprs.filter((x) => /llm_requests_total|llm_prompt_tokens_total|llm_rate_limit_rejections_total|llm_guard_blocks_total/.test(x))) {
      const r = await query(promPort, substitute(e));
      expect([e, (r.data?.result.length ?? 0) > 0]).toEqual([e, true]);
    }
  });
});
