/**
 * CloudWatch Logs sink: each record one log event of one log stream, through the AWS
 * SDK v3 client (request signing, the default credential chain, endpoint resolution).
 *
 * PutLogEvents limits (API reference, PutLogEvents), met by splitting a batch into
 * as many calls as needed, sent one after another in timestamp order:
 * - at most 10,000 events and 1,048,576 bytes a call, counting each event's UTF-8
 *   message plus 26 bytes;
 * - events in chronological order, spanning less than 24 hours a call;
 * - an event at most 256 KiB (message plus the 26 bytes, as the CloudWatch agent
 *   counts it); a larger record is cut to a JSON stub that keeps its chain link, its
 *   hash and as much of its text as fits (`oversize: 'truncate'`, the default) or not
 *   sent (`'reject'`), counted either way and reported through `on_notice`;
 * - no event older than 14 days (or the group's retention) nor more than 2 hours in
 *   the future: the event timestamp is the record's `time` (request start), and one
 *   outside that window (a record spilled to disk for weeks, a skewed clock) is stamped
 *   with the time of sending instead (`restamped`); its `time` field is unchanged. The
 *   events the service still rejects are restamped and sent once more; what it rejects
 *   again is counted (`rejected_by_service`), not retried: it would be rejected forever.
 *
 * Delivery: a batch split in several calls is at least once as a whole. When a later
 * call fails, `send` rejects and the queue sends the whole batch again, so the events
 * of the earlier calls arrive twice (deduplicate on `chain.chain_id` + `chain.seq`).
 * Sorting by timestamp can put records of one batch out of chain order when their
 * request start times are (a long request logged after a short one); verify an export
 * after ordering it by `chain.seq`.
 *
 * Retries: the SDK retries nothing (`max_attempts` 1 by default). The delivery queue
 * owns retries: its backoff, its spill to disk after a few failures and its counters
 * only work if a failure reaches it at once; SDK retries inside one `send` would hold
 * the batch for their own backoff (and could pass the queue's send timeout).
 *
 * A missing stream is created on ResourceNotFoundException (and the group first, with
 * `create_log_group`), then the call is made once more. Errors name the sink, the API
 * call, the HTTP status and the AWS error code; never credentials or record content.
 */
import crypto = require('crypto');
import os = require('os');
import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  type InputLogEvent,
  type PutLogEventsCommandOutput,
  type RejectedLogEventsInfo,
} from '@aws-sdk/client-cloudwatch-logs';
import { SinkError, type AuditSink } from './sink';

