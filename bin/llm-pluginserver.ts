#!/usr/bin/env node
/**
 * Our plugin-server start and query command: kong-pdk's own Server and CLI (not a
 * fork) behind our socket listener (rpc-listener.ts: kong-pdk's Listener exits
 * Node on one hostile request and listens with a backlog too small for Kong's log
 * timers), with three more changes Kong operators need (measured on Kong 3.10):
 *
 * 1. No leak. kong-pdk keeps an entry per event until a final Step arrives. A phase
 *    that ends without any PDK call answers "ret" at once, and a phase that ends in
 *    `kong.response.exit` never gets another Step (Kong stops talking after exit):
 *    both entries stayed forever, ~1 KB per request (+80 MB per 100,000 rejections).
 *    `LeakFreeServer` drops the entry as soon as the event is over.
 * 2. No ts-node. See no-ts-node.ts.
 * 3. Visible failures. A handler exception is logged by kong-pdk at info level with
 *    ANSI colours, invisible at Kong's default log level, and the request proceeds.
 *    We print one JSON line and also send it through `kong.log.err`, so it lands in
 *    Kong's error log at error level with the plugin's namespace.
 *
 * Flags are kong-pdk's (`--plugins-directory`, `--kong-prefix`, `--sock-name`,
 * `--dump-all-plugins`, `-v`). `--dump-all-plugins` prints JSON as Kong expects;
 * `--dump-plugin-info NAME` prints JSON too (kong-pdk prints MessagePack there,
 * which Kong cannot decode).
 */
import './no-ts-node';
import crypto = require('crypto');
import path = require('path');
import { logLine, safeError, type Level } from './log-line';
import { PluginRpcListener, type RpcServer } from './rpc-listener';
import { runShutdownHooks } from '../plugins/shared/shutdown';

/* eslint-disable @typescript-eslint/no-require-imports -- kong-pdk ships no types for these */
const cli: { parse(dedicated?: boolean): CliOptions } = require('kong-pdk/cli');
const Server: KongPdkServerClass = require('kong-pdk/server');

interface CliOptions {
  pluginsDirectory: string;
  kongPrefix: string;
  sockName: string;
  verbose: number;
  // kong-pdk declares these flags as "--dump-all-plugins, -dump-all-plugins", which
  // commander names from the single-dash form: hence the capitals.
  DumpAllPlugins?: boolean;
  DumpPluginInfo?: string;
}

interface StepResult {
  Data: unknown;
  EventId: number;
}

interface KongPdkInstance {
  name: string;
  executePhase(phase: string, kong: unknown): Promise<unknown>;
}

interface KongPdkServer {
  events: Map<number, unknown>;
  instanceID: number;
  instances: Map<number, KongPdkInstance>;
  plugins: Map<string, unknown>;
  close(): void;
  getPlugins(): Map<string, unknown>;
  GetPluginInfo(name: string): Promise<unknown>;
  HandleEvent(event: { InstanceId: number; EventName: string }): Promise<StepResult>;
  StartInstance(cfg: { Name: string; Config: string }): Promise<{ Id: number }>;
  step(data: StepResult, isError: boolean): Promise<StepResult>;
}

type KongPdkServerClass = new (dir: string, logger: Logger) => KongPdkServer;

interface Logger {
  debug(...a: unknown[]): void;
  info(...a: unknown[]): void;
  warn(...a: unknown[]): void;
  error(...a: unknown[]): void;
}

/** PDK methods after which Kong sends nothing more for the event (kong-pdk pdk.js). */
const NON_RETURN_METHODS = new Set(['kong.response.exit', 'kong.response.error']);
const MSG_RET = 'ret';
/**
 * Kong also abandons an event when a PDK call raises on its side (no StepError in
 * 3.10) or its socket read times out (60 s by default). Such entries, and the
 * suspended handler holding the request, are dropped after this long without a Step.
 */
const ABANDONED_EVENT_MS = 120_000;
/** Longest a SIGTERM waits for plugins' shutdown hooks before the process exits. */
const SHUTDOWN_MS = 4_000;
const SWEEP_INTERVAL_MS = 30_000;

/** True when Kong will send no further Step for this event. */
export function isFinalStep(data: unknown): boolean {
  if (data === MSG_RET) return true;
  if (data && typeof data === 'object' && 'Method' in data) {
    return NON_RETURN_METHODS.has(String((data as { Method: unknown }).Method));
  }
  return false;
}

function makeLogger(verbose: number): Logger {
  // stderr: Kong merges it into its log for the start command, and the query
  // command's stdout must hold nothing but JSON.
  const write = (level: Level) => (...parts: unknown[]) =>
    process.stderr.write(logLine(level, 'pluginserver', { message: parts.map(String).join(' ') }) + '\n');
  const quiet = () => undefined;
  return {
    // kong-pdk's debug lines dump every RPC's arguments: configs with their secrets,
    // request headers with credentials. They never reach a log, whatever -v says.
    debug: verbose > 1 ? (...parts: unknown[]) => String(parts[0]).startsWith('rpc:') || write('debug')(...parts) : quiet,
    info: verbose > 0 ? write('info') : quiet,
    // kong-pdk's only warn on the hot path is its handler-exception line, which we
    // replace with a structured error line (see wrapInstance); keep the rest.
    warn: (...parts: unknown[]) => {
      if (String(parts[0]).startsWith('unhandled exception in ')) return;
      write('warn')(...parts);
    },
    error: write('error'),
  };
}

