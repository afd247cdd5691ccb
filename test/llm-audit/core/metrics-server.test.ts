import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuditMetrics } from '../../../plugins/llm-audit/core/metrics';
import { MetricsServerConflictError, startMetricsServer, type MetricsServer } from '../../../plugins/llm-audit/core/metrics-server';
import { buildAuditRecord } from '../../../plugins/llm-audit/core/record';
import { parseExposition, valueOf } from './exposition';
import { fullInputs, settings } from './record-fixtures';

const HOST = '127.0.0.1';

/** One raw HTTP exchange (no fetch: its pooled keep-alive connections would outlive close()). */
function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: HOST, port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('startMetricsServer', () => {
  let metrics: AuditMetrics;
  let server: MetricsServer | null = null;
  beforeEach(() => {
    metrics = new AuditMetrics();
    metrics.observe(buildAuditRecord(fullInputs(), settings()));
  });
  afterEach(async () => {
    await server?.close();
    server = null;
  });

  it('answers GET /metrics with the text format and its content type', async () => {
    server = await startMetricsServer(metrics, { host: HOST, port: 0 });
    expect(server.port).toBeGreaterThan(0);
    const res = await get(server.port, '/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    const e = parseExposition(res.body);
    expect(valueOf(e, 'llm_requests_total', { consumer: 'team-a', status: '200' })).toBe(1);
    // a query string (Prometheus `params`) does not change the path
    expect((await get(server.port, '/metrics?format=x')).status).toBe(200);
  });

  it('answers 404 to every other path and method', async () => {
    server = await startMetricsServer(metrics, { host: HOST, port: 0 });
    for (const [path, method] of [['/', 'GET'], ['/metrics/', 'GET'], ['/metricsx', 'GET'], ['/debug', 'GET'], ['/metrics', 'POST'], ['/metrics', 'DELETE'], ['/METRICS', 'GET']]) {
      const res = await get(server.port, path, method);
      expect([path, method, res.status]).toEqual([path, method, 404]);
      expect(res.body).not.toContain('llm_');
    }
  });

  it('starts once per process: the same address and source get the same server', async () => {
    server = await startMetricsServer(metrics, { host: HOST, port: 0 });
    const again = startMetricsServer(metrics, { host: HOST, port: server.port });
    await expect(again).resolves.toBe(server);
    await expect(startMetricsServer(metrics, { host: HOST, port: 0 })).resolves.toBe(server);
  });

  it('refuses a second address or another source while one runs', async () => {
    server = await startMetricsServer(metrics, { host: HOST, port: 0 });
    await expect(startMetricsServer(metrics, { host: HOST, port: server.port === 65535 ? 65534 : server.port + 1 })).rejects.toBeInstanceOf(MetricsServerConflictError);
    await expect(startMetricsServer(new AuditMetrics(), { host: HOST, port: server.port })).rejects.toBeInstanceOf(MetricsServerConflictError);
    // the running one is untouched
    expect((await get(server.port, '/metrics')).status).toBe(200);
  });

  it('closes (idempotently), stops answering, and can start again', async () => {
    const first = await startMetricsServer(metrics, { host: HOST, port: 0 });
    const port = first.port;
    await Promise.all([first.close(), first.close()]);
    await expect(get(port, '/metrics')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    server = await startMetricsServer(metrics, { host: HOST, port: 0 });
    expect(server).not.toBe(first);
    expect((await get(server.port, '/metrics')).status).toBe(200);
  });

  it('rejects with the listen error when the port is taken, and a later start works', async () => {
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, HOST, r));
    const taken = (squatter.address() as AddressInfo).port;
    try {
      await expect(startMetricsServer(metrics, { host: HOST, port: taken })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await new Promise((r) => squatter.close(r));
    }
    server = await startMetricsServer(metrics, { host: HOST, port: taken });
    expect(server.port).toBe(taken);
  });

  it('answers 500 without detail when the source fails', async () => {
    const failing = { contentType: 'text/plain', exposition: () => Promise.reject(new Error('secret detail')) };
    server = await startMetricsServer(failing, { host: HOST, port: 0 });
    const res = await get(server.port, '/metrics');
    expect(res.status).toBe(500);
    expect(res.body).not.toContain('secret');
  });

  it('refuses a port outside 0..65535', async () => {
    await expect(startMetricsServer(metrics, { host: HOST, port: 70000 })).rejects.toBeInstanceOf(RangeError);
  });
});
