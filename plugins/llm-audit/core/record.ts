/**
 * The audit record of one request (schemas/audit/llm-audit-record.v1.json), built from
 * plain inputs the adapter reads in the log phase: Kong's serialize(), the node id,
 * what the suite's plugins published in kong.ctx.shared, and optional captured texts.
 *
 * Contract: `buildAuditRecord` never throws on any input (each crossed a socket) and
 * always returns a record with every field present; what an input did not give is
 * null. Every string is bounded (inputs.ts, text.ts) and every header, query value,
 * the path and captured text pass redact.ts first, so no credential the request
 * carried is written. No prompt text reaches a record unless capture is on.
 * Pure: no Kong, no I/O.
 */
import type { PriceTable } from '../../shared/pricing';
import { readRequestFacts, type RequestFacts } from '../../shared/request/facts';
import { redactNamedValue, redactText, type ValueRedactor } from './redact';
import { readCounts, readEntity, readFieldTable, readIdentity, readRateLimit, MAX_ID_BYTES, type FieldValue, type RateLimitDecision } from './inputs';
import { tokensAndCost, type RecordCost, type RecordTokens } from './tokens';
import { isObj, nonNegInt, nonNegNumber, plainString, type BoundedText } from './text';

/** Bumped with every change of the record's shape; the schema file carries it in its name. */
export const AUDIT_SCHEMA_VERSION = '1';
export const AUDIT_SCHEMA_ID = 'https://kong-llm-plugins/schemas/audit/llm-audit-record.v1.json';

/** OpenAI error types (plugins/shared/openai-error.ts) a gateway answer can carry. */
const ERROR_TYPES = ['invalid_request_error', 'authentication_error', 'permission_error', 'rate_limit_error', 'requests', 'tokens', 'insufficient_quota', 'server_error', 'service_unavailable'];
const MAX_PATH_BYTES = 2048;
const MAX_METHOD_BYTES = 16;
const MAX_IP_BYTES = 64;
/** 9999-12-31T23:59:59.999Z. */
const MAX_ISO_MS = 253402300799999;

export type RecordFields = Record<string, FieldValue>;

export interface CapturedText {
  text: string;
  truncated: boolean;
  /** UTF-8 bytes of the text before redaction and the cut. */
  original_bytes: number;
}

export interface AuditRecord {
  schema_version: typeof AUDIT_SCHEMA_VERSION;
  /** Request start, ISO 8601 UTC (serialize's `started_at`). */
  time: string | null;
  request_id: string | null;
  node_id: string | null;
  consumer: string | null;
  tenant: string | null;
  credential_id: string | null;
  auth_method: string | null;
  route: { id: string | null; name: string | null };
  service: { id: string | null; name: string | null };
  client_ip: string | null;
  request: {
    method: string | null;
    path: string | null;
    query: RecordFields | null;
    headers: RecordFields | null;
    size: number | null;
    endpoint: string | null;
    model: string | null;
    stream: boolean | null;
  };
  response: {
    status: number | null;
    size: number | null;
    headers: RecordFields | null;
    /** `upstream`: OpenAI answered; `gateway`: Kong or a plugin did. */
    source: 'upstream' | 'gateway' | null;
    /** OpenAI error type of a gateway answer with status >= 400. */
    error_type: string | null;
  };
  latencies_ms: { kong: number | null; upstream: number | null; total: number | null };
  tokens: RecordTokens;
  cost: RecordCost;
  rate_limit: RateLimitDecision | null;
  guard: {
    request_findings: Record<string, number> | null;
    injection: Record<string, number> | null;
    blocked: boolean | null;
    response_findings: Record<string, number> | null;
  };
  capture: { prompt: CapturedText | null; answer: CapturedText | null } | null;
}

/** What the log phase hands over. Every member is optional and untrusted. */
export interface AuditInputs {
  /** `kong.log.serialize()`. */
  serialized?: unknown;
  /** `kong.node.get_id()`. */
  node_id?: unknown;
  /** llm-auth's PublishedIdentity from kong.ctx.shared. */
  identity?: unknown;
  /** llm-guard's RequestFacts from kong.ctx.shared. */
  request_facts?: unknown;
  /** What kong.ctx.shared holds under `USAGE_CTX_KEY` (serialized as `llm.usage`): an LlmUsage, or the body_filter's unmeasured-answer record (its size, for an estimate). */
  usage?: unknown;
  /** llm-rate-limit's decision log (`llm.rate_limit`), or its whole published value. */
  rate_limit?: unknown;
  /** llm-response-guard's findings, type to count (`llm.response.findings`); absent where no answer was scanned. */
  response_findings?: unknown;
  /** The OpenAI error type a plugin answered with, when it published one. */
  error_type?: unknown;
  /** Texts for capture (used only when the settings turn capture on). */
  prompt_text?: unknown;
  answer_text?: unknown;
}

/** One audit config's compiled settings (built once per config). */
export interface RecordSettings {
  redactor: ValueRedactor;
  prices: PriceTable;
  /** Bytes kept of one header or query value after redaction. */
  max_value_bytes: number;
  /** Write request and response headers (redacted). */
  headers: boolean;
  capture_prompt: boolean;
  capture_answer: boolean;
  /** Bytes kept of one captured text after redaction. */
  capture_max_bytes: number;
}

