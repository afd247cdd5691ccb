/**
 * One plugin server process, managed the way Kong 3.x manages it
 * (kong/runloop/plugin_servers/process.lua): the query command's stdout is decoded as
 * JSON and only the first plugin is kept (Kong 3.9+); the start command runs through
 * `sh -c "exec <cmd>"` with stderr merged into stdout, which Kong logs at INFO; when
 * the process dies it is respawned, never sooner than 1 s after the previous spawn.
 */
import { spawn, execFile, type ChildProcess } from 'child_process';
import fs = require('fs');
import net = require('net');
import { promisify } from 'util';
import type { PluginServerDef } from './kong-settings';
import type { KongFieldList } from './kong-schema';

const execFileP = promisify(execFile);
const RESPAWN_MIN_INTERVAL_MS = 1000;

export interface PluginInfo {
  Name: string;
  Version: string;
  Priority: number;
  Phases: string[];
  Schema: { name: string; fields: Array<{ config: { type: 'record'; fields: KongFieldList } }> };
}

export async function queryPluginInfo(def: PluginServerDef): Promise<PluginInfo> {
  const { stdout } = await execFileP('/bin/sh', ['-c', def.queryCmd], { maxBuffer: 16 * 1024 * 1024 });
  const dump = JSON.parse(stdout) as PluginInfo[] | { Plugins: PluginInfo[] };
  const infos = Array.isArray(dump) ? dump : dump.Plugins;
  if (!Array.isArray(infos) || infos.length === 0) throw new Error(`${def.name}: query returned no plugin`);
  return infos[0]; // Kong 3.9+: `(dump.Plugins or dump)[1]`
}

export class PluginServerProcess {
  private proc: ChildProcess | null = null;
  private stopped = false;
  private lastSpawn = 0;
  private respawnTimer: NodeJS.Timeout | null = null;
  readonly logLines: string[] = [];
  /** Increments on every spawn: the bridge uses it to see that instances are gone. */
  generation = 0;

  constructor(
    readonly def: PluginServerDef,
    private readonly env: Record<string, string> = {},
    private readonly onLog?: (line: string) => void,
  ) {}

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.spawn();
    await this.waitReady();
  }

  private spawn(): void {
    this.lastSpawn = Date.now();
    this.generation += 1;
    const proc = spawn('/bin/sh', ['-c', `exec ${this.def.startCmd} 2>&1`], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...this.env },
    });
    this.proc = proc;
    let partial = '';
    proc.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line) this.log(line);
    });
    proc.on('exit', () => {
      if (partial) this.log(partial);
      if (this.proc === proc) this.proc = null;
      if (this.stopped) return;
      const wait = Math.max(0, this.lastSpawn + RESPAWN_MIN_INTERVAL_MS - Date.now());
      this.respawnTimer = setTimeout(() => this.spawn(), wait);
    });
  }

  private log(line: string): void {
    const entry = `[${this.def.name}:${this.proc?.pid ?? '?'}] ${line}`;
    this.logLines.push(entry);
    if (this.logLines.length > 5000) this.logLines.shift();
    this.onLog?.(entry);
  }

  /** Resolves once the socket accepts connections. */
  async waitReady(timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc && fs.existsSync(this.def.socket) && (await canConnect(this.def.socket))) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`plugin server ${this.def.name} did not come up; log:\n${this.logLines.slice(-20).join('\n')}`);
  }

  /** Kills the process, as a crash would, and resolves once it is gone (it is then respawned). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    return exited;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.respawnTimer) clearTimeout(this.respawnTimer);
    const proc = this.proc;
    if (!proc) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  }
}

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
