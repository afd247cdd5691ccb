/**
 * Test support: a local server speaking the CloudWatch Logs JSON protocol (AWS JSON 1.1:
 * POST /, `X-Amz-Target: Logs_20140328.<Operation>`, `application/x-amz-json-1.1`,
 * errors as `{"__type": ..., "message": ...}`) for CreateLogGroup, CreateLogStream and
 * PutLogEvents, enforcing PutLogEvents' documented limits so a sink that breaks one fails
 * here as it would against AWS.
 */
import http = require('http');
import { AddressInfo } from 'net';

const TARGET_PREFIX = 'Logs_20140328.';
const DAY = 24 * 3600_000;

export interface CwCall {
  op: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface CwEvent {
  timestamp: number;
  message: string;
}

type Failure = { status: number; type: string; delayMs?: number } | null;

export class FakeCloudWatchLogs {
  readonly calls: CwCall[] = [];
  /** group → stream → events stored, in arrival order. */
  readonly groups = new Map<string, Map<string, CwEvent[]>>();
  /** Return a failure to answer a call with instead of serving it. */
  fail: (call: CwCall) => Failure = () => null;
  /** Events older than this are rejected as expired (a group's retention); default 14 days as AWS. */
  retentionMs = 14 * DAY;
  url = '';
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const call: CwCall = { op: target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : target, headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') };
      this.calls.push(call);
      const answer = (status: number, body: unknown, delayMs = 0) =>
        setTimeout(() => res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'req-1' }).end(JSON.stringify(body)), delayMs);
      // the echo stands for whatever an answer may carry: a sink must not print it
      const error = (status: number, type: string, delayMs = 0) => answer(status, { __type: type, message: 'echo: secret-in-answer' }, delayMs);
      if (req.headers['content-type'] !== 'application/x-amz-json-1.1' || req.method !== 'POST') return error(400, 'SerializationException');
      const f = this.fail(call);
      if (f) return error(f.status, f.type, f.delayMs);
      const group = String(call.body.logGroupName);
      const stream = String(call.body.logStreamName);
      switch (call.op) {
        case 'CreateLogGroup':
          if (this.groups.has(group)) return error(400, 'ResourceAlreadyExistsException');
          this.groups.set(group, new Map());
          return answer(200, {});
        case 'CreateLogStream': {
          const g = this.groups.get(group);
          if (!g) return error(400, 'ResourceNotFoundException');
          if (g.has(stream)) return error(400, 'ResourceAlreadyExistsException');
          g.set(stream, []);
          return answer(200, {});
        }
        case 'PutLogEvents': {
          const events = this.groups.get(group)?.get(stream);
          if (!events) return error(400, 'ResourceNotFoundException');
          const put = call.body.logEvents as CwEvent[];
          const invalid = checkPut(put);
          if (invalid) return error(400, 'InvalidParameterException');
          const now = Date.now();
          const info: Record<string, number> = {};
          // the documented index conventions: too new from start (inclusive), too old / expired up to end (exclusive)
          const tooNew = put.findIndex((e) => e.timestamp > now + 2 * 3600_000);
          if (tooNew >= 0) info.tooNewLogEventStartIndex = tooNew;
          let expired = 0;
          while (expired < put.length && expired !== tooNew && put[expired].timestamp < now - this.retentionMs) expired++;
          if (expired > 0) info.expiredLogEventEndIndex = expired;
          events.push(...put.slice(expired, tooNew >= 0 ? tooNew : put.length));
          return answer(200, Object.keys(info).length ? { rejectedLogEventsInfo: info } : {});
        }
        default:
          return error(400, 'UnknownOperationException');
      }
    });
  });

  /** Stored events of one stream (empty when it does not exist). */
  events(group: string, stream: string): CwEvent[] {
    return this.groups.get(group)?.get(stream) ?? [];
  }

  puts(): CwEvent[][] {
    return this.calls.filter((c) => c.op === 'PutLogEvents' && c.body.logEvents).map((c) => c.body.logEvents as CwEvent[]);
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  reset(): void {
    this.calls.length = 0;
    this.groups.clear();
    this.fail = () => null;
    this.retentionMs = 14 * DAY;
  }
}

/** PutLogEvents' limits; a string names the broken one. */
function checkPut(events: CwEvent[]): string | null {
  if (!Array.isArray(events) || events.length === 0 || events.length > 10_000) return 'count';
  let bytes = 0;
  for (let i = 0; i < events.length; i++) {
    const size = Buffer.byteLength(events[i].message, 'utf8') + 26;
    if (size > 256 * 1024) return 'event size';
    bytes += size;
    if (i > 0 && events[i].timestamp < events[i - 1].timestamp) return 'order';
  }
  if (bytes > 1_048_576) return 'batch size';
  if (events[events.length - 1].timestamp - events[0].timestamp > DAY) return 'span';
  return null;
}
