/**
 * The ingest endpoint: where llm-gateway's log-phase work happens, in the plugin
 * server, for batches of compact records that kong/lua/gateway-log.lua queued with
 * Kong's own `kong.tools.queue` (one POST per batch instead of one JS log event per
 * request, which would cost Kong a serialize, a context clone and a timer each).
 *
 *   POST /v1/records on the unix socket <kong prefix>/llm-gateway-ingest.sock,
 *   body: a JSON array of compact records (contract.ts CompactRecord)
 *
 * For each record, with the settings of the llm-gateway entity it belongs to (the
 * decision's plugin_id; for a refusal, what the refusing process remembered; else the
 * entity on its route or service):
 *   - llm-rate-limit's `settle` (token and USD reconciliation), as its log phase;
 *   - llm-audit's `record` (redaction, hash chain, sinks with their no-loss queues,
 *     metrics), as its log phase.
 *
 * Answers:
 *   200  every record was handled (or was a duplicate: Kong's queue retries a batch
 *        whose answer it did not get, so records are deduplicated by request id), and
 *        its audit records have left memory (written by the sinks, or in their disk
 *        buffers): a crash after the answer loses none, a crash before it means Kong
 *        sends the batch again (at least once; a record may then be written twice)
 *   503  some record belongs to an entity this process has not started yet (it was
 *        just restarted: Kong starts instances at their route's next request). The
 *        others are handled and remembered; Kong's queue retries the batch with
 *        backoff (INGEST_QUEUE.max_retry_time, an hour), and the retry handles the
 *        rest. Only while no entity is known, or for DEFER_WINDOW_MS after the
 *        process started: past that, an unknown entity's record is logged and left
 *        (retrying would hold every later record behind it in Kong's queue).
 *   400  not a JSON array: retrying cannot help, the Lua drops it with an error log.
 */
import fs = require('fs');
import http = require('http');
import path = require('path');
import { auditInputsOf, type LlmAuditHandler } from '../llm-audit/handler';
import { logOutsideRequest } from '../shared/deferred-log';
import { kongPrefix } from '../shared/kong-prefix';
import { onShutdown } from '../shared/shutdown';
import { safeError } from '../shared/safe-error';
import { isObj, textOrNull } from '../shared/values';
import { INGEST_PATH, INGEST_SOCKET, type CompactRecord } from './contract';
import { gatewayById, gatewayByPlace, gatewaysKnown, rememberRefusal, takeRefusal, type GatewayEntity } from './instances';
import { serializedOf, sharedOf } from './record';

const PLUGIN = 'llm-gateway';
/** A batch is at most INGEST_QUEUE.max_batch_size records of a few KiB; anything far past that is refused. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** Request ids remembered for deduplication (a retried batch arrives within minutes). */
const MAX_SEEN = 200_000;
/**
 * How long after this process started a record of an entity it does not know is
 * answered 503 (Kong retries it) rather than left: after a restart, the entity is
 * known again at its route's next request.
 */
const DEFER_WINDOW_MS = 10 * 60_000;
const processStartedAt = Date.now();
/** Records handled between two turns of the event loop (access events of this plugin server wait meanwhile). */
const YIELD_EVERY = 16;
/** How long a batch's answer waits for its records to be written or on disk. */
const WRITTEN_TIMEOUT_MS = 5000;
/** Settlement failures and slow sinks are logged at most this often (an outage fails every batch). */
const ERROR_INTERVAL_MS = 30_000;

export interface IngestStats {
  batches: number;
  records: number;
  duplicates: number;
  /** Records answered 503 (their entity not started yet): Kong retries them. */
  deferred: number;
  /** Records no entity could be found for, though entities are known: written nowhere, logged. */
  unattributed: number;
  settle_failures: number;
}

export const ingestStats: IngestStats = { batches: 0, records: 0, duplicates: 0, deferred: 0, unattributed: 0, settle_failures: 0 };

const seen = new Set<string>();
let lastSettleError = -Infinity;
let lastSlowSink = -Infinity;

function markSeen(id: string): void {
  seen.add(id);
  if (seen.size > MAX_SEEN) seen.delete(seen.values().next().value!);
}


type Outcome = 'handled' | 'duplicate' | 'deferred' | 'unattributed';