/** PutLogEvents quotas (AWS CloudWatch Logs API reference, PutLogEvents). */
export const CLOUDWATCH_MAX_EVENTS = 10_000;
export const CLOUDWATCH_MAX_BATCH_BYTES = 1_048_576;
export const CLOUDWATCH_EVENT_OVERHEAD = 26;
export const CLOUDWATCH_MAX_EVENT_BYTES = 256 * 1024;
const MAX_SPAN_MS = 24 * 3600_000;
const MAX_AGE_MS = 14 * 24 * 3600_000;
const MAX_AHEAD_MS = 2 * 3600_000;
/** Kept inside the window so an event still qualifies when its call arrives a little later. */
const WINDOW_MARGIN_MS = 10 * 60_000;
/** Log group and stream names (CreateLogGroup / CreateLogStream API reference). */
const LOG_GROUP_RE = /^[.\-_/#A-Za-z0-9]{1,512}$/;
const LOG_STREAM_RE = /^[^:*]{1,512}$/;
/** An AWS error code from the answer is printed only if it looks like one. */
const ERROR_CODE_RE = /^[A-Za-z][A-Za-z0-9]{0,63}$/;
/** The destination refused the content itself: sending it again cannot help. */
const NON_RETRIABLE_CODES = new Set(['InvalidParameterException']);

export type CloudWatchNotice = 'truncated' | 'rejected_oversize' | 'restamped' | 'rejected_by_service';

export interface CloudWatchCredentials {
  access_key_id: string;
  secret_access_key: string;
  session_token?: string | null;
}

export interface CloudWatchSinkOptions {
  region: string;
  log_group: string;
  /** Default `defaultLogStream(node_id)`: one stream per Kong node. */
  log_stream?: string | null;
  /** Kong's node id, for the default stream name; null: the host name. */
  node_id?: string | null;
  /** Create the log group when it does not exist (needs logs:CreateLogGroup). Default false. */
  create_log_group?: boolean;
  /** Endpoint override: a VPC interface endpoint, FIPS, or a local server in tests. */
  endpoint?: string | null;
  /** Resolved by the adapter from its vault references; null: the SDK's default chain (env, profile, SSO, ECS/EKS, IMDS). */
  credentials?: CloudWatchCredentials | null;
  /** A record too large for one event: cut to a stub (default) or not sent; counted either way. */
  oversize?: 'truncate' | 'reject';
  /** Bound of one `send`: every call of the batch, connect to answer. */
  timeout_ms: number;
  /** SDK attempts per API call; default 1 (see the header: the queue retries). */
  max_attempts?: number;
  name?: string;
  /** A record was cut, not sent or restamped; for a counter or a log line (no content). */
  on_notice?: (notice: CloudWatchNotice, count: number) => void;
  now?: () => number;
}

export type CloudWatchCounters = Record<CloudWatchNotice, number>;

/** `llm-audit/<node id or host name>`, with the characters a stream name may not hold replaced. */
export function defaultLogStream(node_id?: string | null): string {
  const who = (node_id || os.hostname() || 'unknown').replace(/[:*]/g, '_').slice(0, 400);
  return `llm-audit/${who}`;
}

interface Event {
  timestamp: number;
  message: string;
  bytes: number;
}

export class CloudWatchSink implements AuditSink {
  readonly name: string;
  readonly max_batch_records = CLOUDWATCH_MAX_EVENTS;
  readonly log_stream: string;
  private readonly client: CloudWatchLogsClient;
  private readonly now: () => number;
  private readonly c: CloudWatchCounters = { truncated: 0, rejected_oversize: 0, restamped: 0, rejected_by_service: 0 };
  private inflight: Promise<void> = Promise.resolve();

  constructor(private readonly opts: CloudWatchSinkOptions) {
    this.name = opts.name ?? 'cloudwatch';
    const bad = (why: string) => new SinkError(`${this.name}: ${why}`, false);
    if (!opts.region) throw bad('region is required');
    if (!LOG_GROUP_RE.test(opts.log_group ?? '')) throw bad('log_group must be 1-512 of A-Z a-z 0-9 . - _ / #');
    this.log_stream = opts.log_stream || defaultLogStream(opts.node_id);
    if (!LOG_STREAM_RE.test(this.log_stream)) throw bad('log_stream must be 1-512 characters without : or *');
    if (!(opts.timeout_ms > 0)) throw bad('timeout_ms must be > 0');
    const attempts = opts.max_attempts ?? 1;
    if (!Number.isSafeInteger(attempts) || attempts < 1) throw bad('max_attempts must be an integer >= 1');
    let endpoint: string | undefined;
    if (opts.endpoint) {
      let url: URL;
      try {
        url = new URL(opts.endpoint);
      } catch {
        throw bad('endpoint is not a URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('endpoint must be http or https');
      if (url.username || url.password) throw bad('endpoint must not carry credentials');
      endpoint = opts.endpoint;
    }
    const cr = opts.credentials;
    if (cr && !(cr.access_key_id && cr.secret_access_key)) throw bad('credentials need access_key_id and secret_access_key');
    this.client = new CloudWatchLogsClient({
      region: opts.region,
      endpoint,
      maxAttempts: attempts,
      credentials: cr ? { accessKeyId: cr.access_key_id, secretAccessKey: cr.secret_access_key, sessionToken: cr.session_token || undefined } : undefined,
    });
    this.now = opts.now ?? Date.now;
  }

  counters(): CloudWatchCounters {
    return { ...this.c };
  }

  send(batch: readonly string[]): Promise<void> {
    const run = this.inflight.then(() => this.put(batch));
    this.inflight = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    await this.inflight;
    this.client.destroy();
  }

  /** The whole batch, every call it takes, within `timeout_ms` (as the HTTP sink's exchange). */
  private async put(batch: readonly string[]): Promise<void> {
    const events = this.toEvents(batch);
    if (events.length === 0) return;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.opts.timeout_ms);
    try {
      for (const call of splitEvents(events)) {
        const rejected = await this.putCall(call, abort.signal);
        if (rejected.length === 0) continue;
        // rejected as too old or too new for the service's clock or the group's retention: once more, stamped now
        const now = this.now();
        this.notice('restamped', rejected.length);
        const again = await this.putCall(
          rejected.map((e) => ({ ...e, timestamp: now })),
          abort.signal,
        );
        this.notice('rejected_by_service', again.length);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** One PutLogEvents (the stream created first if missing); resolves with the events the service rejected. */
  private async putCall(events: Event[], signal: AbortSignal): Promise<Event[]> {
    const logEvents: InputLogEvent[] = events.map((e) => ({ timestamp: e.timestamp, message: e.message }));
    const put = () => this.call<PutLogEventsCommandOutput>('PutLogEvents', new PutLogEventsCommand({ logGroupName: this.opts.log_group, logStreamName: this.log_stream, logEvents }), signal);
    let out: PutLogEventsCommandOutput;
    try {
      out = await put();
    } catch (e) {
      if (errorCode(e) !== 'ResourceNotFoundException') throw this.failure('PutLogEvents', e);
      await this.createStream(signal);
      try {
        out = await put();
      } catch (e2) {
        throw this.failure('PutLogEvents', e2);
      }
    }
    return rejectedEvents(events, out.rejectedLogEventsInfo);
  }

  private async createStream(signal: AbortSignal): Promise<void> {
    const stream = () => this.call('CreateLogStream', new CreateLogStreamCommand({ logGroupName: this.opts.log_group, logStreamName: this.log_stream }), signal);
    try {
      await ignoreAlreadyExists(stream());
    } catch (e) {
      if (!(this.opts.create_log_group && errorCode(e) === 'ResourceNotFoundException')) throw this.failure('CreateLogStream', e);
      try {
        await ignoreAlreadyExists(this.call('CreateLogGroup', new CreateLogGroupCommand({ logGroupName: this.opts.log_group }), signal));
      } catch (e2) {
        throw this.failure('CreateLogGroup', e2);
      }
      try {
        await ignoreAlreadyExists(stream());
      } catch (e3) {
        throw this.failure('CreateLogStream', e3);
      }
    }
  }

  /** One API call, cut off with the send's deadline (the SDK itself has no overall deadline). */
  private async call<T>(what: string, command: { readonly input: unknown }, signal: AbortSignal): Promise<T> {
    if (signal.aborted) throw this.timedOut(what);
    try {
      // one client method for the three commands: the SDK's overloads are per command type
      return await (this.client.send as (c: unknown, o: { abortSignal: AbortSignal }) => Promise<T>)(command, { abortSignal: signal });
    } catch (e) {
      if (signal.aborted) throw this.timedOut(what);
      throw e;
    }
  }

  private timedOut(what: string): SinkError {
    return new SinkError(`${this.name}: ${what}: no answer within ${this.opts.timeout_ms} ms`, true);
  }

  private failure(what: string, e: unknown): SinkError {
    if (e instanceof SinkError) return e;
    const status = (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode ?? null;
    const code = errorCode(e);
    const net = networkCode(e);
    const detail =
      status !== null ? `HTTP ${status}${code && ERROR_CODE_RE.test(code) ? ` ${code}` : ''}` : `request failed (${net ?? 'error'})`;
    return new SinkError(`${this.name}: ${what} failed (${detail})`, !(code && NON_RETRIABLE_CODES.has(code)), status);
  }

  private toEvents(batch: readonly string[]): Event[] {
    const now = this.now();
    const events: Event[] = [];
    let restamped = 0;
    for (const line of batch) {
      let message = line;
      let bytes = Buffer.byteLength(line, 'utf8');
      if (bytes + CLOUDWATCH_EVENT_OVERHEAD > CLOUDWATCH_MAX_EVENT_BYTES) {
        if ((this.opts.oversize ?? 'truncate') === 'reject') {
          this.notice('rejected_oversize', 1);
          continue;
        }
        message = truncatedStub(line, bytes, CLOUDWATCH_MAX_EVENT_BYTES - CLOUDWATCH_EVENT_OVERHEAD);
        bytes = Buffer.byteLength(message, 'utf8');
        this.notice('truncated', 1);
      }
      let timestamp = recordTime(line);
      if (timestamp === null || timestamp < now - MAX_AGE_MS + WINDOW_MARGIN_MS || timestamp > now + MAX_AHEAD_MS - WINDOW_MARGIN_MS) {
        // a record without a time is simply stamped now; only a time moved is counted
        if (timestamp !== null) restamped++;
        timestamp = now;
      }
      events.push({ timestamp, message, bytes });
    }
    this.notice('restamped', restamped);
    // stable: records with one timestamp keep their queue (chain) order
    return events.sort((a, b) => a.timestamp - b.timestamp);
  }

  private notice(what: CloudWatchNotice, n: number): void {
    if (n <= 0) return;
    this.c[what] += n;
    try {
      this.opts.on_notice?.(what, n);
    } catch {
      // a caller's callback must not fail a send that delivered
    }
  }
}

/**
 * Splits events sorted by timestamp into PutLogEvents calls: at most
 * `CLOUDWATCH_MAX_EVENTS` events, `CLOUDWATCH_MAX_BATCH_BYTES` bytes (26 per event
 * included) and less than 24 hours from first to last (the API allows 24 hours; exactly
 * 24 is left out rather than bet on how the service rounds). Each event must already fit alone.
 */
export function splitEvents<E extends { timestamp: number; bytes: number }>(events: readonly E[]): E[][] {
  const calls: E[][] = [];
  let cur: E[] = [];
  let bytes = 0;
  for (const e of events) {
    const size = e.bytes + CLOUDWATCH_EVENT_OVERHEAD;
    if (cur.length > 0 && (cur.length >= CLOUDWATCH_MAX_EVENTS || bytes + size > CLOUDWATCH_MAX_BATCH_BYTES || e.timestamp - cur[0].timestamp >= MAX_SPAN_MS)) {
      calls.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(e);
    bytes += size;
  }
  if (cur.length > 0) calls.push(cur);
  return calls;
}

/** The record's `time` (ISO 8601) in epoch ms, or null (not JSON, no time). */
function recordTime(line: string): number | null {
  try {
    const t = (JSON.parse(line) as { time?: unknown })?.time;
    const ms = typeof t === 'string' ? Date.parse(t) : NaN;
    return Number.isFinite(ms) ? ms : null;
  } catch {
    return null;
  }
}

/**
 * A record too large for one event, as a JSON object of at most `limit` bytes: its
 * chain link, request id and time (so a verifier reports it as edited, not dropped,
 * and it can be matched with another sink's copy by `sha256`), its size, and its text
 * cut at a character boundary to fill the rest.
 */
export function truncatedStub(line: string, bytes: number, limit: number): string {
  let rec: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) rec = parsed as Record<string, unknown>;
  } catch {
    // not JSON: the stub carries the text's hash and head only
  }
  const stub = {
    llm_audit_truncated: { original_bytes: bytes, sha256: crypto.createHash('sha256').update(line, 'utf8').digest('hex') },
    chain: rec.chain ?? null,
    request_id: typeof rec.request_id === 'string' ? rec.request_id : null,
    time: typeof rec.time === 'string' ? rec.time : null,
    head: '',
  };
  const text = Buffer.from(line, 'utf8');
  const withHead = (n: number) => JSON.stringify({ ...stub, head: cutUtf8(text, n) });
  // the longest head whose escaped form fits (escaping grows quotes and backslashes):
  // a binary search, as the size grows monotonically with the head; only oversized records get here
  let lo = 0;
  let hi = Math.max(0, limit - Buffer.byteLength(JSON.stringify(stub), 'utf8'));
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (Buffer.byteLength(withHead(mid), 'utf8') <= limit) lo = mid;
    else hi = mid - 1;
  }
  return withHead(lo);
}

/** The longest prefix of `buf` of at most `max` bytes that ends on a character boundary. */
function cutUtf8(buf: Buffer, max: number): string {
  let end = Math.min(max, buf.length);
  // back off continuation bytes (10xxxxxx) so no character is split
  while (end > 0 && end < buf.length && (buf[end] & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

function rejectedEvents<E>(events: E[], info: RejectedLogEventsInfo | undefined): E[] {
  if (!info) return [];
  const out = new Set<number>();
  // index bounds as documented: too new from start (inclusive), too old / expired up to end (exclusive)
  if (info.tooNewLogEventStartIndex !== undefined) for (let i = info.tooNewLogEventStartIndex; i < events.length; i++) out.add(i);
  const oldEnd = Math.max(info.tooOldLogEventEndIndex ?? -1, info.expiredLogEventEndIndex ?? -1);
  for (let i = 0; i < Math.min(oldEnd, events.length); i++) out.add(i);
  return [...out].sort((a, b) => a - b).map((i) => events[i]);
}

/**
 * The errno code of a connection failure (ECONNREFUSED ...). The SDK's retry middleware
 * turns an error that is not an `Error` of its realm (under a vm sandbox, as in jest)
 * into a message-only Error; then the code is read from the message, and only it is kept.
 */
function networkCode(e: unknown): string | null {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code === 'string' && /^E[A-Z0-9_]{2,40}$/.test(code)) return code;
  const m = /\b(E[A-Z][A-Z0-9_]{2,40})\b/.exec(String((e as Error)?.message ?? ''));
  return m ? m[1] : null;
}

function errorCode(e: unknown): string | null {
  const n = (e as { name?: unknown })?.name;
  return typeof n === 'string' ? n : null;
}

async function ignoreAlreadyExists(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (e) {
    // created meanwhile by another node or an earlier attempt
    if (errorCode(e) !== 'ResourceAlreadyExistsException') throw e;
  }
}
