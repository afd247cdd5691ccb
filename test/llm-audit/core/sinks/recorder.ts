/** Test support for the HTTP sink tests. */
import http = require('http');
import { AddressInfo } from 'net';
import zlib = require('zlib');

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A local HTTP server that records each request (body gunzipped) and answers as told. */
export class Recorder {
  readonly requests: Received[] = [];
  answer: (req: Received) => { status: number; body?: string; delayMs?: number } = () => ({ status: 200, body: '{}' });
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = (req.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(raw) : raw).toString('utf8');
      const r: Received = { method: req.method!, url: req.url!, headers: req.headers, body };
      this.requests.push(r);
      const a = this.answer(r);
      setTimeout(() => res.writeHead(a.status, { 'content-type': 'application/json' }).end(a.body ?? ''), a.delayMs ?? 0);
    });
  });
  url = '';
  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}
