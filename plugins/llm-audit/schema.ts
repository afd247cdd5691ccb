/**
 * llm-audit configuration, declared once as Kong schema data; `LlmAuditConfig` is
 * derived from the same declaration. Each sink is one record with a `type` and the
 * fields of that type (checked when the instance starts: core sinks refuse what
 * cannot work, e.g. an http url with credentials in it).
 */
import { array, boolean, integer, record, set, string, toKongFields, type ConfigOf } from '../shared/kong-schema';
import { defaultPriceField, pricesField } from '../shared/pricing/schema';
import { HTTP_PRESETS } from './core/sinks/http-presets';

export const SINK_TYPES = ['stdout', 'file', 'http', 'cloudwatch', 'azure_monitor'] as const;
export type SinkType = (typeof SINK_TYPES)[number];

const sink = record(
  {
    type: string({ required: true, one_of: SINK_TYPES, description: 'Where the records go.' }),
    name: string({ len_max: 64, description: 'Names the sink in logs and metrics (default: its type and a digest of its settings).' }),
    // file
    path: string({ description: 'file: the file records are appended to (rotated files get .1, .2, ...); default llm-audit/audit.jsonl in the Kong prefix.' }),
    max_bytes: integer({ default: 104857600, between: [1024, 1099511627776], description: 'file: rotate before the file passes this size.' }),
    keep: integer({ default: 5, between: [0, 1000], description: 'file: rotated files kept.' }),
    fsync: string({ default: 'batch', one_of: ['batch', 'never'], description: 'file: fdatasync after every batch (a record acknowledged is on disk), or leave it to the OS.' }),
    // http
    url: string({ description: 'http: the endpoint (Elasticsearch/OpenSearch `_bulk`, Splunk HEC `/services/collector/event`, Datadog `/api/v2/logs`, or any URL taking a JSON array).' }),
    preset: string({ default: 'json_array', one_of: HTTP_PRESETS, description: 'http: the body format and how answers are read.' }),
    auth_header: string({ description: 'http: the header the credential goes in (default per preset: Authorization, or DD-API-KEY for datadog).' }),
    auth_value: string({ referenceable: true, encrypted: true, description: 'http: the whole header value, e.g. "ApiKey ...", "Splunk ...", a Datadog API key.' }),
    gzip: boolean({ default: true, description: 'http: gzip request bodies.' }),
    timeout_ms: integer({ default: 10000, between: [100, 300000], description: 'http, cloudwatch, azure_monitor: longest one send may take.' }),
    index: string({ description: 'http elasticsearch/opensearch: the index or data stream.' }),
    splunk_index: string({ description: 'http splunk_hec: the index.' }),
    sourcetype: string({ description: 'http splunk_hec: the sourcetype.' }),
    ddtags: string({ description: 'http datadog: tags, e.g. "env:prod,team:ai".' }),
    service: string({ default: 'kong-llm-gateway', description: 'http datadog: the service name.' }),
    // cloudwatch
    region: string({ description: 'cloudwatch: the AWS region.' }),
    log_group: string({ description: 'cloudwatch: the log group.' }),
    log_stream: string({ description: 'cloudwatch: the log stream (default llm-audit/<node id>).' }),
    create_log_group: boolean({ default: false, description: 'cloudwatch: create the log group when missing (needs logs:CreateLogGroup).' }),
    endpoint: string({ description: 'cloudwatch: an endpoint override (VPC endpoint); azure_monitor: the data collection endpoint (https).' }),
    aws_access_key_id: string({ referenceable: true, description: 'cloudwatch: access key id; unset, the AWS SDK default chain (environment, instance or task role).' }),
    aws_secret_access_key: string({ referenceable: true, encrypted: true, description: 'cloudwatch: secret access key.' }),
    aws_session_token: string({ referenceable: true, encrypted: true, description: 'cloudwatch: session token of temporary credentials.' }),
    // azure_monitor
    rule_id: string({ description: 'azure_monitor: the data collection rule\'s immutable id (dcr-...).' }),
    stream: string({ description: 'azure_monitor: the stream name (Custom-...).' }),
    azure_credential: string({
      default: 'default',
      one_of: ['default', 'managed_identity', 'client_secret'],
      description: 'azure_monitor: DefaultAzureCredential, a managed identity, or an app registration\'s client secret.',
    }),
    azure_tenant_id: string({ description: 'azure_monitor client_secret: the tenant.' }),
    azure_client_id: string({ description: 'azure_monitor: the client id (client_secret; a user-assigned managed identity).' }),
    azure_client_secret: string({ referenceable: true, encrypted: true, description: 'azure_monitor client_secret: the secret.' }),
  },
  { description: 'One destination of the audit records.' },
);

