/**
 * The bridge: an HTTP front on 127.0.0.1 that plays stock Kong 3.x for our plugins.
 * It loads a declarative kong.yml, starts one real plugin server per
 * `pluginserver_names` entry from kong/kong.env (plugin-server.ts), and runs each
 * request the way Kong's runloop does (kong/init.lua, plugins_iterator.lua):
 *
 *   route match -> access (plugins by descending priority, configs looked up lazily
 *   so a consumer set by an auth plugin selects consumer-scoped configs; an exit is
 *   delayed until the iterator is done and skips later access handlers, which are
 *   still collected for the log phase) -> proxy (streamed, or buffered when any
 *   collected plugin has a response phase, then the response phase) -> the client
 *   gets the response -> log phase in a timer with the saved data.
 *
 * Where it knowingly differs from Kong: test/README.md.
 */
import crypto = require('crypto');
import fs = require('fs');
import http = require('http');
import https = require('https');
import os = require('os');
import path = require('path');
import type { AddressInfo } from 'net';
import { lookupPlugin, loadDeclarative, matchRoute, type Consumer, type DeclarativeConfig, type PluginEntity } from './declarative';
import { processConfig, resolveReferences } from './kong-schema';
import { bodyBufferSize, readKongEnv, serverDefs } from './kong-settings';
import { errorPageBody, ERROR_PAGE_STATUSES, pdkErrorBody, type KongBody } from './kong-errors';
import { INGEST_SOCKET } from '../../plugins/llm-gateway/contract';
import { KongQueues, newQueueCounters, type QueueCounters } from './kong-queue';
import { INGEST_QUEUE_CONF, ingestHandler, type LuaLog } from './llm-gateway-lua';
import { callPdk, type PdkHost } from './pdk';
import { PhaseError, ExternalPlugin, type PdkCallRecord, type PluginEventRecord } from './plugin-runner';
import { PluginServerProcess, queryPluginInfo } from './plugin-server';
import { parsePostFunction, type PostFunction } from './post-function';
import { parsePreFunction, PRE_FUNCTION_PRIORITY, type PreFunction } from './pre-function';
import { headerBytes, headersFromNode, newRequestContext, type Headers, type RequestContext } from './request-context';
import { serialize, serializeJson } from './serialize';
import { normalizePath } from './uri-args';

export const KONG_VERSION = '3.10.0';
const UNEXPECTED = 'An unexpected error occurred';
/**
 * Response headers nginx keeps one of (ngx_http_upstream copies the upstream's into
 * r->headers_out.content_type / content_length_n): the upstream's replaces a value a
 * plugin set in access. Every other header the upstream sends is added after the
 * plugin's, and the client gets both (measured on Kong 3.10: "7, 0").
 */
const SINGLE_VALUED_RESPONSE = new Set(['content-type', 'content-length']);
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length']);

export interface BridgeOptions {
  /** Path of the declarative config (format 3.0). */
  kongYml: string;
  /** Environment for vault references ({vault://env/...}). Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Overrides of kong/kong.env settings, e.g. a smaller body buffer. */
  kongEnv?: Record<string, string>;
  /** Replace a service's URL by name (point routes at the mock upstream). */
  serviceUrls?: Record<string, string>;
  /** Use this kong.env instead of kong/kong.env (tests of fixture plugins). */
  kongEnvFile?: string;
  /** Extra environment for the plugin server processes (e.g. NODE_OPTIONS to inject faults). */
  serverEnv?: Record<string, string>;
  /**
   * nginx workers (default 2). Each keeps its own plugin-id -> instance-id table and
   * RPC connections, as Kong's workers do; requests are spread round-robin.
   */
  workers?: number;
  /** Called as Kong is about to run each PDK call (tests use it to inject faults). */
  onPdkCall?: (call: PdkCallRecord, ctx: RequestContext) => void | Promise<void>;
  onLog?: (line: string) => void;
}

export interface LogEntry {
  level: string;
  plugin: string;
  message: string;
}

