/**
 * A stand-in for llm-gateway's ingest endpoint, on a unix socket: records every POST
 * (its time, its JSON array, the status it got) and answers each with the next status
 * of `statuses`, then 200. For tests of the bridge's queue model and the Lua companion
 * without the plugin server.
 */
import http = require('http');

export interface ReceivedBatch {
  at: number;
  records: unknown[];
  status: number;
  method: string;
  url: string;
  contentType: string | undefined;
}

export class IngestStub {
  readonly received: ReceivedBatch[] = [];
  statuses: number[] = [];
  private server: http.Server | null = null;

  constructor(readonly socket: string) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = this.statuses.shift() ?? 200;
        this.received.push({
          at: Date.now(),
          records: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown[],
          status,
          method: req.method ?? '',
          url: req.url ?? '',
          contentType: req.headers['content-type'],
        });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.socket, resolve));
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    this.server = null;
  }

  /** The records of the batches answered 200, in order. */
  delivered(): Array<Record<string, unknown>> {
    return this.received.filter((r) => r.status === 200).flatMap((r) => r.records as Array<Record<string, unknown>>);
  }
}
