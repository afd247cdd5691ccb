/**
 * The plugin server's socket side: Kong's MessagePack RPC
 * (kong/runloop/plugin_servers/rpc/mp_rpc.lua) in front of kong-pdk's Server.
 *
 * It replaces kong-pdk's Listener (listener.js), which a single request could kill:
 * its `data` handler decodes with @msgpack/msgpack, which throws on a "__proto__"
 * map key, and nothing catches it, so Node exits (reproduced on Kong 3.10 with
 * `GET /v1/models?__proto__=x`). A client socket error had no handler either. Here:
 * - every value decodes as Kong sent it (msgpack-decode.ts: "__proto__" is a plain key);
 * - malformed input, an unknown method or a failing encode ends only that connection
 *   or that call, is logged at most once per LOG_INTERVAL_MS (with a count), and
 *   never exits the process;
 * - only the RPC methods Kong calls are dispatched (no SetPluginDir: a path from the
 *   socket must not choose code to load);
 * - the listen backlog is as large as the kernel allows. Kong runs every JS log
 *   phase in its own timer, each opening a connection; with Node's default backlog
 *   (511) a burst overflowed the accept queue, connect() failed with EAGAIN and Kong
 *   dropped those events without retrying (0.57% of log events at 64 connections,
 *   measured on Kong 3.10; none lost with 4096).
 */
import fs = require('fs');
import net = require('net');
import { Encoder } from '@msgpack/msgpack';
import { logLine } from './log-line';
import { MsgpackStream, type Decoded } from './msgpack-decode';

/** RPC methods Kong 3.x calls on a plugin server (mp_rpc.lua, plugin.lua), plus status. */
export const RPC_METHODS: ReadonlySet<string> = new Set([
  'GetStatus',
  'GetPluginInfo',
  'StartInstance',
  'InstanceStatus',
  'CloseInstance',
  'HandleEvent',
  'Step',
  'StepError',
  'StepMultiMap',
  'StepService',
  'StepConsumer',
  'StepRoute',
  'StepPlugin',
  'StepCredential',
  'StepMemoryStats',
]);

const REQUEST = 0;
const RESPONSE = 1;
/** Fallback when /proc/sys/net/core/somaxconn cannot be read (Linux's default since 5.4). */
const DEFAULT_BACKLOG = 4096;
const SOMAXCONN_PATH = '/proc/sys/net/core/somaxconn';
/**
 * The largest RPC message accepted. Request bodies are at most kong.env's 2 MiB
 * buffer, but a response-phase plugin receives the whole upstream answer, whatever
 * its size: past this the connection is dropped and Kong skips the plugin for that
 * answer, so it sits far above llm-response-guard's max_answer_bytes (64 MiB at
 * most), whose own 502 then answers instead.
 */
const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;
const LOG_INTERVAL_MS = 10_000;

export type RpcServer = Record<string, unknown>;

/** The largest accept queue the kernel grants (the kernel caps listen()'s backlog at it). */
export function listenBacklog(readFile: (p: string) => string = (p) => fs.readFileSync(p, 'utf8')): number {
  try {
    const n = Number.parseInt(readFile(SOMAXCONN_PATH).trim(), 10);
    return Number.isSafeInteger(n) && n > 0 ? n : DEFAULT_BACKLOG;
  } catch {
    return DEFAULT_BACKLOG;
  }
}

/** Logs an event at most once per interval, with how many were folded into it. */
export class ThrottledLog {
  private last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly write: (line: string) => void,
    private readonly intervalMs = LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  event(event: string, fields: Record<string, unknown>): void {
    const t = this.now();
    const seen = this.last.get(event);
    if (seen && t - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    this.last.set(event, { at: t, suppressed: 0 });
    this.write(logLine('error', event, { ...fields, ...(seen?.suppressed ? { suppressed_since_last: seen.suppressed } : {}) }));
  }
}

/** Error text for the RPC answer: messages only, never a stack or a value. */
function errorText(err: unknown): string {
  if (typeof err === 'string') return err;
  if (err instanceof Error) return err.message;
  return 'plugin server error';
}

export class PluginRpcListener {
  private readonly encoder = new Encoder();
  private readonly log: ThrottledLog;

  constructor(private readonly server: RpcServer, write: (line: string) => void = (l) => process.stdout.write(l + '\n')) {
    this.log = new ThrottledLog(write);
  }

  /** Listens on the unix socket path (replacing a stale socket file). */
  listen(socketPath: string, backlog = listenBacklog()): Promise<net.Server> {
    try {
      fs.unlinkSync(socketPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const srv = net.createServer((client) => this.serve(client));
    return new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen({ path: socketPath, backlog }, () => {
        srv.off('error', reject);
        // an accept error (EMFILE) is the listener's, not a reason to exit
        srv.on('error', (err) => this.log.event('rpc_listener_error', { error: errorText(err) }));
        resolve(srv);
      });
    });
  }

  private serve(client: net.Socket): void {
    const stream = new MsgpackStream(MAX_MESSAGE_BYTES);
    // Kong closing its end mid-answer (EPIPE, ECONNRESET) is routine, not fatal
    client.on('error', () => client.destroy());
    client.on('data', (chunk: Buffer) => {
      let messages: Decoded[];
      try {
        messages = stream.push(chunk);
      } catch (err) {
        this.log.event('rpc_decode_error', { error: errorText(err) });
        client.destroy();
        return;
      }
      for (const message of messages) this.dispatch(client, message);
    });
  }

  private dispatch(client: net.Socket, message: Decoded): void {
    if (!Array.isArray(message) || message[0] !== REQUEST || typeof message[1] !== 'number') {
      // not a request we can answer: without a msgid the connection is out of step
      this.log.event('rpc_bad_message', { error: 'not a [0, msgid, method, args] request' });
      client.destroy();
      return;
    }
    const [, msgid, method, args] = message;
    const cmd = typeof method === 'string' && method.startsWith('plugin.') ? method.slice('plugin.'.length) : null;
    const fn = cmd !== null && RPC_METHODS.has(cmd) ? this.server[cmd] : undefined;
    if (typeof fn !== 'function') {
      this.log.event('rpc_unknown_method', { method: typeof method === 'string' ? method.slice(0, 64) : typeof method });
      this.reply(client, msgid, `method ${typeof method === 'string' ? method.slice(0, 64) : '?'} not implemented`, undefined);
      return;
    }
    let pending: Promise<unknown>;
    try {
      pending = Promise.resolve((fn as (...a: unknown[]) => unknown).apply(this.server, Array.isArray(args) ? args : [args]));
    } catch (err) {
      pending = Promise.reject(err);
    }
    pending.then(
      (result) => this.reply(client, msgid, undefined, result),
      (err) => this.reply(client, msgid, errorText(err), undefined),
    );
  }

  private reply(client: net.Socket, msgid: number, error: string | undefined, result: unknown): void {
    if (client.destroyed) return;
    let bytes: Uint8Array;
    try {
      bytes = this.encoder.encode([RESPONSE, msgid, error, result]);
    } catch (err) {
      this.log.event('rpc_encode_error', { error: errorText(err) });
      bytes = this.encoder.encode([RESPONSE, msgid, 'plugin server could not encode its answer', undefined]);
    }
    client.write(bytes);
  }
}