/** Kong's view of one request after it ran, for tests to inspect. */
export interface RequestTrace {
  id: string;
  pdkCalls: PdkCallRecord[];
  /** Each plugin.HandleEvent Kong sent for this request (one per external plugin and phase, retries included). */
  events: PluginEventRecord[];
  status: number;
  consumer: Consumer | null;
  credential: Record<string, unknown> | null;
  shared: Record<string, unknown>;
  /** When the last byte of the response was handed to the client's socket. */
  sentAt: number;
  /** kong.log.serialize() once the response was sent: what Kong's log plugins (http-log, file-log) write. */
  logged: Record<string, unknown> | null;
}

type AnyPlugin = { kind: 'external'; plugin: ExternalPlugin } | { kind: 'post-function' } | { kind: 'pre-function' };

/** Round trips one request cost between Kong and the plugin servers (of one plugin, or all). */
export interface RoundTrips {
  /** HandleEvent calls, every phase. */
  events: number;
  /** HandleEvent calls in the log phase (each a timer, a serialize and a ctx clone in Kong). */
  logEvents: number;
  /** PDK calls, every phase. */
  pdkCalls: number;
}

export function roundTrips(trace: RequestTrace, plugin?: string): RoundTrips {
  const mine = <T extends { plugin: string }>(xs: T[]) => xs.filter((x) => plugin === undefined || x.plugin === plugin);
  const events = mine(trace.events);
  return { events: events.length, logEvents: events.filter((e) => e.phase === 'log').length, pdkCalls: mine(trace.pdkCalls).length };
}

/** What the bridge's llm-gateway ingest queues did (all workers), for tests. */
export interface IngestCounters extends QueueCounters {
  /** Records dropped: the oldest at max_entries, and batches given up after max_retry_time. */
  dropped: number;
}

interface Collected {
  entity: PluginEntity;
  config: Record<string, unknown>;
  plugin: ExternalPlugin;
}

export class KongBridge {
  readonly logs: LogEntry[] = [];
  readonly traces: RequestTrace[] = [];
  readonly servers = new Map<string, PluginServerProcess>();
  /** Per plugin, one runner per nginx worker. */
  private readonly plugins = new Map<string, ExternalPlugin[]>();
  private nextWorker = 0;
  private readonly configs = new Map<string, Record<string, unknown>>();
  private readonly postFunctions = new Map<string, PostFunction>();
  private readonly preFunctions = new Map<string, PreFunction>();
  private host!: PdkHost;
  /** kong.tools.queue's queues, one set per nginx worker; they outlive plugin-server restarts (nginx holds them). */
  private queues: KongQueues[] = [];
  private readonly queueCounters = newQueueCounters();
  private ingestSend: ReturnType<typeof ingestHandler> | null = null;
  private server: http.Server | null = null;
  private prefix = '';
  private bodyBuffer = 8192;
  private declarative!: DeclarativeConfig;
  private readonly pendingLogs = new Set<Promise<void>>();
  private readonly nodeId = crypto.randomUUID();

  private constructor(private readonly opts: BridgeOptions) {}

  static async start(opts: BridgeOptions): Promise<KongBridge> {
    const bridge = new KongBridge(opts);
    try {
      await bridge.init();
    } catch (err) {
      await bridge.stop();
      throw err;
    }
    return bridge;
  }