function redactFields(s: RecordSettings, table: Map<string, FieldValue> | null): RecordFields | null {
  if (table === null) return null;
  const out: RecordFields = {};
  for (const [rawName, value] of table) {
    // a name can carry a secret too (`?sk-proj-...` as a flag): it passes the detectors
    const name = redactText(s.redactor.policy, rawName, MAX_ID_BYTES).text;
    const one = (v: string) => redactNamedValue(s.redactor, rawName, v, s.max_value_bytes);
    const written: FieldValue = value === true ? true : Array.isArray(value) ? value.map(one) : one(value);
    Object.defineProperty(out, name, { value: written, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function isoTime(ms: unknown): string | null {
  const n = nonNegNumber(ms);
  // past year 9999 toISOString writes a six-digit year the schema refuses
  if (n === null || n > MAX_ISO_MS) return null;
  return new Date(n).toISOString();
}

function errorType(status: number | null, gateway: boolean, published: unknown): string | null {
  if (!gateway || status === null || status < 400) return null;
  if (typeof published === 'string' && ERROR_TYPES.includes(published)) return published;
  // the suite's rejections use these statuses (plugins/shared/openai-error.ts)
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'service_unavailable';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

function capture(s: RecordSettings, on: boolean, text: unknown): CapturedText | null {
  if (!on || typeof text !== 'string') return null;
  const t: BoundedText = redactText(s.redactor.policy, text, s.capture_max_bytes);
  return { text: t.text, truncated: t.truncated, original_bytes: t.original_bytes };
}

function injectionCounts(facts: RequestFacts | null): Record<string, number> | null {
  if (facts === null) return null;
  // a Map: a category is the publisher's text (`__proto__`, `toString` are just names here)
  const counts = new Map<string, number>();
  for (const f of facts.findings.injection) counts.set(f.category, (counts.get(f.category) ?? 0) + 1);
  return readCounts(Object.fromEntries(counts));
}

/**
 * The audit record of one request. Never throws; see the file comment for the contract.
 */
export function buildAuditRecord(inputs: AuditInputs, settings: RecordSettings): AuditRecord {
  const i: AuditInputs = isObj(inputs) ? inputs : {};
  const ser = isObj(i.serialized) ? i.serialized : {};
  const req = isObj(ser.request) ? ser.request : {};
  const res = isObj(ser.response) ? ser.response : {};
  const lat = isObj(ser.latencies) ? ser.latencies : {};
  const identity = readIdentity(i.identity);
  const facts = readRequestFacts(i.request_facts);
  const status = nonNegInt(res.status);
  const source = ser.source === 'upstream' ? 'upstream' : ser.source === 'kong' ? 'gateway' : null;
  const uri = typeof req.uri === 'string' ? req.uri : null;
  const path = uri === null ? null : redactText(settings.redactor.policy, uri.split('?', 1)[0], MAX_PATH_BYTES).text;
  const { tokens, cost } = tokensAndCost(settings.prices, facts, i.usage);
  return {
    schema_version: AUDIT_SCHEMA_VERSION,
    time: isoTime(ser.started_at),
    request_id: plainString(req.id, MAX_ID_BYTES),
    node_id: plainString(i.node_id, MAX_ID_BYTES),
    consumer: identity?.consumer ?? null,
    tenant: identity?.tenant ?? null,
    credential_id: identity?.credential_id ?? null,
    auth_method: identity?.auth_method ?? null,
    route: readEntity(ser.route),
    service: readEntity(ser.service),
    client_ip: plainString(ser.client_ip, MAX_IP_BYTES),
    request: {
      method: plainString(req.method, MAX_METHOD_BYTES),
      path,
      query: redactFields(settings, readFieldTable(req.querystring, false)),
      headers: settings.headers ? redactFields(settings, readFieldTable(req.headers, true)) : null,
      size: nonNegInt(req.size),
      endpoint: facts?.endpoint ?? null,
      model: facts ? plainString(facts.model, MAX_ID_BYTES) : null,
      stream: facts?.stream ?? null,
    },
    response: {
      status,
      size: nonNegInt(res.size),
      headers: settings.headers ? redactFields(settings, readFieldTable(res.headers, true)) : null,
      source,
      error_type: errorType(status, source === 'gateway', i.error_type),
    },
    latencies_ms: { kong: nonNegNumber(lat.kong), upstream: nonNegNumber(lat.proxy), total: nonNegNumber(lat.request) },
    tokens,
    cost,
    rate_limit: readRateLimit(i.rate_limit),
    guard: {
      request_findings: facts ? readCounts(facts.findings.pii) : null,
      injection: injectionCounts(facts),
      blocked: facts?.findings.blocked ?? null,
      response_findings: i.response_findings === undefined ? null : readCounts(i.response_findings),
    },
    capture:
      settings.capture_prompt || settings.capture_answer
        ? { prompt: capture(settings, settings.capture_prompt, i.prompt_text), answer: capture(settings, settings.capture_answer, i.answer_text) }
        : null,
  };
}