/** Handles one record; never throws (a bad record must not hold back the batch). */
async function handleRecord(raw: unknown, written: Set<LlmAuditHandler>): Promise<Outcome> {
  if (!isObj(raw)) return 'unattributed';
  const r = raw as unknown as CompactRecord;
  const requestId = textOrNull(r.request_id);
  if (requestId !== null && seen.has(requestId)) return 'duplicate';
  // taken now, before the first await: a batch Kong sent again while this one is still
  // being handled (its answer timed out) must not settle the same request twice
  if (requestId !== null) markSeen(requestId);

  const refusal = requestId !== null && textOrNull(r.plugin_id) === null ? takeRefusal(requestId) : undefined;
  const pluginId = textOrNull(r.plugin_id) ?? refusal?.pluginId ?? null;
  // by id; else the entity on the record's route or service (a refusal this process
  // does not remember, or an id a config change replaced)
  const entity: GatewayEntity | undefined =
    (pluginId !== null ? gatewayById(pluginId) : undefined) ?? gatewayByPlace(textOrNull(isObj(r.route) ? r.route.id : null), textOrNull(isObj(r.service) ? r.service.id : null));
  if (entity === undefined) {
    // not started here yet: this process is new (Kong starts an instance at its route's
    // next request), so Kong's queue retries. Past the window, waiting would hold every
    // later record behind this one in Kong's queue: it is logged and left.
    if (gatewaysKnown() === 0 || Date.now() - processStartedAt < DEFER_WINDOW_MS) {
      if (requestId !== null) {
        seen.delete(requestId); // handled when Kong sends it again
        if (refusal !== undefined) rememberRefusal(requestId, refusal);
      }
      return 'deferred';
    }
    return 'unattributed';
  }

  const shared = sharedOf(r, refusal?.shared);
  if (entity.rateLimit?.settles) {
    try {
      await entity.rateLimit.settle(shared.llm_rate_limit, async () => shared.llm_usage);
    } catch (err) {
      ingestStats.settle_failures++;
      const now = Date.now();
      if (now - lastSettleError >= ERROR_INTERVAL_MS) {
        lastSettleError = now;
        logOutsideRequest(PLUGIN, 'error', 'settle_failed', safeError(err));
      }
    }
  }
  if (entity.audit) {
    try {
      entity.audit.record(auditInputsOf(serializedOf(r, shared), r.node_id));
      written.add(entity.audit);
    } catch (err) {
      logOutsideRequest(PLUGIN, 'error', 'record_failed', safeError(err));
    }
  }
  return 'handled';
}

/** Handles one batch: the HTTP status to answer and what happened to its records. */
export async function ingestBatch(body: string): Promise<{ status: number; counts: Record<Outcome, number> }> {
  const counts: Record<Outcome, number> = { handled: 0, duplicate: 0, deferred: 0, unattributed: 0 };
  let records: unknown;
  try {
    records = JSON.parse(body);
  } catch {
    return { status: 400, counts };
  }
  if (!Array.isArray(records)) return { status: 400, counts };
  ingestStats.batches++;
  // in order: the audit chain links records as they come
  const written = new Set<LlmAuditHandler>();
  for (const [i, r] of records.entries()) {
    counts[await handleRecord(r, written)]++;
    // let access events in between: a batch is up to max_batch_size records on the loop that answers Kong
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
  }
  // answered once the records are out of memory (written or on disk): Kong's queue
  // then forgets them, and a crash of this process after the answer loses none
  const durable = await Promise.all([...written].map((a) => a.whenWritten(WRITTEN_TIMEOUT_MS)));
  if (durable.includes(false) && Date.now() - lastSlowSink >= ERROR_INTERVAL_MS) {
    lastSlowSink = Date.now();
    logOutsideRequest(PLUGIN, 'warn', 'records_not_yet_written', { note: 'a sink is slow: batches are answered with records still in memory' });
  }
  ingestStats.records += counts.handled;
  ingestStats.duplicates += counts.duplicate;
  ingestStats.deferred += counts.deferred;
  ingestStats.unattributed += counts.unattributed;
  if (counts.unattributed > 0) logOutsideRequest(PLUGIN, 'error', 'records_unattributed', { count: counts.unattributed });
  return { status: counts.deferred > 0 ? 503 : 200, counts };
}

let server: http.Server | null = null;

/** The socket path: in the Kong prefix, where gateway-log.lua looks for it. */
export function ingestSocketPath(): string | null {
  const prefix = kongPrefix();
  return prefix === null ? null : path.join(prefix, INGEST_SOCKET);
}

/**
 * Starts the endpoint once per process: when the plugin server starts (index.ts), so
 * records queued before a restart are taken (and answered 503 until their entity is
 * started again) rather than refused at connect.
 */
export function startIngest(): void {
  if (server !== null) return;
  const socket = ingestSocketPath();
  if (socket === null) {
    logOutsideRequest(PLUGIN, 'error', 'ingest_not_started', { reason: 'the plugin server was started without --kong-prefix' });
    return;
  }
  server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== INGEST_PATH) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        res.writeHead(413).end();
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES) return;
      ingestBatch(Buffer.concat(chunks).toString('utf8')).then(
        ({ status, counts }) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(counts)),
        (err) => {
          logOutsideRequest(PLUGIN, 'error', 'ingest_failed', safeError(err));
          res.writeHead(503).end();
        },
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  // a socket file left by a process that died: nothing listens on it any more
  try {
    fs.unlinkSync(socket);
  } catch {
    /* none */
  }
  server.on('error', (err) => logOutsideRequest(PLUGIN, 'error', 'ingest_listen_failed', safeError(err)));
  // only the Kong workers' user may write records: they settle limits and are sealed
  // into the audit chain (the plugin server runs as that user: Kong spawns it)
  server.listen(socket, () => {
    try {
      fs.chmodSync(socket, 0o600);
    } catch (err) {
      logOutsideRequest(PLUGIN, 'error', 'ingest_socket_chmod_failed', safeError(err));
    }
  });
  onShutdown(
    () =>
      new Promise<void>((resolve) => {
        // no new batches; Kong's queue keeps what it could not send and retries with the next server
        server?.close(() => resolve());
        server?.closeAllConnections();
      }),
  );
}