  get url(): string {
    const addr = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${addr.port}`;
  }

  private async init(): Promise<void> {
    const kongEnv = { ...readKongEnv(this.opts.kongEnvFile), ...this.opts.kongEnv };
    this.bodyBuffer = bodyBufferSize(kongEnv);
    this.prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'kong-bridge-'));
    const enabled = new Set((kongEnv.KONG_PLUGINS ?? 'bundled').split(',').map((s) => s.trim()));

    const host = {
      consumers: [] as Consumer[],
      nodeId: this.nodeId,
      log: (level: string, plugin: string, message: string) => this.log(level, plugin, message),
    };
    this.host = host;
    const workerCount = this.opts.workers ?? 2;
    this.queues = Array.from({ length: workerCount }, () => new KongQueues(this.queueCounters, (level, message) => this.log(level, 'post-function', message)));
    this.ingestSend = ingestHandler(this.ingestSocket, this.luaLog);
    const sandboxRequires = (kongEnv.KONG_UNTRUSTED_LUA_SANDBOX_REQUIRES ?? '').split(',').map((x) => x.trim()).filter(Boolean);
    const defs = serverDefs(kongEnv, this.prefix);
    await Promise.all(
      defs.map(async (def) => {
        const info = await queryPluginInfo(def);
        const proc = new PluginServerProcess(def, this.opts.serverEnv, (line) => {
          this.opts.onLog?.(line);
          this.logs.push({ level: 'info', plugin: def.name, message: line });
        });
        this.servers.set(info.Name, proc);
        await proc.start();
        const onPdkCall = async (r: PdkCallRecord, ctx: RequestContext) => {
          this.trace(ctx).pdkCalls.push(r);
          await this.opts.onPdkCall?.(r, ctx);
        };
        const onEvent = (r: PluginEventRecord, ctx: RequestContext) => {
          this.trace(ctx).events.push(r);
        };
        const workers = Array.from({ length: workerCount }, () => new ExternalPlugin(info, proc, host, onPdkCall, onEvent));
        this.plugins.set(info.Name, workers);
      }),
    );

    this.declarative = loadDeclarative(fs.readFileSync(this.opts.kongYml, 'utf8'));
    host.consumers = this.declarative.consumers;
    for (const s of this.declarative.services) {
      const override = s.name ? this.opts.serviceUrls?.[s.name] : undefined;
      if (override) {
        const u = new URL(override);
        s.protocol = u.protocol.replace(':', '') as 'http' | 'https';
        s.host = u.hostname;
        s.port = Number(u.port || (s.protocol === 'https' ? 443 : 80));
        Object.assign(s.entity, { protocol: s.protocol, host: s.host, port: s.port });
      }
    }
    const env = this.opts.env ?? process.env;
    for (const entity of this.declarative.plugins) {
      if (!enabled.has(entity.name) && !(enabled.has('bundled') && (entity.name === 'post-function' || entity.name === 'pre-function'))) {
        throw new Error(`kong.yml: plugin "${entity.name}" is not enabled in KONG_PLUGINS`);
      }
      const external = this.plugins.get(entity.name)?.[0];
      if (external) {
        const { config, errors } = processConfig(external.info.Schema.fields[0].config.fields, entity.config);
        if (errors.length) throw new Error(`kong.yml: invalid config for ${entity.name}: ${errors.join('; ')}`);
        const unresolved: string[] = [];
        this.configs.set(entity.id, resolveReferences(config, env, unresolved) as Record<string, unknown>);
        for (const ref of unresolved) this.log('warn', entity.name, `unable to resolve reference ${ref}`);
      } else if (entity.name === 'post-function') {
        // usage-capture.lua requires cjson.safe: without it in the sandbox, it only records
        // gateway-log.lua requires cjson.safe, kong.tools.queue and resty.http
        this.postFunctions.set(entity.id, parsePostFunction(entity.config, { cjson: sandboxRequires.includes('cjson.safe'), requires: sandboxRequires }));
      } else if (entity.name === 'pre-function') {
        this.preFunctions.set(entity.id, parsePreFunction(entity.config));
      } else {
        throw new Error(`kong.yml: bundled plugin "${entity.name}" is not emulated by the bridge (see test/README.md)`);
      }
    }

    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        this.log('err', 'bridge', `unhandled: ${(err as Error).stack}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: UNEXPECTED }));
      });
    });
    this.server.keepAliveTimeout = 60000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    await this.drainLogPhase();
    // nginx exiting: the queues' timers end (entries still waiting are lost, as in Kong)
    await Promise.all(this.queues.map((q) => q.stop()));
    if (this.server) {
      this.server.closeAllConnections();
      await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    }
    await Promise.all([...this.servers.values()].map((s) => s.stop()));
    for (const workers of this.plugins.values()) for (const p of workers) p.rpc.reset();
    if (this.prefix) fs.rmSync(this.prefix, { recursive: true, force: true });
  }

  /** Waits until every log phase started so far is done. */
  async drainLogPhase(): Promise<void> {
    while (this.pendingLogs.size) await Promise.all([...this.pendingLogs]);
  }

  /** `<prefix>/llm-gateway-ingest.sock`: where gateway-log.lua's queue POSTs (the prefix the plugin servers get as --kong-prefix). */
  get ingestSocket(): string {
    return path.join(this.prefix, INGEST_SOCKET);
  }

  /** The Kong prefix the plugin servers were started with. */
  get kongPrefix(): string {
    return this.prefix;
  }

  /** The llm-gateway ingest queues' counters, all workers together. */
  get ingest(): IngestCounters {
    const c = this.queueCounters;
    return { ...c, dropped: c.droppedFull + c.droppedRetry };
  }

  /**
   * Waits until every ingest queue is empty and no batch is in its handler (sent,
   * rejected or given up). Log phases still running are waited for first. Throws
   * when that takes longer than timeoutMs.
   */
  async drainIngestQueue(timeoutMs = 10000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`ingest queue not drained within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([
        (async () => {
          await this.drainLogPhase();
          while (this.queues.some((q) => q.busy)) await Promise.all(this.queues.map((q) => q.idle()));
        })(),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private log(level: string, plugin: string, message: string): void {
    this.logs.push({ level, plugin, message });
    if (this.logs.length > 20000) this.logs.splice(0, 10000);
    this.opts.onLog?.(`[${level}] [${plugin}] ${message}`);
  }

  private trace(ctx: RequestContext): RequestTrace {
    let t = this.traces.find((x) => x.id === ctx.id);
    if (!t) {
      t = { id: ctx.id, pdkCalls: [], events: [], status: 0, consumer: null, credential: null, shared: ctx.shared, sentAt: 0, logged: null };
      this.traces.push(t);
      if (this.traces.length > 1000) this.traces.shift();
    }
    return t;
  }

  /** Plugin entities that could apply to a request, in Kong's execution order. */
  private pluginOrder(worker: number): AnyPlugin[] {
    const list: Array<AnyPlugin & { name: string; priority: number }> = [];
    for (const workers of this.plugins.values()) {
      const p = workers[worker % workers.length];
      list.push({ kind: 'external', plugin: p, name: p.name, priority: p.priority });
    }
    if (this.postFunctions.size) list.push({ kind: 'post-function', name: 'post-function', priority: -1000 });
    if (this.preFunctions.size) list.push({ kind: 'pre-function', name: 'pre-function', priority: PRE_FUNCTION_PRIORITY });
    // sort_by_handler_priority: higher first; equal priorities by name, descending
    return list.sort((a, b) => (a.priority === b.priority ? (a.name < b.name ? 1 : -1) : b.priority - a.priority));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const startedAt = Date.now();
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = normalizePath(q === -1 ? target : target.slice(0, q));
    const rawQuery = q === -1 ? '' : target.slice(q + 1);
    const body = await readBody(req);
    const requestHeaders = headersFromNode(req.rawHeaders);
    const match = matchRoute(this.declarative.routes, req.method ?? 'GET', path);
    if (!match) {
      // runloop/handler.lua: kong.response.error(404, "no Route matched with those values")
      const r = pdkErrorBody(404, 'no Route matched with those values', crypto.randomBytes(16).toString('hex'), requestHeaders.get('accept'), new Map());
      return sendKongBody(res, r);
    }
    const { route } = match;
    const ctx = newRequestContext({
      id: crypto.randomBytes(16).toString('hex'),
      startedAt,
      clientIp: req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1',
      route,
      request: {
        method: req.method ?? 'GET',
        scheme: 'http',
        // $host: lower-cased, without the port
        host: (req.headers.host ?? '127.0.0.1').replace(/:\d+$/, '').toLowerCase(),
        port: (this.server!.address() as AddressInfo).port,
        path,
        rawQuery,
        headers: requestHeaders,
        body,
        bodyInFile: body.length > this.bodyBuffer,
      },
    });
    // $request_length: request line, header lines, blank line, body
    ctx.requestSize =
      Buffer.byteLength(`${req.method} ${target} HTTP/${req.httpVersion}\r\n`) +
      req.rawHeaders.reduce((n, v, i) => n + Buffer.byteLength(v, 'latin1') + (i % 2 ? 2 : 2), 0) +
      2 +
      body.length;
    this.trace(ctx);

    // access: the collecting iterator
    const collected: Collected[] = [];
    let buffered = false;
    // the nginx worker that accepted the connection runs the whole request
    const worker = this.nextWorker++;
    // collected even after an exit: its header_filter and body_filter run on every response
    let postFunction: PostFunction | null = null;
    for (const p of this.pluginOrder(worker)) {
      if (p.kind === 'pre-function') {
        const entity = this.lookup('pre-function', ctx);
        if (entity && !ctx.delayedResponse) this.preFunctions.get(entity.id)!.access(ctx);
        continue;
      }
      if (p.kind === 'post-function') {
        const entity = this.lookup('post-function', ctx);
        if (entity) postFunction = this.postFunctions.get(entity.id)!;
        if (postFunction && !ctx.delayedResponse) {
          const pdk = (method: string, args: unknown[]) => callPdk({ plugin: 'post-function', ctx, host: this.host }, method, args);
          try {
            postFunction.access(ctx, this.luaLog, { pdk, luaLog: this.luaLogAt });
          } catch (err) {
            // a Lua error in access_by_lua: nginx's 500, answered by error_handlers.lua
            this.log('err', 'post-function', `failed to run access_by_lua*: ${(err as Error).message}`);
            const r = errorPageBody(500, ctx.request.headers, ctx.id, new Map());
            ctx.delayedResponse = { status: r.status, body: r.body, headers: r.headers, source: 'error' };
          }
        }
        continue;
      }
      const entity = this.lookup(p.plugin.name, ctx);
      if (!entity) continue;
      const config = this.configs.get(entity.id)!;
      if (p.plugin.hasPhase('response') || p.plugin.hasPhase('log')) collected.push({ entity, config, plugin: p.plugin });
      if (p.plugin.hasPhase('response')) buffered = ctx.buffered = true;
      if (!p.plugin.hasPhase('access') || ctx.delayedResponse) continue;
      try {
        await p.plugin.handleEvent(entity, config, ctx, 'access');
      } catch (err) {
        if (!(err instanceof PhaseError)) throw err;
        this.log('err', p.plugin.name, err.message);
        // init.lua: KONG_UNEXPECTED, then kong.response.error(500, "An unexpected error occurred")
        this.unexpected(ctx);
      }
    }
    ctx.latencies.kong = Date.now() - startedAt;

    if (ctx.delayedResponse) {
      this.takeDelayedResponse(ctx);
      ctx.response.headers.set('x-kong-response-latency', [String(ctx.latencies.kong)]);
      await this.send(res, ctx, postFunction);
    } else {
      await this.proxy(ctx, res, buffered ? collected.filter((c) => c.plugin.hasPhase('response')) : null, postFunction);
    }
    ctx.latencies.request = Date.now() - startedAt;
    Object.assign(this.trace(ctx), { status: ctx.response.status, consumer: ctx.consumer, credential: ctx.credential, sentAt: Date.now(), logged: serialize(ctx) });
    // Kong.log: the collected plugins by priority; each external plugin's log handler
    // saves the request's data and starts its timer, then post-function (-1000) runs
    // its log chunks here, in the request's log phase
    this.runLogPhase(ctx, collected.filter((c) => c.plugin.hasPhase('log')));
    if (postFunction?.hasLog) this.runPostFunctionLog(ctx, postFunction, worker);
  }

  private runPostFunctionLog(ctx: RequestContext, postFunction: PostFunction, worker: number): void {
    const queues = this.queues[worker % this.queues.length];
    try {
      postFunction.log(ctx, {
        nodeId: this.nodeId,
        worker: worker % this.queues.length,
        enqueue: (entry) => queues.enqueue(INGEST_QUEUE_CONF, this.ingestSend!, { socket: `unix:${this.ingestSocket}` }, entry),
        luaLog: this.luaLogAt,
      });
    } catch (err) {
      // no pcall around the log phase: log_by_lua fails, the later log handlers are skipped
      this.log('err', 'post-function', `failed to run log_by_lua*: ${(err as Error).message}`);
    }
  }

  /** A Lua error in a plugin: kong.response.error(500) with the headers set so far. */
  private unexpected(ctx: RequestContext): void {
    const r = pdkErrorBody(500, UNEXPECTED, ctx.id, ctx.request.headers.get('accept'), new Map(ctx.response.headers));
    ctx.delayedResponse = { status: r.status, body: r.body, headers: r.headers, source: 'error' };
  }

  /**
   * The delayed exit becomes the response. Nothing printed and a status in
   * nginx_kong.lua's error_page list: kong/error_handlers.lua writes the body.
   */
  private takeDelayedResponse(ctx: RequestContext): void {
    const d = ctx.delayedResponse!;
    let r: KongBody;
    if (d.body === null && ERROR_PAGE_STATUSES.has(d.status)) r = errorPageBody(d.status, ctx.request.headers, ctx.id, new Map());
    else r = { status: d.status, headers: d.headers, body: d.body ?? Buffer.alloc(0) };
    ctx.response = { status: r.status, headers: r.headers, body: r.body, source: d.source };
  }

  private lookup(name: string, ctx: RequestContext): PluginEntity | undefined {
    const consumer = ctx.consumer ? this.declarative.consumers.find((c) => c.id === ctx.consumer!.id) ?? null : null;
    return lookupPlugin(this.declarative.plugins, name, ctx.route, ctx.service, consumer);
  }

  /** kong.log.err from a post-function chunk. */
  private readonly luaLog = (message: string): void => this.log('err', 'post-function', message);
  /** kong.log[level] from a pre- or post-function chunk. */
  private readonly luaLogAt: LuaLog = (level, message) => this.log(level, 'post-function', message);

  private async proxy(ctx: RequestContext, res: http.ServerResponse, responsePhase: Collected[] | null, postFunction: PostFunction | null): Promise<void> {
    const s = ctx.service;
    const { route } = ctx;
    const match = matchRoute([route], ctx.request.method, ctx.request.path)!;
    const rest = route.strip_path ? ctx.request.path.slice(match.matched.length) : ctx.request.path;
    const basePath = s.path ?? '';
    let upstreamPath = ctx.upstream.path ?? (basePath ? joinPath(basePath, rest) : rest || '/');
    if (!upstreamPath.startsWith('/')) upstreamPath = '/' + upstreamPath;
    const query = ctx.request.rawQuery;
    ctx.upstreamUri = upstreamPath + (query ? `?${query}` : '');

    // no prototype: a client's "__proto__" header is a header like any other
    const headers: Record<string, string | string[]> = Object.create(null);
    for (const [k, v] of ctx.request.headers) if (!HOP_BY_HOP.has(k) && k !== 'host') headers[k] = v.map(headerBytes);
    headers.host = route.preserve_host ? ctx.request.headers.get('host')?.[0] ?? s.host : s.port === (s.protocol === 'https' ? 443 : 80) ? s.host : `${s.host}:${s.port}`;
    headers['x-forwarded-for'] = [[...(ctx.request.headers.get('x-forwarded-for') ?? []), ctx.clientIp].join(', ')];
    headers['x-forwarded-proto'] = ['http'];
    headers['x-forwarded-host'] = [ctx.request.host];
    headers['x-forwarded-port'] = [String(ctx.request.port)];
    headers['x-forwarded-path'] = [ctx.request.path];
    headers['x-real-ip'] = [ctx.clientIp];
    const body = ctx.request.body;
    if (body.length || ['POST', 'PUT', 'PATCH'].includes(ctx.request.method)) headers['content-length'] = [String(body.length)];

    const upstreamStart = Date.now();
    const transport = s.protocol === 'https' ? https : http;
    let upstreamRes: http.IncomingMessage;
    try {
      upstreamRes = await new Promise<http.IncomingMessage>((resolve, reject) => {
        const upstreamReq = transport.request(
          { host: s.host, port: s.port, method: ctx.request.method, path: ctx.upstreamUri, headers, timeout: s.read_timeout },
          resolve,
        );
        upstreamReq.on('timeout', () => upstreamReq.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
        upstreamReq.on('error', reject);
        upstreamReq.end(body);
      });
    } catch (err) {
      this.log('err', 'bridge', `upstream request failed: ${(err as Error).message}`);
      const timeout = (err as { code?: string }).code === 'ETIMEDOUT';
      const r = errorPageBody(timeout ? 504 : 502, ctx.request.headers, ctx.id, new Map());
      ctx.response = { status: r.status, headers: r.headers, body: r.body, source: 'error' };
      return this.send(res, ctx, postFunction);
    }
    const upstreamHeaders = headersFromNode(upstreamRes.rawHeaders);
    const kongHeaders = (): Array<[string, string]> => [
      ['x-kong-upstream-latency', String(Date.now() - upstreamStart)],
      ['x-kong-proxy-latency', String(ctx.latencies.kong)],
      ['via', `1.1 kong/${KONG_VERSION}`],
      ['x-kong-request-id', ctx.id],
    ];

    if (responsePhase) {
      // buffered_proxying: the whole upstream response is read before anything is sent
      const upstreamBody = await readBody(upstreamRes);
      ctx.latencies.proxy = Date.now() - upstreamStart;
      ctx.serviceResponse = { status: upstreamRes.statusCode ?? 502, headers: upstreamHeaders, body: upstreamBody };
      // Kong.response(): kong.response.set_status/set_headers(upstream's): same names replace
      // what access set, the rest of what access set stays
      const respHeaders: Headers = new Map(ctx.response.headers);
      for (const [k, v] of upstreamHeaders) if (!HOP_BY_HOP.has(k)) respHeaders.set(k, v);
      ctx.response = { status: ctx.serviceResponse.status, headers: respHeaders, body: upstreamBody, source: 'service' };
      ctx.phase = 'response';
      for (const c of responsePhase) {
        try {
          await c.plugin.handleEvent(c.entity, c.config, ctx, 'response');
        } catch (err) {
          if (!(err instanceof PhaseError)) throw err;
          this.log('err', c.plugin.name, err.message);
          // no pcall around the response phase: nginx's 500 and error_page (error_handlers.lua)
          const r = errorPageBody(500, ctx.request.headers, ctx.id, new Map());
          ctx.delayedResponse = { status: r.status, body: r.body, headers: r.headers, source: 'error' };
        }
        if (ctx.delayedResponse) break; // an exit in the response phase replaces the response
      }
      if (ctx.delayedResponse) this.takeDelayedResponse(ctx);
      for (const [k, v] of kongHeaders()) ctx.response.headers.set(k, [v]);
      return this.send(res, ctx, postFunction);
    }

    // streaming: chunks go to the client as they arrive; headers set in access come
    // first and the upstream's are added after them (replacing only single-valued ones)
    const merged: Headers = new Map([...ctx.response.headers].map(([k, v]) => [k, [...v]]));
    for (const [k, v] of upstreamHeaders) {
      if (HOP_BY_HOP.has(k)) continue;
      merged.set(k, SINGLE_VALUED_RESPONSE.has(k) ? v : [...(merged.get(k) ?? []), ...v]);
    }
    ctx.serviceResponse = { status: upstreamRes.statusCode ?? 502, headers: upstreamHeaders, body: null };
    ctx.response = { status: upstreamRes.statusCode ?? 502, headers: merged, body: null, source: 'service' };
    // header_filter, then body_filter on each chunk as it passes (nothing buffered here)
    postFunction?.headerFilter(ctx, this.luaLog);
    const bodyFilter = postFunction?.bodyFilter(ctx, this.luaLog) ?? null;
    const out: http.OutgoingHttpHeaders = Object.create(null);
    for (const [k, v] of ctx.response.headers) out[k] = v.length === 1 ? headerBytes(v[0]) : v.map(headerBytes);
    for (const [k, v] of kongHeaders()) out[k] = v;
    res.writeHead(ctx.response.status, out);
    res.flushHeaders();
    const write = (bytes: Buffer) => {
      if (!bytes.length) return;
      ctx.bytesSent += bytes.length;
      res.write(bytes);
    };
    await new Promise<void>((resolve) => {
      upstreamRes.on('data', (chunk: Buffer) => write(bodyFilter ? bodyFilter.filter(chunk, false) : chunk));
      upstreamRes.on('end', () => {
        ctx.latencies.proxy = Date.now() - upstreamStart;
        if (bodyFilter) write(bodyFilter.filter(Buffer.alloc(0), true));
        res.end(resolve);
      });
      upstreamRes.on('error', () => res.destroy());
    });
  }

  private send(res: http.ServerResponse, ctx: RequestContext, postFunction: PostFunction | null): Promise<void> {
    // Kong runs header_filter and body_filter on exits and error pages too
    postFunction?.headerFilter(ctx, this.luaLog);
    const bodyFilter = postFunction?.bodyFilter(ctx, this.luaLog);
    if (bodyFilter) ctx.response.body = bodyFilter.filter(ctx.response.body ?? Buffer.alloc(0), true);
    const out: http.OutgoingHttpHeaders = Object.create(null);
    for (const [k, v] of ctx.response.headers) if (!HOP_BY_HOP.has(k) || k === 'content-length') out[k] = v.length === 1 ? headerBytes(v[0]) : v.map(headerBytes);
    out.server = `kong/${KONG_VERSION}`;
    let body = ctx.response.body ?? Buffer.alloc(0);
    const status = ctx.response.status;
    if (status === 204 || status === 304) {
      // nginx's header filter: no body, no Content-Length (and no Content-Type for 204)
      delete out['content-length'];
      if (status === 204) delete out['content-type'];
      body = Buffer.alloc(0);
    } else if (out['content-length'] === undefined) {
      out['content-length'] = String(body.length);
    }
    ctx.bytesSent = body.length;
    res.writeHead(status, out);
    return new Promise((resolve) => res.end(body, () => resolve()));
  }

  /** plugin.lua build_phases: the log phase runs in a timer with the request's saved data. */
  private runLogPhase(ctx: RequestContext, plugins: Collected[]): void {
    if (!plugins.length) return;
    const run = (async () => {
      await new Promise((r) => setImmediate(r));
      ctx.phase = 'log';
      ctx.saved = {
        serialize: serializeJson(ctx),
        requestHeaders: new Map(ctx.request.headers),
        responseHeaders: new Map(ctx.response.headers),
        status: ctx.response.status,
      };
      for (const c of plugins) {
        try {
          await c.plugin.handleEvent(c.entity, c.config, ctx, 'log');
        } catch (err) {
          this.log('err', c.plugin.name, (err as Error).message);
        }
      }
    })();
    this.pendingLogs.add(run);
    void run.finally(() => this.pendingLogs.delete(run));
  }
}

function joinPath(base: string, rest: string): string {
  if (!rest) return base;
  return base.replace(/\/$/, '') + (rest.startsWith('/') ? rest : '/' + rest);
}

function readBody(stream: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function sendKongBody(res: http.ServerResponse, r: KongBody): void {
  const out: http.OutgoingHttpHeaders = { server: `kong/${KONG_VERSION}` };
  for (const [k, v] of r.headers) out[k] = v.length === 1 ? v[0] : v;
  res.writeHead(r.status, out);
  res.end(r.body);
}
