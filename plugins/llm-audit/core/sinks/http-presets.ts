/**
 * What the HTTP sink sends for each destination, and how it reads the answer. Pure:
 * a batch of JSON records in, a body and a verdict out.
 *
 * - `elasticsearch` / `opensearch`: the `_bulk` API, NDJSON, one `create` action per
 *   record into `index` (create works for data streams too). A sealed record's
 *   `_id` is `<chain_id>-<seq>`, so a batch retried after a lost answer is refused per
 *   item with 409 instead of indexed twice: 409 items count as delivered. `_bulk`
 *   answers 200 even when items fail: the items are read.
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

export type Verdict = { ok: true } | { ok: false; retriable: boolean; reason: string };

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

/** Whether the destination took the batch, from its status and (for `_bulk`) its body. */
export function presetVerdict(preset: HttpPreset, status: number, body: string): Verdict {
  if (status < 200 || status > 299) return { ok: false, retriable: !REFUSED.has(status), reason: `HTTP ${status}` };
  if (preset !== 'elasticsearch' && preset !== 'opensearch') return { ok: true };
  let parsed: { errors?: unknown; items?: unknown };
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, retriable: true, reason: '_bulk answer is not JSON' };
  }
  if (parsed.errors !== true) return { ok: true };
  const statuses = Array.isArray(parsed.items) ? parsed.items.map((i) => Number((Object.values(i ?? {})[0] as { status?: unknown } | undefined)?.status)) : [];
  const failed = statuses.filter((st) => !(st >= 200 && st <= 299) && st !== 409);
  if (failed.length === 0) return { ok: true };
  // 429 and 5xx items may pass on a retry (the others then answer 409); mapping errors never will
  const retriable = failed.some((st) => !Number.isFinite(st) || st === 429 || st >= 500);
  return { ok: false, retriable, reason: `_bulk: ${failed.length} of ${statuses.length} items failed (first status ${failed[0]})` };
}