export const fields = {
  signing_key: string({
    required: true,
    referenceable: true,
    encrypted: true,
    description:
      'The HMAC key that chains the records (at least 32 bytes: "base64:...", "hex:..." or text); keep it in a vault ({vault://env/llm-audit-key}). `npm run audit:verify` needs it to check an export.',
  }),
  signing_key_id: string({ default: 'k1', len_min: 1, len_max: 64, description: 'Names the key in every record, so keys can be rotated (A-Z a-z 0-9 _ . -).' }),
  // Kong fills the other fields of the default sink with their defaults
  sinks: array(sink, {
    default: [{ type: 'file' } as never],
    len_min: 1,
    description:
      'Destinations, all at once; each has its own queue, retries and disk buffer. The default writes llm-audit/audit.jsonl in the Kong prefix. stdout lines reach Kong\'s error log only at log_level info (Kong logs plugin-server output at info) and are cut at 4 KiB there: use it only for development.',
  }),
  spill_dir: string({
    description:
      'Directory for the disk buffers of sinks that stay down (one folder per sink). Default: llm-audit/spill in the Kong prefix. Records there are replayed in order when the sink recovers, also after a restart.',
  }),
  spill_max_bytes: integer({
    default: 1073741824,
    between: [1048576, 1099511627776],
    description: 'Disk buffer cap per sink; records beyond it are dropped, counted and logged.',
  }),
  batch_max_records: integer({ default: 500, between: [1, 10000], description: 'Records per batch at most.' }),
  batch_max_wait_ms: integer({ default: 1000, between: [10, 60000], description: 'Longest a record waits for its batch to fill.' }),
  headers: boolean({ default: true, description: 'Write request and response headers (values redacted by name and by the secret detectors).' }),
  redact_header_names: set(string({ description: 'A header or query parameter name, any case.' }), {
    default: [],
    description: 'More names whose values are always written as [REDACTED] (Authorization, cookies, API-key headers always are).',
  }),
  max_value_bytes: integer({ default: 1024, between: [16, 65536], description: 'Longest header or query value written (cut UTF-8 safe).' }),
  metrics: boolean({ default: true, description: 'Serve Prometheus metrics from this plugin server.' }),
  metrics_host: string({ default: '127.0.0.1', description: 'Interface the metrics endpoint listens on (0.0.0.0 in a container, for Prometheus in another one).' }),
  metrics_port: integer({ default: 9464, between: [1, 65535], description: 'Port of GET /metrics (one endpoint per plugin server: every instance must name the same).' }),
  metrics_top_consumers: integer({ default: 100, between: [1, 10000], description: 'Consumers with their own metric label; later ones count as "other".' }),
  metrics_top_tenants: integer({ default: 50, between: [1, 10000], description: 'Tenants with their own metric label; later ones count as "other".' }),
  prices: pricesField('Price overrides per model, as llm-rate-limit\'s `prices` (set both alike so budgets and the audit agree).'),
  default_price: defaultPriceField('Price of a model the table does not know; unset, its cost is written as 0 with `known: false`.'),
} as const;

export type LlmAuditConfig = ConfigOf<typeof fields>;
export type SinkConfig = LlmAuditConfig['sinks'][number];

/** What kong-js-pluginserver exports as the plugin's `Schema` (config fields). */
export const Schema = toKongFields(fields);
