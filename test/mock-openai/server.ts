/**
 * A mock of the OpenAI API upstream, for tests and docker-compose: node:http only.
 * It serves /v1/chat/completions (plain and SSE), /v1/completions, /v1/embeddings,
 * /v1/responses and /v1/models with deterministic content (see endpoints.ts), records
 * every request, and can be told to fail, to be slow, or to stream slowly: through
 * its methods in-process, or, with `control: true`, over HTTP under /__mock/ (see
 * control.ts) when it runs as a container.
 *
 * Run directly (`node dist/test/mock-openai/server.js`) it listens on $HOST:$PORT
 * (default 127.0.0.1:8080), with the control API when MOCK_CONTROL=on.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { route, randomId, type EndpointResult, type JsonBody } from './endpoints';
import { CONTROL_PREFIX, parseControlCall, type ControlCall } from './control';
import { HttpError, injectedFailure, invalidRequest, type FailureSpec } from './openai-errors';

export type { FailureSpec } from './openai-errors';
export { echoReply, estimateTokens, promptTokens, embeddingVector, ECHO_MAX_CHARS, MODELS } from './endpoints';

/**
 * The organization's own quota, as OpenAI reports it on every answer (an injected 429
 * replaces these with its own). The gateway must not show them to clients.
 */
const ORGANIZATION_QUOTA: Readonly<Record<string, string>> = {
  'x-ratelimit-limit-requests': '10000',
  'x-ratelimit-remaining-requests': '9999',
  'x-ratelimit-reset-requests': '6ms',
  'x-ratelimit-limit-tokens': '30000000',
  'x-ratelimit-remaining-tokens': '29999000',
  'x-ratelimit-reset-tokens': '2ms',
};

/** One request as the mock received it. */
export interface RecordedRequest {
  method: string;
  /** URL path without the query string, e.g. "/v1/chat/completions". */
  path: string;
  /** The raw query string without "?" ("" when there is none). */
  query: string;
  /** Header names in lower case; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The raw body ("" when there is none). */
  body: string;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  json: unknown;
  /** When the body had been read, in ms since the epoch. */
  receivedAt: number;
  /** The `x-request-id` the mock answered with. */
  requestId: string;
}

/** Options of a MockOpenAI. */
export interface MockOpenAIOptions {
  /**
   * Keep only the most recent this many requests in `requests` (default: all). For a
   * long-running mock under load, e.g. in docker-compose.
   */
  maxRecordedRequests?: number;
  /**
   * Serve the HTTP control API under /__mock/ (default off). Off, those paths are
   * unknown paths like any other (404), so the API exists only where asked for.
   */
  control?: boolean;
}

/** A mock OpenAI API server; see the module comment. */
export class MockOpenAI {
  /** Every request received since start or the last `reset()`, oldest first. */
  readonly requests: RecordedRequest[] = [];

  private server: Server | undefined;
  private baseUrl: string | undefined;
  /** Aborted by stop(), which cuts every pending latency or chunk delay short. */
  private lifetime = new AbortController();
  private failures: FailureSpec[] = [];
  private latencyMs = 0;
  private chunkDelayMs = 0;
  private readonly maxRecorded: number;
  private readonly controlOn: boolean;

  constructor(options: MockOpenAIOptions = {}) {
    this.maxRecorded = options.maxRecordedRequests ?? Infinity;
    this.controlOn = options.control ?? false;
  }

  /**
   * Listens on `host:port` (port 0: any free port) and resolves to the base URL,
   * e.g. "http://127.0.0.1:41234"; clients append "/v1".
   */
  async start(port = 0, host = '127.0.0.1'): Promise<string> {
    if (this.server) throw new Error('MockOpenAI is already started');
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.lifetime = new AbortController();
    const address = server.address() as AddressInfo;
    const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    this.baseUrl = `http://${hostPart}:${address.port}`;
    return this.baseUrl;
  }

  /** Closes the server, ending open connections and in-flight (delayed or streaming) responses. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.baseUrl = undefined;
    this.lifetime.abort();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** The base URL returned by `start()`; throws when the server is not running. */
  get url(): string {
    if (this.baseUrl === undefined) throw new Error('MockOpenAI is not started');
    return this.baseUrl;
  }

  /** Forgets the recorded requests and all injected behaviour (failures, latency, chunk delay). */
  reset(): void {
    this.requests.length = 0;
    this.failures = [];
    this.latencyMs = 0;
    this.chunkDelayMs = 0;
  }

