/**
 * What llm-audit keeps for the whole plugin-server process, not per instance: Kong
 * starts one instance per nginx worker and per config, and drops instances without a
 * close hook, so anything holding a file, a socket or a sequence lives here, made once:
 * - one hash chain per signing key (records of every route and worker in one sequence;
 *   "per node", since Kong runs one plugin server per node);
 * - one delivery queue per sink destination (two routes naming the same file share its
 *   writer: two writers would corrupt its rotation), each with its disk buffer;
 * - one Prometheus registry and its /metrics server;
 * - Kong's node id, read once.
 * On SIGTERM (plugins/shared/shutdown.ts) every queue is flushed within the deadline.
 * Drops and sink errors are logged to stderr (Kong's error log), at most once per
 * interval per sink with the counts in between; no record content, no credential.
 */
import crypto = require('crypto');
import os = require('os');
import path = require('path');
import { configFingerprint } from '../shared/per-config';
import { onShutdown } from '../shared/shutdown';
import { AuditChain } from './core/chain';
import { DELIVERY_DEFAULTS, DeliveryQueue, type DeliveryCounters, type DropReason } from './core/delivery/queue';
import { AuditMetrics } from './core/metrics';
import { startMetricsServer, type MetricsServer } from './core/metrics-server';
import type { LlmAuditConfig, SinkConfig } from './schema';
import { createSink } from './sinks';

const PLUGIN = 'llm-audit';
/** Least time between two log lines about one sink's drops or errors. */
const REPORT_INTERVAL_MS = 10_000;
/** How often the sinks' counters reach the metrics. */
const SINK_METRICS_INTERVAL_MS = 5_000;
const SPILL_SEGMENT_BYTES = 8 << 20;
/** CloudWatch counts 26 bytes per event on top of the record: keep a batch under its 1 MiB call. */
const CLOUDWATCH_BATCH_BYTES = 900 << 10;

function logLine(level: 'error' | 'warn' | 'notice', event: string, fields: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ level, plugin: PLUGIN, event, ...fields })}\n`);
}

/** The Kong prefix the plugin server was started with (`--kong-prefix`), if any. */
function kongPrefix(): string | null {
  const at = process.argv.indexOf('--kong-prefix');
  return at >= 0 && process.argv[at + 1] ? process.argv[at + 1] : null;
}

export interface AuditOutput {
  name: string;
  queue: DeliveryQueue;
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

const chains = new Map<string, AuditChain>();
const outputs = new Map<string, AuditOutput>();
let metrics: AuditMetrics | null = null;
let metricsServer: Promise<MetricsServer> | null = null;
let sinkTimer: NodeJS.Timeout | null = null;
let nodeId: Promise<string | null> | null = null;

onShutdown(async (deadlineMs) => {
  const all = [...outputs.values()];
  await Promise.allSettled(all.map((o) => o.queue.close(Math.max(0, deadlineMs - 250))));
  for (const o of all) metrics?.observeSink(o.name, o.queue.counters());
});

/** The chain of this signing key (one per process and key). */
export function chainFor(keyId: string, key: Buffer): AuditChain {
  const id = `${keyId}\0${crypto.createHash('sha256').update(key).digest('hex')}`;
  let chain = chains.get(id);
  if (!chain) {
    chain = new AuditChain({ key, key_id: keyId });
    chains.set(id, chain);
  }
  return chain;
}

/** The default disk buffer directory: in the Kong prefix, else the temp directory. */
export function defaultSpillDir(): string {
  return path.join(kongPrefix() ?? os.tmpdir(), 'llm-audit-spill');
}

/** A stable name for sink `s` (its own `name`, else its type and a digest of its settings). */
export function sinkName(s: SinkConfig): string {
  return s.name ?? `${s.type}-${configFingerprint('llm-audit-sink', s.type === 'file' ? { path: s.path } : s).slice(0, 8)}`;
}

/** The queue of sink `s`, made on first use. A file sink is one per path. */
export function outputFor(s: SinkConfig, config: LlmAuditConfig, where: string): AuditOutput {
  const name = sinkName(s);
  const id = s.type === 'file' ? `file\0${path.resolve(s.path ?? '')}` : configFingerprint('llm-audit-sink', { s, spill: config.spill_dir });
  const existing = outputs.get(id);
  if (existing) return existing;
  const sink = createSink(s, name, where, null);
  const reporter = new Reporter(name);
  // stdout cannot stay down; the rest keep what they cannot deliver on disk
  const spill = s.type === 'stdout' ? null : { dir: path.join(config.spill_dir ?? defaultSpillDir(), name), max_bytes: config.spill_max_bytes, segment_bytes: SPILL_SEGMENT_BYTES };
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
  const output = { name, queue };
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
