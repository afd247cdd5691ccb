/**
 * What llm-audit keeps for the whole plugin-server process, not per instance: Kong
 * starts one instance per nginx worker and per config, and drops instances without a
 * close hook, so anything holding a file, a socket or a sequence lives here, made once:
 * - one hash chain per signing key (records of every route and worker in one sequence;
 *   "per node", since Kong runs one plugin server per node), its state saved beside the
 *   disk buffers (chain-store.ts) so the next process's chain links back to it;
 * - one delivery queue per sink destination (two routes naming the same file share its
 *   writer: two writers would corrupt its rotation), each with its disk buffer;
 * - one Prometheus registry and its /metrics server;
 * - Kong's node id, read once.
 * On SIGTERM (plugins/shared/shutdown.ts) every queue is flushed within the deadline
 * and every chain's state written.
 * Drops and sink errors reach Kong's error log with the next record (deferred-log.ts),
 * at most once per interval per sink with the counts in between; no record content,
 * no credential.
 */
import { kongPrefix } from '../shared/kong-prefix';
import crypto = require('crypto');
import os = require('os');
import path = require('path');
import { logOutsideRequest } from '../shared/deferred-log';
import { configFingerprint } from '../shared/per-config';
import { onShutdown } from '../shared/shutdown';
import { PersistentChain, stateFile } from './chain-store';
import type { AuditChain } from './core/chain';
import { DELIVERY_DEFAULTS, DeliveryQueue, type DeliveryCounters, type DropReason } from './core/delivery/queue';
import { AuditMetrics } from './core/metrics';
import { startMetricsServer, type MetricsServer } from './core/metrics-server';
import type { LlmAuditConfig, SinkConfig } from './schema';
import { AuditConfigError, createSink } from './sinks';

const PLUGIN = 'llm-audit';
/** Least time between two log lines about one sink's drops or errors. */
const REPORT_INTERVAL_MS = 10_000;
/** How often the sinks' counters reach the metrics. */
const SINK_METRICS_INTERVAL_MS = 5_000;
const SPILL_SEGMENT_BYTES = 8 << 20;
/** CloudWatch counts 26 bytes per event on top of the record: keep a batch under its 1 MiB call. */
const CLOUDWATCH_BATCH_BYTES = 900 << 10;

const logLine = (level: 'error' | 'warn' | 'notice', event: string, fields: Record<string, unknown>): void => logOutsideRequest(PLUGIN, level, event, fields);

export interface AuditOutput {
  name: string;
  queue: DeliveryQueue;
  /** Digest of the destination and of the whole sink config it was made from. */
  dest: string;
  settings: string;
}

class Reporter {
  private last = -Infinity;
  private dropped = new Map<DropReason, number>();
  private errors = 0;

  constructor(private readonly sink: string) {}

  drop(n: number, reason: DropReason): void {
    this.dropped.set(reason, (this.dropped.get(reason) ?? 0) + n);
    this.flush('error');
  }

  error(message: string): void {
    this.errors++;
    this.flush('warn', message);
  }

  private flush(level: 'error' | 'warn', message?: string): void {
    const now = Date.now();
    if (now - this.last < REPORT_INTERVAL_MS) return;
    this.last = now;
    const dropped = Object.fromEntries(this.dropped);
    logLine(level, this.dropped.size > 0 ? 'records_dropped' : 'sink_error', { sink: this.sink, dropped, errors: this.errors, last_error: message });
    this.dropped.clear();
    this.errors = 0;
  }
}

const chains = new Map<string, PersistentChain>();
const outputs = new Map<string, AuditOutput>();
let metrics: AuditMetrics | null = null;
let metricsServer: Promise<MetricsServer> | null = null;
let sinkTimer: NodeJS.Timeout | null = null;
let nodeId: Promise<string | null> | null = null;

