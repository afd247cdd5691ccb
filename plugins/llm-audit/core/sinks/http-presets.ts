import type { RecordOutcome } from './sink';

/**
 * What the HTTP sink sends for each destination, and how it reads the answer. Pure:
 * a batch of JSON records in, a body and a verdict out.
 *
 * - `elasticsearch` / `opensearch`: the `_bulk` API, NDJSON, one `create` action per
 *   record into `index` (create works for data streams too). A sealed record's
 *   `_id` is `<chain_id>-<seq>`, so a batch retried after a lost answer is refused per
 *   item with 409 instead of indexed twice: 409 items count as delivered. `_bulk`
 *   answers 200 even when items fail: the items are read, one outcome per record
 *   (`records` in the verdict): 2xx and 409 delivered, 429 and 5xx retry, any other
 *   status refused (a mapping error fails the same way on every try).
 * - `splunk_hec`: HTTP Event Collector `/services/collector/event`, one
 *   `{"time","event",...}` object per record, concatenated (HEC's batch form); `time`
 *   from the record's `time` (epoch seconds).
 * - `datadog`: Logs API v2 (`/api/v2/logs`), a JSON array of `{ddsource, service,
 *   hostname, ddtags, message}` with the record as `message` (Datadog parses JSON
 *   messages into attributes); at most 1,000 entries per request (Datadog's limit).
 * - `json_array`: `[record, ...]` as application/json, for anything else.
 *
 * Statuses: 2xx delivered; 400, 413, 422 the content itself is refused (not retriable:
 * dropped and counted); everything else, including 401/403/404 (a configuration
 * error an operator can fix), is retried and spills to disk meanwhile.
 */

export const HTTP_PRESETS = ['elasticsearch', 'opensearch', 'splunk_hec', 'datadog', 'json_array'] as const;
export type HttpPreset = (typeof HTTP_PRESETS)[number];

/** Datadog Logs API: entries per request. */
export const DATADOG_MAX_ENTRIES = 1000;

/** The default header an auth value goes in, per preset (values are the operator's:
 * `ApiKey …`/`Basic …` for Elasticsearch, `Splunk <token>` for HEC, the API key for Datadog). */
export const DEFAULT_AUTH_HEADER: Readonly<Record<HttpPreset, string>> = {
  elasticsearch: 'authorization',
  opensearch: 'authorization',
  splunk_hec: 'authorization',
  datadog: 'dd-api-key',
  json_array: 'authorization',
};

export interface PresetSettings {
  /** elasticsearch/opensearch: the index or data stream. */
  index?: string;
  /** splunk_hec: optional event metadata. */
  splunk_index?: string;
  sourcetype?: string;
  source?: string;
  /** datadog: `ddsource`, `service`, `hostname`, `ddtags`. */
  ddsource?: string;
  service?: string;
  hostname?: string;
  ddtags?: string;
}

export interface PresetBody {
  body: string;
  content_type: string;
}

export type Verdict =
  | { ok: true }
  /** `records`: one outcome per record of the batch, when the answer gave one per record. */
  | { ok: false; retriable: boolean; reason: string; records?: RecordOutcome[] };

/** `_id` and epoch seconds of a record, from its chain link and time, when it has them. */
function meta(record: string): { id: string | null; time: number | null } {
  try {
    const r = JSON.parse(record) as { chain?: { chain_id?: unknown; seq?: unknown }; time?: unknown };
    const c = r.chain;
    const id = c && typeof c.chain_id === 'string' && typeof c.seq === 'number' ? `${c.chain_id}-${c.seq}` : null;
    const ms = typeof r.time === 'string' ? Date.parse(r.time) : NaN;
    return { id, time: Number.isFinite(ms) ? ms / 1000 : null };
  } catch {
    return { id: null, time: null };
  }
}

