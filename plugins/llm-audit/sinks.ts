/**
 * A sink from its config record: the one place that maps the schema's fields onto the
 * core sinks' options. A field the sink type needs and lacks is a config error naming
 * the field (the instance then answers with a logged broken config, never a silent
 * drop). Fields Kong did not fill (an element of the default `sinks` list) read as
 * their schema default.
 */
import { AzureMonitorSink, azureCredential } from './core/sinks/azure-monitor';
import { CloudWatchSink } from './core/sinks/cloudwatch';
import { FileSink } from './core/sinks/file';
import { HttpSink } from './core/sinks/http';
import type { AuditSink } from './core/sinks/sink';
import { StdoutSink } from './core/sinks/stdout';
import type { SinkConfig } from './schema';

export class AuditConfigError extends Error {
  override readonly name = 'AuditConfigError';
}

const need = (s: SinkConfig, field: keyof SinkConfig, where: string): string => {
  const v = s[field];
  if (typeof v !== 'string' || v.trim() === '') throw new AuditConfigError(`${where}: ${s.type} needs ${String(field)}`);
  return v;
};
const opt = (v: string | null | undefined): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The sink of `s`, named `name`. `nodeId` names CloudWatch's default stream. */
export function createSink(s: SinkConfig, name: string, where: string, nodeId: string | null): AuditSink {
  const timeout_ms = s.timeout_ms ?? 10000;
  switch (s.type) {
    case 'stdout':
      return new StdoutSink(process.stdout, name);
    case 'file':
      return new FileSink({ path: need(s, 'path', where), max_bytes: s.max_bytes ?? 104857600, keep: s.keep ?? 5, fsync: s.fsync ?? 'batch', name });
    case 'http':
      return new HttpSink({
        url: need(s, 'url', where),
        preset: s.preset ?? 'json_array',
        auth_header: opt(s.auth_header),
        auth_value: opt(s.auth_value) ?? null,
        gzip: s.gzip ?? true,
        timeout_ms,
        index: opt(s.index),
        splunk_index: opt(s.splunk_index),
        sourcetype: opt(s.sourcetype),
        ddtags: opt(s.ddtags),
        service: opt(s.service),
        hostname: nodeId ?? undefined,
        name,
      });
    case 'cloudwatch': {
      const keyId = opt(s.aws_access_key_id);
      const secret = opt(s.aws_secret_access_key);
      if ((keyId === undefined) !== (secret === undefined)) throw new AuditConfigError(`${where}: cloudwatch needs both aws_access_key_id and aws_secret_access_key, or neither (the SDK's default chain)`);
      return new CloudWatchSink({
        region: need(s, 'region', where),
        log_group: need(s, 'log_group', where),
        log_stream: opt(s.log_stream) ?? null,
        node_id: nodeId,
        create_log_group: s.create_log_group ?? false,
        endpoint: opt(s.endpoint) ?? null,
        credentials: keyId && secret ? { access_key_id: keyId, secret_access_key: secret, session_token: opt(s.aws_session_token) ?? null } : null,
        timeout_ms,
        name,
      });
    }
    case 'azure_monitor': {
      const kind = s.azure_credential ?? 'default';
      const credential =
        kind === 'client_secret'
          ? azureCredential({ type: 'client_secret', tenant_id: need(s, 'azure_tenant_id', where), client_id: need(s, 'azure_client_id', where), client_secret: need(s, 'azure_client_secret', where) }, name)
          : kind === 'managed_identity'
            ? azureCredential({ type: 'managed_identity', client_id: opt(s.azure_client_id) ?? null }, name)
            : azureCredential({ type: 'default' }, name);
      return new AzureMonitorSink({ endpoint: need(s, 'endpoint', where), rule_id: need(s, 'rule_id', where), stream: need(s, 'stream', where), credential, timeout_ms, name });
    }
    default:
      throw new AuditConfigError(`${where}: unknown sink type`);
  }
}
