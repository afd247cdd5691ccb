/**
 * The Prometheus scrape endpoint of the llm-audit plugin server: `GET /metrics` answers
 * the text format, everything else is 404 (no index, no debug routes: this port may be
 * reachable from the Kong container's network, and it shows consumers and costs).
 *
 * One per process. Kong creates a plugin instance per distinct config and drops it
 * when idle, with no close hook (STYLE.md), so the adapter calls `startMetricsServer`
 * from every instance's constructor: the first call listens, later calls with the same
 * address and source get the same server. A call naming another address (two configs
 * disagree) is refused with `MetricsServerConflictError` rather than moving the port
 * under Prometheus or opening a second one; the adapter logs it. A failed listen
 * (port taken) leaves nothing behind, so a later call tries again.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const METRICS_PATH = '/metrics';
/**
 * The port kong/prometheus/prometheus.yml scrapes on the kong container: the default
 * for llm-audit's metrics port. 9464 is the Prometheus exporter port OpenTelemetry
 * registered; it collides with none of Kong's default ports (8000-8007, 8443-8447).
 */
export const DEFAULT_METRICS_PORT = 9464;
/** A scrape has 10 s by default in Prometheus; a client that has not sent its headers in 5 s is not Prometheus. */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
/** A scrape's request is a line and a few headers. */
const MAX_HEADER_BYTES = 8 * 1024;

/** What the server serves: `AuditMetrics` (metrics.ts) is one. */
export interface MetricsSource {
  readonly contentType: string;
  exposition(): Promise<string>;
}

export interface MetricsServerOptions {
  /** Interface to listen on, e.g. `0.0.0.0` in a container, `127.0.0.1` on a host. */
  host: string;
  /** 0 picks a free port (tests); `port` on the handle says which. */
  port: number;
}

export interface MetricsServer {
  readonly host: string;
  /** The port listened on (the chosen one when 0 was asked). */
  readonly port: number;
  /** Stops listening and ends open connections; resolves when closed. Idempotent. */
  close(): Promise<void>;
}

/** A second start asked for another address or source than the running server's. */
export class MetricsServerConflictError extends Error {
  constructor(running: string, requested: string) {
    super(`metrics server already listening on ${running}; not starting another on ${requested}`);
    this.name = 'MetricsServerConflictError';
  }
}

interface Running {
  host: string;
  port: number;
  source: MetricsSource;
  started: Promise<MetricsServer>;
}

/** The process's server (or the one starting). */
let running: Running | null = null;

const show = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

function answer(source: MetricsSource, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '').split('?', 1)[0];
  if (req.method !== 'GET' || path !== METRICS_PATH) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  source.exposition().then(
    (text) => {
      res.writeHead(200, { 'content-type': source.contentType, 'cache-control': 'no-store' }).end(text);
    },
    () => {
      // no detail to the scraper: a failed scrape shows as `up` with an error in Prometheus
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('metrics unavailable\n');
    },
  );
}

function listen(source: MetricsSource, opts: MetricsServerOptions, onClose: () => void): Promise<MetricsServer> {
  const server: Server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => answer(source, req, res));
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      // the endpoint alone never keeps the plugin server alive: Kong's socket and the sinks decide when it exits
      server.unref();
      const port = (server.address() as AddressInfo).port;
      let closed: Promise<void> | null = null;
      resolve({
        host: opts.host,
        port,
        close() {
          closed ??= new Promise<void>((done) => {
            onClose();
            server.close(() => done());
            // keep-alive connections from Prometheus would hold close() open until they idle out
            server.closeAllConnections();
          });
          return closed;
        },
      });
    });
  });
}

/**
 * Starts the process's metrics endpoint, or returns the one running. Rejects with
 * `MetricsServerConflictError` when the running one has another address or source,
 * and with the listen error (EADDRINUSE, EACCES) when listening fails.
 */
export function startMetricsServer(source: MetricsSource, opts: MetricsServerOptions): Promise<MetricsServer> {
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    return Promise.reject(new RangeError(`metrics port must be an integer in 0..65535, got ${String(opts.port)}`));
  }
  if (running !== null) {
    // port 0 matches any: "a free port" is whatever the running server got
    if (running.source === source && running.host === opts.host && (opts.port === 0 || opts.port === running.port)) return running.started;
    return Promise.reject(new MetricsServerConflictError(show(running.host, running.port), show(opts.host, opts.port)));
  }
  const state = { host: opts.host, port: opts.port, source } as Running;
  // a closed server frees the slot only if it still holds it
  state.started = listen(source, opts, () => {
    if (running === state) running = null;
  });
  running = state;
  state.started.then(
    (s) => {
      state.port = s.port;
    },
    () => {
      if (running === state) running = null;
    },
  );
  return state.started;
}
