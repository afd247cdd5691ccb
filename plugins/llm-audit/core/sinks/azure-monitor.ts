/**
 * Azure Monitor sink: records uploaded to a Log Analytics table through the Logs
 * Ingestion API (POST {endpoint}/dataCollectionRules/{rule_id}/streams/{stream}, a gzip
 * JSON array, a Microsoft Entra bearer token), with the vendor's LogsIngestionClient
 * (@azure/monitor-ingestion): gzip, the token's cache and refresh, the 1 MB call limit.
 *
 * Records are sent as they are, one JSON object each: the data collection rule's
 * `transformKql` must derive `TimeGenerated` (e.g. `source | extend TimeGenerated =
 * todatetime(['time'])`); adding it here would change the sealed record, whose MAC the
 * verify CLI checks on an export.
 *
 * Failures. `upload()` splits a batch into ~1 MB calls and, by default, sends five at
 * once and goes on after a failed one, throwing an aggregate at the end. Here calls go
 * one at a time and the first failure aborts the rest: the records after a failed call
 * are not sent ahead of it, and `send` rejects so the queue retries the whole batch
 * (the calls that had succeeded arrive twice: at least once; deduplicate on
 * `chain.chain_id` + `chain.seq`). The client's own retries are off (`maxRetries: 0`)
 * for the reason given in cloudwatch.ts: the queue owns retries, backoff and spill.
 * HTTP 400/413/422 mean the service refused the content (not retried, per sink.ts);
 * anything else, a failed token included, is retried. Error messages name the sink and
 * the status (or the kind of failure), never the token, a secret or record content.
 *
 * Bearer tokens are sent over TLS only (core-rest-pipeline refuses plain http), so the
 * endpoint must be https. `tls_ca` replaces the trusted roots for this client only
 * (a private endpoint behind a TLS-inspecting proxy; the tests' self-signed server).
 */
import { ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { isAggregateLogsUploadError, LogsIngestionClient } from '@azure/monitor-ingestion';
import { SinkError, type AuditSink } from './sink';

/** The immutable id of a data collection rule (its `immutableId` property). */
const RULE_ID_RE = /^dcr-[0-9a-fA-F]{32}$/;
/** Stream names a DCR declares: `Custom-<name>` for custom tables, `Microsoft-<table>` for standard ones. */
const STREAM_RE = /^(Custom|Microsoft)-[A-Za-z0-9_-]{1,200}$/;
/** Statuses meaning the content itself was refused (sink.ts). */
const REFUSED = new Set([400, 413, 422]);
/** @azure/identity's error names: the token could not be had. */
const CREDENTIAL_ERRORS = new Set(['CredentialUnavailableError', 'AuthenticationError', 'AggregateAuthenticationError', 'AuthenticationRequiredError']);
const USER_AGENT = 'kong-llm-audit';

/**
 * How the sink gets its token. `client_secret` takes the secret already resolved by the
 * adapter (a vault or environment reference); `managed_identity` with a client id picks
 * a user-assigned identity; `default` is DefaultAzureCredential's chain (environment,
 * workload identity, managed identity, Azure CLI ...).
 */
export type AzureCredentialSettings =
  | { type: 'default' }
  | { type: 'managed_identity'; client_id?: string | null }
  | { type: 'client_secret'; tenant_id: string; client_id: string; client_secret: string; authority_host?: string | null };

/** Builds the TokenCredential of `settings`; throws a SinkError naming the missing field, never its value. */
export function azureCredential(settings: AzureCredentialSettings, name = 'azure_monitor'): TokenCredential {
  switch (settings.type) {
    case 'default':
      return new DefaultAzureCredential();
    case 'managed_identity':
      return settings.client_id ? new ManagedIdentityCredential({ clientId: settings.client_id }) : new ManagedIdentityCredential();
    case 'client_secret': {
      for (const k of ['tenant_id', 'client_id', 'client_secret'] as const) {
        if (!settings[k]) throw new SinkError(`${name}: credential ${k} is required`, false);
      }
      return new ClientSecretCredential(settings.tenant_id, settings.client_id, settings.client_secret, settings.authority_host ? { authorityHost: settings.authority_host } : undefined);
    }
    default:
      throw new SinkError(`${name}: unknown credential type`, false);
  }
}

export interface AzureMonitorSinkOptions {
  /** The data collection endpoint (or the DCR's own logs ingestion endpoint), https. */
  endpoint: string;
  /** The DCR's immutable id, `dcr-` and 32 hex digits. */
  rule_id: string;
  /** The stream declared in the DCR, e.g. `Custom-LlmAudit`. */
  stream: string;
  /** From `azureCredential`, or any TokenCredential (tests pass a static one). */
  credential: TokenCredential;
  /** Bound of one `send` (token, all its calls). */
  timeout_ms: number;
  /** Token audience of a sovereign cloud (`https://monitor.azure.us`, ...); default the public cloud's. */
  audience?: string | null;
  /** PEM roots trusted instead of the default ones, for this client only. */
  tls_ca?: string | null;
  api_version?: string | null;
  name?: string;
}

export class AzureMonitorSink implements AuditSink {
  readonly name: string;
  private readonly client: LogsIngestionClient;
  private inflight: Promise<void> = Promise.resolve();

  constructor(private readonly opts: AzureMonitorSinkOptions) {
    this.name = opts.name ?? 'azure_monitor';
    const bad = (why: string) => new SinkError(`${this.name}: ${why}`, false);
    let url: URL;
    try {
      url = new URL(opts.endpoint);
    } catch {
      throw bad('endpoint is not a URL');
    }
    // checked here once: the client would refuse every send, and the queue retry forever
    if (url.protocol !== 'https:') throw bad('endpoint must be https (bearer tokens are only sent over TLS)');
    if (url.username || url.password) throw bad('endpoint must not carry credentials');
    if (!RULE_ID_RE.test(opts.rule_id ?? '')) throw bad('rule_id must be a DCR immutable id (dcr- and 32 hex digits)');
    if (!STREAM_RE.test(opts.stream ?? '')) throw bad('stream must be Custom-<name> or Microsoft-<table>');
    if (!(opts.timeout_ms > 0)) throw bad('timeout_ms must be > 0');
    if (!opts.credential || typeof opts.credential.getToken !== 'function') throw bad('credential must be a TokenCredential');
    this.client = new LogsIngestionClient(opts.endpoint, opts.credential, {
      retryOptions: { maxRetries: 0 },
      userAgentOptions: { userAgentPrefix: USER_AGENT },
      ...(opts.audience ? { audience: opts.audience } : {}),
      ...(opts.api_version ? { apiVersion: opts.api_version } : {}),
      ...(opts.tls_ca ? { tlsOptions: { ca: opts.tls_ca } } : {}),
    });
  }

  send(batch: readonly string[]): Promise<void> {
    const run = this.inflight.then(() => this.upload(batch));
    this.inflight = run.catch(() => undefined);
    return run;
  }

  /** The client holds no resource of its own to release; in-flight sends finish first. */
  async close(): Promise<void> {
    await this.inflight;
  }

  private async upload(batch: readonly string[]): Promise<void> {
    if (batch.length === 0) return;
    const logs = batch.map((line, i) => {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        v = null;
      }
      // a table row is an object; the position only, never the text
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new SinkError(`${this.name}: record ${i} of the batch is not a JSON object`, false);
      return v as Record<string, unknown>;
    });
    const abort = new AbortController();
    let timedOut = false;
    let first: unknown = null;
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
    }, this.opts.timeout_ms);
    try {
      await this.client.upload(this.opts.rule_id, this.opts.stream, logs, {
        maxConcurrency: 1,
        abortSignal: abort.signal,
        onError: (failure) => {
          first ??= failure.cause;
          // stop here: later calls must not land ahead of the failed one
          abort.abort();
        },
      });
    } catch (e) {
      throw this.failure(timedOut ? null : (first ?? (isAggregateLogsUploadError(e) ? e.errors[0]?.cause : e)), timedOut);
    } finally {
      clearTimeout(timer);
    }
    // upload() stops between calls once aborted and still resolves: the rest was never sent
    if (abort.signal.aborted) throw this.failure(null, true);
  }

  private failure(e: unknown, timedOut: boolean): SinkError {
    if (timedOut) return new SinkError(`${this.name}: upload: no answer within ${this.opts.timeout_ms} ms`, true);
    const err = e as { name?: unknown; statusCode?: unknown; code?: unknown } | null;
    const name = typeof err?.name === 'string' ? err.name : '';
    if (CREDENTIAL_ERRORS.has(name)) return new SinkError(`${this.name}: no token (${name})`, true);
    if (name !== 'RestError') return new SinkError(`${this.name}: upload failed (error)`, true);
    const status = typeof err?.statusCode === 'number' ? err.statusCode : null;
    if (status !== null) return new SinkError(`${this.name}: upload failed (HTTP ${status})`, !REFUSED.has(status), status);
    // no answer: the socket's or TLS's code (ECONNREFUSED, DEPTH_ZERO_SELF_SIGNED_CERT ...)
    const code = typeof err?.code === 'string' && /^[A-Z][A-Z0-9_]{2,40}$/.test(err.code) ? err.code : 'error';
    return new SinkError(`${this.name}: upload failed (request failed (${code}))`, true);
  }
}