  /** The next `n` requests, whatever their path, answer with the failure `spec` (queued after earlier ones). */
  failNext(n: number, spec: FailureSpec): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`failNext: n must be a non-negative integer, got ${n}`);
    for (let i = 0; i < n; i++) this.failures.push(spec);
  }

  /** Waits `ms` after reading a request before sending the first byte of its answer. */
  setLatency(ms: number): void {
    this.latencyMs = nonNegative(ms, 'setLatency');
  }

  /** Waits `ms` between two SSE events of a stream (default 0). */
  setChunkDelay(ms: number): void {
    this.chunkDelayMs = nonNegative(ms, 'setChunkDelay');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const signal = this.lifetime.signal;
    // A client hanging up mid-answer must not crash the mock.
    res.on('error', () => undefined);
    try {
      const body = await readBody(req);
      const path = new URL(req.url ?? '/', 'http://mock').pathname;
      // Control calls come before recording, failures and latency: the test's own
      // bookkeeping must neither show up in the record nor use up injected behaviour.
      if (this.controlOn && path.startsWith(CONTROL_PREFIX)) {
        this.control(parseControlCall(req.method ?? '', path, body), res);
        return;
      }
      const record = this.record(req, path, body);
      const outcome = this.answer(record);
      if (this.latencyMs > 0) await sleep(this.latencyMs, undefined, { signal });
      // Sent on every answer by OpenAI; the gateway logs and forwards them.
      const headers = {
        'x-request-id': record.requestId,
        'openai-processing-ms': String(Math.round(performance.now() - started)),
      };
      if (outcome instanceof HttpError) {
        sendJson(res, outcome.status, outcome.body(), { ...ORGANIZATION_QUOTA, ...outcome.headers, ...headers });
      } else if (outcome.kind === 'json') {
        sendJson(res, 200, outcome.body, { ...ORGANIZATION_QUOTA, ...headers });
      } else {
        await this.stream(res, outcome.events, { ...ORGANIZATION_QUOTA, ...headers }, signal);
      }
    } catch (err) {
      // stop() aborted a delay, the client went away, or the mock has a bug: the first
      // two need no answer, the last one gets a 500 if it still can.
      if (signal.aborted || res.headersSent) {
        res.destroy();
      } else {
        const message = `mock-openai internal error: ${err instanceof Error ? err.message : String(err)}`;
        sendJson(res, 500, new HttpError(500, 'server_error', message).body(), {});
      }
    }
  }

  /** Applies a control call and answers it: the record as JSON, 204 for the setters, or the parse error. */
  private control(call: ControlCall | HttpError, res: ServerResponse): void {
    if (call instanceof HttpError) return sendJson(res, call.status, call.body(), call.headers);
    switch (call.op) {
      case 'requests':
        return sendJson(res, 200, this.requests, {});
      case 'reset':
        this.reset();
        break;
      case 'fail':
        this.failNext(call.n, call.spec);
        break;
      case 'latency':
        this.setLatency(call.ms);
        break;
      case 'chunk-delay':
        this.setChunkDelay(call.ms);
        break;
    }
    res.writeHead(204).end();
  }

  private record(req: IncomingMessage, path: string, body: string): RecordedRequest {
    // from the raw lines, keys defined rather than assigned: a "__proto__" header is a header
    const headers: Record<string, string> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i].toLowerCase();
      const prev = Object.hasOwn(headers, name) ? headers[name] : undefined;
      const value = prev === undefined ? req.rawHeaders[i + 1] : `${prev}, ${req.rawHeaders[i + 1]}`;
      Object.defineProperty(headers, name, { value, enumerable: true, writable: true, configurable: true });
    }
    const target = req.url ?? '';
    const record: RecordedRequest = {
      method: req.method ?? '',
      path,
      query: target.includes('?') ? target.slice(target.indexOf('?') + 1) : '',
      headers,
      body,
      json: parseJson(body),
      receivedAt: Date.now(),
      requestId: randomId('req_', 32, 'hex'),
    };
    this.requests.push(record);
    if (this.requests.length > this.maxRecorded) this.requests.shift();
    return record;
  }

  /** Decides the answer: an injected failure first, then routing, then the endpoint. */
  private answer(record: RecordedRequest): EndpointResult | HttpError {
    const failure = this.failures.shift();
    if (failure) return injectedFailure(failure);
    const handler = route(record.method, record.path);
    // OpenAI's answer to an unknown path, and to a known path with the wrong method.
    if (!handler) return new HttpError(404, 'invalid_request_error', `Invalid URL (${record.method} ${record.path})`);
    let body: JsonBody = {};
    if (record.method === 'POST') {
      if (typeof record.json !== 'object' || record.json === null || Array.isArray(record.json)) {
        return invalidRequest(
          'We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP ' +
            'library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)',
        );
      }
      body = record.json as JsonBody;
    }
    try {
      return handler(body);
    } catch (err) {
      if (err instanceof HttpError) return err;
      throw err;
    }
  }

  /** Writes one SSE event per `res.write`, `chunkDelayMs` apart, then `data: [DONE]`. */
  private async stream(
    res: ServerResponse,
    events: readonly object[],
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<void> {
    res.writeHead(200, {
      ...headers,
      // OpenAI's exact content type for streams.
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
    });
    const frames = [...events.map((e) => `data: ${JSON.stringify(e)}\n\n`), 'data: [DONE]\n\n'];
    for (const [i, frame] of frames.entries()) {
      // Even a 0 ms pause gives each frame its own turn of the event loop, so frames
      // leave as separate writes and clients see real chunk boundaries.
      if (i > 0) await sleep(this.chunkDelayMs, undefined, { signal });
      if (res.destroyed) return; // the client hung up
      res.write(frame);
    }
    res.end();
  }
}

function nonNegative(ms: number, name: string): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`${name}: ms must be a finite number >= 0, got ${ms}`);
  return ms;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function sendJson(res: ServerResponse, status: number, body: object, headers: Record<string, string>): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

if (require.main === module) {
  const mock = new MockOpenAI({ maxRecordedRequests: 1000, control: process.env.MOCK_CONTROL === 'on' });
  const port = Number(process.env.PORT || 8080);
  const host = process.env.HOST || '127.0.0.1';
  mock.start(port, host).then(
    (url) => console.log(`mock-openai listening on ${url}, control API ${process.env.MOCK_CONTROL === 'on' ? 'on' : 'off'}`),
    (err: unknown) => {
      console.error('mock-openai failed to start:', err);
      process.exit(1);
    },
  );
  // As PID 1 in a container node has no default SIGTERM handler; without this,
  // `docker compose down` waits its 10 s timeout and then kills the mock.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => void mock.stop().then(() => process.exit(0)));
  }
}
