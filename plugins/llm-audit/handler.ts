/**
 * llm-audit's Kong adapter: log phase only, one PDK call per request.
 *
 *   kong.log.serialize()   (1)  the request as Kong logs it, which already carries what
 *                               the suite published: the post-function's Lua copies
 *                               llm_auth, llm_guard, llm_rate_limit.log and
 *                               llm-response-guard's answer_check into it
 *                               (llm.identity, llm.request, llm.rate_limit,
 *                               llm.response) and the usage-capture Lua adds llm.usage
 *   kong.node.get_id()          once per process (runtime.ts)
 *
 * Then, in this process and without waiting on anything: the record (core/record.ts:
 * every header and query value redacted by name and by the secret detectors), its
 * link in the hash chain, one line enqueued per sink (each sink's queue batches,
 * retries, spills to disk and replays; the log phase never waits on a sink), metrics.
 *
 * A log phase cannot answer the client, so a broken config is logged once and its
 * records are not written (the error says why); nothing here throws into Kong.
 */
import { flushDeferredLogs } from '../shared/deferred-log';
import { configureInstance, InvalidConfigReport, type Broken } from '../shared/plugin-instance';
import type { KongPdk } from '../shared/pdk';
import { compilePriceTable } from '../shared/pricing';
import { compileRedactionPolicy } from '../shared/redaction';
import { safeError } from '../shared/safe-error';
import type { AuditChain } from './core/chain';
import { decodeKey } from './core/keys';
import type { AuditMetrics } from './core/metrics';
import { buildAuditRecord, type AuditInputs, type RecordSettings } from './core/record';
import { compileValueRedactor } from './core/redact';
import { chainFor, chainStateDir, metricsFor, nodeIdOnce, outputFor, type AuditOutput } from './runtime';
import { Schema, type LlmAuditConfig } from './schema';
import { isObj } from '../shared/values';

export const PLUGIN_NAME = 'llm-audit';
/** How often whenWritten looks at the queues. */
const WRITTEN_POLL_MS = 5;
/** Log-phase failures are logged at most this often. */
const ERROR_INTERVAL_MS = 30_000;

/** The record settings of one config (also what bench/audit.ts measures with). */
export function recordSettings(config: LlmAuditConfig): RecordSettings {
  return {
    redactor: compileValueRedactor(compileRedactionPolicy({}), config.redact_header_names),
    prices: compilePriceTable(config.prices, { default_price: config.default_price }),
    max_value_bytes: config.max_value_bytes,
    headers: config.headers,
    // prompt and answer texts are not in what the log phase can read: never captured here
    capture_prompt: false,
    capture_answer: false,
    capture_max_bytes: 0,
  };
}

type Ready = { ok: true; settings: RecordSettings; chain: AuditChain; outputs: AuditOutput[]; metrics: AuditMetrics | null };

export class LlmAuditHandler {
  private readonly state: Ready | Broken;
  private readonly invalid = new InvalidConfigReport();
  private lastError = -Infinity;

  constructor(raw: unknown) {
    this.state = configureInstance<LlmAuditConfig, Ready>(PLUGIN_NAME, Schema, raw, (config) => ({
      ok: true,
      settings: recordSettings(config),
      chain: chainFor(config.signing_key_id, decodeKey(config.signing_key), chainStateDir(config)),
      outputs: config.sinks.map((s, i) => outputFor(s, config, `sinks[${i}]`)),
      metrics: config.metrics ? metricsFor(config) : null,
    }));
  }

  /** Whether this config can write records (a broken one writes none). */
  get ready(): boolean {
    return this.state.ok;
  }

  /**
   * Builds, seals and ships the record of one request: the log phase's work, which
   * llm-gateway's ingest runs too. Never waits on a sink. Throws only on a bug.
   */
  record(inputs: AuditInputs): void {
    if (!this.state.ok) return;
    const { settings, chain, outputs, metrics } = this.state;
    const record = buildAuditRecord(inputs, settings);
    const line = JSON.stringify(chain.seal(record));
    for (const o of outputs) o.queue.enqueue(line);
    metrics?.observe(record);
  }

  /**
   * Resolves true once every record handed to `record` so far is safe from this
   * process's end: written by its sinks, in their disk buffers, or counted dropped
   * (a send still in flight does not count; each queue is first in, first out). False if `timeoutMs` passed first. llm-gateway's
   * ingest answers a batch only then, so a crash of the plugin server after the
   * answer loses nothing Kong's queue no longer holds.
   */
  async whenWritten(timeoutMs: number): Promise<boolean> {
    if (!this.state.ok) return true;
    const { outputs } = this.state;
    const targets = outputs.map((o) => o.queue.counters().queued);
    for (const o of outputs) o.queue.flush();
    const left = (o: AuditOutput, i: number) => o.queue.finished() < targets[i];
    const deadline = Date.now() + timeoutMs;
    while (outputs.some(left)) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, WRITTEN_POLL_MS));
    }
    return true;
  }

  async log(kong: KongPdk): Promise<void> {
    if (!this.state.ok) {
      await this.invalid.once(kong, PLUGIN_NAME, this.state).catch(() => undefined);
      return;
    }
    try {
      // a sink's drops or errors since the last record (no call when there are none)
      await flushDeferredLogs(kong);
      const raw = await kong.log.serialize();
      const serialized: unknown = typeof raw === 'string' ? JSON.parse(raw) : raw;
      const node_id = await nodeIdOnce(() => kong.node.getId());
      this.record(auditInputsOf(serialized, node_id));
    } catch (err) {
      const now = Date.now();
      if (now - this.lastError < ERROR_INTERVAL_MS) return;
      this.lastError = now;
      await kong.log.err(JSON.stringify({ plugin: PLUGIN_NAME, event: 'record_failed', ...safeError(err) })).catch(() => undefined);
    }
  }
}

/**
 * The record's inputs from what kong.log.serialize() returns: the request as Kong
 * logs it, and the `llm.*` values the post-function Lua copied into it.
 */
export function auditInputsOf(serialized: unknown, node_id: unknown): AuditInputs {
  const llm = isObj(serialized) && isObj(serialized.llm) ? serialized.llm : {};
  // llm.response exists only where llm-response-guard scanned the answer: elsewhere
  // response_findings stays null (not checked), not {} (checked, nothing found).
  // Its `blocked` has no field of its own in the record: a withheld answer is the
  // gateway's 502 there (response.status, source, error_type).
  const response = isObj(llm.response) ? llm.response : {};
  return {
    serialized,
    node_id,
    identity: llm.identity,
    request_facts: llm.request,
    rate_limit: llm.rate_limit,
    usage: llm.usage,
    response_findings: response.findings,
  };
}