onShutdown(async (deadlineMs) => {
  const all = [...outputs.values()];
  // the chain states first: a few small local writes, and they are what the next
  // process links to (records sealed while the queues drain are explained as after it)
  await Promise.allSettled([...chains.values()].map((c) => c.flush()));
  await Promise.allSettled(all.map((o) => o.queue.close(Math.max(0, deadlineMs - 250))));
  for (const o of all) metrics?.observeSink(o.name, o.queue.counters());
  // again for records sealed while the queues drained (a no-op when there were none)
  await Promise.allSettled([...chains.values()].map((c) => c.flush()));
});

/**
 * Where chain states are saved: the parent of the disk-buffer directory (by default
 * `llm-audit/` in the Kong prefix, beside audit.jsonl), so a deployment that keeps its
 * disk buffers on a persistent volume keeps the chain states there too.
 */
export function chainStateDir(config: Pick<LlmAuditConfig, 'spill_dir'>): string {
  return path.dirname(path.resolve(config.spill_dir ?? defaultSpillDir()));
}

/**
 * The chain of this signing key (one per process and key), made on first use: it links
 * to the state the previous process saved in `stateDir` (a state we cannot use is
 * logged and the chain starts unlinked).
 */
export function chainFor(keyId: string, key: Buffer, stateDir: string): AuditChain {
  const id = `${keyId}\0${crypto.createHash('sha256').update(key).digest('hex')}`;
  let pc = chains.get(id);
  if (!pc) {
    const file = stateFile(stateDir, keyId, key);
    let lastError = -Infinity;
    pc = new PersistentChain(file, key, keyId, {
      error: (code) => {
        const now = Date.now();
        if (now - lastError < REPORT_INTERVAL_MS) return;
        lastError = now;
        logLine('warn', 'chain_state_unwritable', { key_id: keyId, dir: stateDir, error: code });
      },
      superseded: (successor) => logLine('notice', 'chain_state_superseded', { key_id: keyId, successor }),
    });
    const prev = pc.chain.previous();
    if (pc.loaded && !pc.loaded.ok) logLine('warn', 'chain_state_unusable', { key_id: keyId, file, reason: pc.loaded.reason, note: 'this chain starts without a link to the previous one' });
    logLine('notice', 'chain_started', { key_id: keyId, chain_id: pc.chain.state().chain_id, prev_chain: prev ? { chain_id: prev.chain_id, last_seq: prev.last_seq } : null });
    chains.set(id, pc);
  }
  return pc.chain;
}

/**
 * The folder in the Kong prefix that holds this process's default audit file, disk
 * buffers and chain states: `llm-audit`, or the hosting plugin's own (llm-gateway
 * writes its records from another plugin server: two processes must never append to
 * one file or save one chain state).
 */
let home = 'llm-audit';

/** Sets the folder of this process's defaults (before the first config is read). */
export function setAuditHome(name: string): void {
  home = name;
}

/** The default disk buffer directory: in the Kong prefix, else the temp directory. */
export function defaultSpillDir(): string {
  return path.join(kongPrefix() ?? os.tmpdir(), home, 'spill');
}

/** What makes two sink configs the same destination (settings such as timeouts or
 * a rotated credential do not: a reload keeps the destination's queue and disk buffer). */
function destination(s: SinkConfig): unknown {
  switch (s.type) {
    case 'file':
      return path.resolve(s.path ?? defaultFilePath());
    case 'http':
      return [s.url, s.preset, s.index];
    case 'cloudwatch':
      return [s.region, s.log_group, s.log_stream, s.endpoint];
    case 'azure_monitor':
      return [s.endpoint, s.rule_id, s.stream];
    default:
      return 'stdout';
  }
}

/** A stable name for sink `s`: its own `name`, else its type and a digest of its destination. */
export function sinkName(s: SinkConfig): string {
  return s.name ?? `${s.type}-${configFingerprint('llm-audit-sink', { type: s.type, to: destination(s) }).slice(0, 8)}`;
}

/** Where the default file sink writes: in the Kong prefix, beside Kong's own logs. */
export function defaultFilePath(): string {
  return path.join(kongPrefix() ?? os.tmpdir(), home, 'audit.jsonl');
}