export function createServer(pluginsDirectory: string, logger: Logger): KongPdkServer {
  class LeakFreeServer extends Server {
    private readonly openEvents = new Map<number, number>();

    constructor(dir: string, log: Logger) {
      super(dir, log);
      // kong-pdk numbers instances from 0 in every process, and Kong's workers keep
      // the ids they were given, learning of a restart only when an id is unknown.
      // A restarted server that handed out the same ids again would run a stale id
      // under another config's instance (another route's rules); ids from a random
      // start are unknown to the new process, so Kong starts its instances afresh.
      this.instanceID = crypto.randomInt(1, 2 ** 31 - 2 ** 20);
      setInterval(() => this.sweep(), SWEEP_INTERVAL_MS).unref();
    }

    override async HandleEvent(event: { InstanceId: number; EventName: string }): Promise<StepResult> {
      const result = this.settle(await super.HandleEvent(event));
      if (this.events.has(result.EventId)) this.openEvents.set(result.EventId, Date.now());
      return result;
    }

    override async step(data: StepResult, isError: boolean): Promise<StepResult> {
      const result = this.settle(await super.step(data, isError));
      // an event Kong is still driving is never swept: its clock restarts on every step
      if (this.openEvents.has(result.EventId)) this.openEvents.set(result.EventId, Date.now());
      return result;
    }

    override async StartInstance(cfg: { Name: string; Config: string }): Promise<{ Id: number }> {
      try {
        const started = await super.StartInstance(cfg);
        const instance = this.instances.get(started.Id);
        if (instance) wrapInstance(instance, started.Id);
        return started;
      } catch (err) {
        // Kong raises on a failed StartInstance and answers the request with 500.
        process.stdout.write(logLine('error', 'start_instance_failed', { plugin: cfg.Name, ...safeError(err) }) + '\n');
        throw err;
      }
    }

    private settle(result: StepResult): StepResult {
      if (isFinalStep(result.Data)) {
        this.events.delete(result.EventId);
        this.openEvents.delete(result.EventId);
      }
      return result;
    }

    private sweep(): void {
      const cutoff = Date.now() - ABANDONED_EVENT_MS;
      let dropped = 0;
      for (const [eid, started] of this.openEvents) {
        if (started > cutoff) continue;
        this.events.delete(eid);
        this.openEvents.delete(eid);
        dropped++;
      }
      if (dropped) process.stdout.write(logLine('warn', 'abandoned_events_dropped', { count: dropped }) + '\n');
    }
  }
  return new LeakFreeServer(pluginsDirectory, logger);
}

/** Logs an exception escaping a phase handler at error level, then lets kong-pdk go on. */
function wrapInstance(instance: KongPdkInstance, iid: number): void {
  const execute = instance.executePhase.bind(instance);
  instance.executePhase = async (phase: string, kong: unknown) => {
    try {
      return await execute(phase, kong);
    } catch (err) {
      const line = logLine('error', 'handler_exception', { plugin: instance.name, instance: iid, phase, ...safeError(err) });
      process.stdout.write(line + '\n');
      // Not awaited: if the phase already called kong.response.exit, Kong is no
      // longer listening and this call is never answered.
      const pdk = kong as { log?: { err?: (m: string) => Promise<unknown> } };
      void pdk.log?.err?.(line)?.catch?.(() => undefined);
      throw err;
    }
  };
}

async function main(): Promise<void> {
  const opts = cli.parse();
  if (!path.isAbsolute(opts.pluginsDirectory)) {
    process.stderr.write(logLine('error', 'bad_arguments', { message: '--plugins-directory must be an absolute path' }) + '\n');
    process.exit(2);
  }
  const server = createServer(opts.pluginsDirectory, makeLogger(opts.verbose));
  // kong-pdk's instance expiry timer runs every 60 ms; its own binary clears it
  // right away (instances live until Kong closes them), and so do we.
  server.close();

  if (opts.DumpAllPlugins || opts.DumpPluginInfo) {
    const names = opts.DumpPluginInfo ? [opts.DumpPluginInfo] : [...server.getPlugins().keys()];
    const infos = await Promise.all(names.map((n) => server.GetPluginInfo(n)));
    process.stdout.write(JSON.stringify(infos) + '\n');
    return;
  }

  const socketPath = path.join(opts.kongPrefix, opts.sockName);
  await new PluginRpcListener(server as unknown as RpcServer).listen(socketPath);
  process.stdout.write(logLine('info', 'listening', { socket: socketPath, plugins: [...server.getPlugins().keys()] }) + '\n');
  // plugins may have work to finish (llm-audit's queued records): at most SHUTDOWN_MS
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void runShutdownHooks(SHUTDOWN_MS).finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(logLine('error', 'fatal', safeError(err)) + '\n');
    process.exit(1);
  });
}
