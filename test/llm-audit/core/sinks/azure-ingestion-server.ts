/**
 * Test support: a local HTTPS server speaking the Azure Monitor Logs Ingestion API
 * (POST /dataCollectionRules/{ruleId}/streams/{stream}?api-version=..., gzip JSON array,
 * Bearer token, 204 on success), with a self-signed certificate made by the `openssl`
 * CLI for 127.0.0.1. HTTPS because the Azure pipeline sends bearer tokens over TLS only;
 * the client trusts the certificate through the sink's `tls_ca`, nothing process-wide.
 */
import { execFileSync } from 'child_process';
import fs = require('fs');
import https = require('https');
import os = require('os');
import path = require('path');
import { AddressInfo } from 'net';
import zlib = require('zlib');

export interface IngestionCall {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  /** The gunzipped body parsed as JSON (null when it is not). */
  records: unknown;
}

export class FakeLogsIngestion {
  readonly calls: IngestionCall[] = [];
  answer: (call: IngestionCall) => { status: number; delayMs?: number } = () => ({ status: 204 });
  url = '';
  /** The certificate, PEM: what a client must trust. */
  ca = '';
  private server: https.Server | null = null;

  async start(): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-azure-tls-'));
    try {
      const key = path.join(dir, 'key.pem');
      const cert = path.join(dir, 'cert.pem');
      // P-256 (fast to make), one day, valid for the address the client connects to
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
        '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
      this.ca = fs.readFileSync(cert, 'utf8');
      this.server = https.createServer({ key: fs.readFileSync(key), cert: this.ca }, (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const raw = Buffer.concat(chunks);
          let records: unknown = null;
          try {
            records = JSON.parse((req.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(raw) : raw).toString('utf8'));
          } catch {
            // left null: the test sees it
          }
          const u = new URL(req.url!, this.url);
          const call: IngestionCall = { method: req.method!, path: u.pathname, query: u.searchParams, headers: req.headers, records };
          this.calls.push(call);
          const a = this.answer(call);
          // the echo stands for what an error answer may carry: a sink must not print it
          const body = a.status === 204 ? '' : JSON.stringify({ error: { code: 'Failure', message: 'echo: secret-in-answer' } });
          setTimeout(() => res.writeHead(a.status, body ? { 'content-type': 'application/json' } : {}).end(body), a.delayMs ?? 0);
        });
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}
