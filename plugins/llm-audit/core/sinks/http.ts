/**
 * HTTP sink: one POST per batch, gzip-compressed by default, body and verdict by preset
 * (http-presets.ts). The auth value is handed in already resolved (the adapter reads it
 * from a vault or environment reference) and is only ever put in its header: never in
 * an error message, and the URL may carry no credentials.
 *
 * Bounds: `timeout_ms` covers the whole exchange (connect, upload, answer); at most
 * 64 KiB of an answer are read, for `_bulk` 256 bytes more per record: its per-item
 * verdict must be read whole, so the sink asks for only what it reads
 * (`filter_path=errors,items.*.status,items.*.error.type`, about 30-80 bytes an item
 * instead of ~250, or ~500 with an error reason), unless the URL sets its own. One
 * keep-alive agent per sink, at most `max_sockets` connections (the queue sends one
 * batch at a time, so 1 suffices).
 */
import http = require('http');
import https = require('https');
import { promisify } from 'util';
import zlib = require('zlib');
import { DATADOG_MAX_ENTRIES, DEFAULT_AUTH_HEADER, presetBody, presetVerdict, type HttpPreset, type PresetSettings } from './http-presets';
import { SinkError, type AuditSink } from './sink';

const gzip = promisify(zlib.gzip);
const MAX_ANSWER_BYTES = 64 * 1024;
/** What presetVerdict reads of a `_bulk` answer (see the header). */
const BULK_FILTER = 'errors,items.*.status,items.*.error.type';
const BULK_ANSWER_BYTES_PER_RECORD = 256;

export interface HttpSinkOptions extends PresetSettings {
  url: string;
  preset: HttpPreset;
  /** Header the auth value goes in; default per preset (`DEFAULT_AUTH_HEADER`). */
  auth_header?: string;
  /** The resolved secret (e.g. `ApiKey …`, `Splunk …`); null: no auth header. */
  auth_value?: string | null;
  /** Extra headers (not secrets: they may be logged with the config). */
  headers?: Record<string, string>;
  gzip?: boolean;
  timeout_ms: number;
  max_sockets?: number;
  name?: string;
}

export class HttpSink implements AuditSink {
  readonly name: string;
  readonly max_batch_records?: number;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;

  constructor(private readonly opts: HttpSinkOptions) {
    this.name = opts.name ?? `http:${opts.preset}`;
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new SinkError(`${this.name}: url is not a URL`, false);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SinkError(`${this.name}: url must be http or https`, false);
    if (url.username || url.password) throw new SinkError(`${this.name}: url must not carry credentials; use auth_value`, false);
    if (!(opts.timeout_ms > 0)) throw new SinkError(`${this.name}: timeout_ms must be > 0`, false);
    // checked once here: Node would otherwise throw on every send, which the queue retries forever
    const named: Record<string, string | null | undefined> = { ...opts.headers, [opts.auth_header ?? DEFAULT_AUTH_HEADER[opts.preset]]: opts.auth_value };
    for (const [k, v] of Object.entries(named)) {
      try {
        http.validateHeaderName(k);
        if (v !== null && v !== undefined) http.validateHeaderValue(k, v);
      } catch {
        // the name only: the value may be the secret
        throw new SinkError(`${this.name}: header ${/^[A-Za-z0-9-]{1,64}$/.test(k) ? k : '(unprintable)'} is not a valid HTTP header`, false);
      }
    }
    if ((opts.preset === 'elasticsearch' || opts.preset === 'opensearch') && !url.searchParams.has('filter_path')) {
      url.searchParams.set('filter_path', BULK_FILTER);
    }
    this.url = url;
    this.transport = url.protocol === 'https:' ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, maxSockets: opts.max_sockets ?? 1 });
    if (opts.preset === 'datadog') this.max_batch_records = DATADOG_MAX_ENTRIES;
  }

  async send(batch: readonly string[]): Promise<void> {
    if (batch.length === 0) return;
    const { body, content_type } = presetBody(this.opts.preset, batch, this.opts);
    const zipped = this.opts.gzip ?? true;
    const payload = zipped ? await gzip(Buffer.from(body, 'utf8')) : Buffer.from(body, 'utf8');
    const headers: Record<string, string> = { ...this.opts.headers, 'content-type': content_type, 'content-length': String(payload.length) };
    if (zipped) headers['content-encoding'] = 'gzip';
    if (this.opts.auth_value) headers[(this.opts.auth_header ?? DEFAULT_AUTH_HEADER[this.opts.preset]).toLowerCase()] = this.opts.auth_value;
    const bulk = this.opts.preset === 'elasticsearch' || this.opts.preset === 'opensearch';
    const { status, text } = await this.post(payload, headers, MAX_ANSWER_BYTES + (bulk ? BULK_ANSWER_BYTES_PER_RECORD * batch.length : 0));
    const verdict = presetVerdict(this.opts.preset, status, text, batch.length);
    if (!verdict.ok) throw new SinkError(`${this.name}: ${verdict.reason}`, verdict.retriable, status, verdict.records ?? null);
  }

  private post(payload: Buffer, headers: Record<string, string>, maxAnswer: number): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const fail = (why: string) => reject(new SinkError(`${this.name}: ${why}`, true));
      const req = this.transport.request(this.url, { method: 'POST', headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < maxAnswer) chunks.push(c.subarray(0, maxAnswer - size));
          size += c.length;
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', () => fail('answer cut off'));
      });
      const timer = setTimeout(() => req.destroy(new Error('timeout')), this.opts.timeout_ms);
      req.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        fail(e.message === 'timeout' ? `no answer within ${this.opts.timeout_ms} ms` : `request failed (${e.code ?? 'error'})`);
      });
      req.end(payload);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