/** The request body for `batch` (records as JSON texts) under `preset`. */
export function presetBody(preset: HttpPreset, batch: readonly string[], s: PresetSettings): PresetBody {
  switch (preset) {
    case 'elasticsearch':
    case 'opensearch': {
      const lines: string[] = [];
      for (const r of batch) {
        const { id } = meta(r);
        const action: Record<string, string> = { _index: s.index ?? 'llm-audit' };
        if (id !== null) action._id = id;
        lines.push(JSON.stringify({ create: action }), r);
      }
      return { body: `${lines.join('\n')}\n`, content_type: 'application/x-ndjson' };
    }
    case 'splunk_hec': {
      const extra = JSON.stringify({ index: s.splunk_index, sourcetype: s.sourcetype ?? '_json', source: s.source }).slice(1, -1);
      const events = batch.map((r) => {
        const { time } = meta(r);
        return `{${time === null ? '' : `"time":${time},`}${extra},"event":${r}}`;
      });
      return { body: events.join('\n'), content_type: 'application/json' };
    }
    case 'datadog': {
      const entries = batch.map((r) =>
        JSON.stringify({ ddsource: s.ddsource ?? 'kong-llm-audit', service: s.service ?? 'llm-gateway', hostname: s.hostname, ddtags: s.ddtags, message: r }),
      );
      return { body: `[${entries.join(',')}]`, content_type: 'application/json' };
    }
    case 'json_array':
      return { body: `[${batch.join(',')}]`, content_type: 'application/json' };
  }
}

const REFUSED = new Set([400, 413, 422]);

/** An item's outcome from its `_bulk` status. */
function itemOutcome(status: number): RecordOutcome {
  if ((status >= 200 && status <= 299) || status === 409) return 'delivered';
  // 429 and 5xx items may pass on a retry; a status we cannot read may too (retrying
  // costs a send, dropping would lose the record). Mapping errors never will.
  if (!Number.isFinite(status) || status === 429 || status >= 500) return 'retry';
  return 'refused';
}

/** An Elasticsearch error type (`mapper_parsing_exception`) is an identifier; its
 * `reason` may quote the document's values, so only the type goes in a message. */
function errorType(item: unknown): string | null {
  const type = (item as { error?: { type?: unknown } } | undefined)?.error?.type;
  return typeof type === 'string' && /^[a-z_]{1,80}$/.test(type) ? type : null;
}

/**
 * Whether the destination took the batch of `count` records, from its status and (for
 * `_bulk`) its body. A `_bulk` answer with one item per record gives per-record
 * outcomes; one whose items cannot be matched to the records (another count) is judged
 * as a whole: retriable when any failed item may pass on a retry.
 */
export function presetVerdict(preset: HttpPreset, status: number, body: string, count: number): Verdict {
  if (status < 200 || status > 299) return { ok: false, retriable: !REFUSED.has(status), reason: `HTTP ${status}` };
  if (preset !== 'elasticsearch' && preset !== 'opensearch') return { ok: true };
  let parsed: { errors?: unknown; items?: unknown };
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, retriable: true, reason: '_bulk answer is not JSON' };
  }
  if (parsed.errors !== true) return { ok: true };
  const items: unknown[] = Array.isArray(parsed.items) ? parsed.items.map((i) => Object.values((i ?? {}) as object)[0]) : [];
  const statuses = items.map((i) => Number((i as { status?: unknown } | undefined)?.status));
  const outcomes = statuses.map(itemOutcome);
  const failed = outcomes.flatMap((o, k) => (o === 'delivered' ? [] : [k]));
  if (failed.length === 0) return { ok: true };
  const first = failed[0];
  const type = errorType(items[first]);
  const reason = `_bulk: ${failed.length} of ${statuses.length} items failed (first status ${statuses[first]}${type ? ` ${type}` : ''})`;
  const retriable = failed.some((k) => outcomes[k] === 'retry');
  return statuses.length === count ? { ok: false, retriable, reason, records: outcomes } : { ok: false, retriable, reason };
}