/**
 * The queue of sink `s`, made on first use: one per destination and one per disk-buffer
 * directory (two queues on one directory would lose and duplicate records). A second
 * config naming the same destination (a route and its service, a reload) shares the
 * first one's queue; settings that differ take effect after a restart, and it is logged.
 */
export function outputFor(s: SinkConfig, config: LlmAuditConfig, where: string): AuditOutput {
  const name = sinkName(s);
  const spillDir = s.type === 'stdout' ? null : path.resolve(config.spill_dir ?? defaultSpillDir(), name);
  const id = s.type === 'stdout' ? 'stdout' : `spill\0${spillDir}`;
  const dest = configFingerprint('llm-audit-dest', { type: s.type, to: destination(s) });
  const existing = outputs.get(id);
  if (existing) {
    if (existing.dest !== dest) throw new AuditConfigError(`${where}: the sink name ${name} is already used for another destination; give each sink its own name`);
    if (existing.settings !== configFingerprint('llm-audit-sink', s)) logLine('warn', 'sink_settings_pending', { sink: name, note: 'another config of this destination is in use; its settings apply after a restart' });
    return existing;
  }
  const sink = createSink(s.type === 'file' && !s.path ? { ...s, path: defaultFilePath() } : s, name, where, null);
  const reporter = new Reporter(name);
  // stdout cannot stay down; the rest keep what they cannot deliver on disk
  const spill = spillDir === null ? null : { dir: spillDir, max_bytes: config.spill_max_bytes, segment_bytes: SPILL_SEGMENT_BYTES };
  const queue = new DeliveryQueue(sink, {
    ...DELIVERY_DEFAULTS,
    batch_max_records: config.batch_max_records,
    batch_max_wait_ms: config.batch_max_wait_ms,
    batch_max_bytes: s.type === 'cloudwatch' ? CLOUDWATCH_BATCH_BYTES : DELIVERY_DEFAULTS.batch_max_bytes,
    send_timeout_ms: Math.max(DELIVERY_DEFAULTS.send_timeout_ms, (s.timeout_ms ?? 10000) * 2),
    spill,
    on_drop: (n, reason) => reporter.drop(n, reason),
    on_error: (message) => reporter.error(message),
  });
  const output = { name, queue, dest, settings: configFingerprint('llm-audit-sink', s) };
  outputs.set(id, output);
  return output;
}

/** The process's metrics, and its /metrics server (started once; a failure is logged, the audit goes on). */
export function metricsFor(config: LlmAuditConfig): AuditMetrics {
  if (!metrics) {
    metrics = new AuditMetrics({ top_consumers: config.metrics_top_consumers, top_tenants: config.metrics_top_tenants });
    const m = metrics;
    sinkTimer = setInterval(() => {
      for (const o of outputs.values()) m.observeSink(o.name, o.queue.counters());
    }, SINK_METRICS_INTERVAL_MS);
    sinkTimer.unref();
  }
  if (!metricsServer) {
    const started = startMetricsServer(metrics, { host: config.metrics_host, port: config.metrics_port });
    metricsServer = started;
    started.then(
      (s) => logLine('notice', 'metrics_listening', { host: s.host, port: s.port }),
      (err: unknown) => {
        metricsServer = null; // a later instance tries again
        logLine('error', 'metrics_unavailable', { host: config.metrics_host, port: config.metrics_port, error: err instanceof Error ? `${err.name}: ${(err as NodeJS.ErrnoException).code ?? ''}` : 'error' });
      },
    );
  }
  return metrics;
}

/** Kong's node id, read once per process (`get`: the one PDK call, the first time). */
export function nodeIdOnce(get: () => Promise<string>): Promise<string | null> {
  nodeId ??= get().then(
    (id) => (typeof id === 'string' && id !== '' ? id : null),
    () => {
      nodeId = null; // try again with the next record
      return null;
    },
  );
  return nodeId;
}

/** Every output's counters, for tests and the README's figures. */
export function outputCounters(): Record<string, DeliveryCounters> {
  return Object.fromEntries([...outputs.values()].map((o) => [o.name, o.queue.counters()]));
}
