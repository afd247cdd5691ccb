/** Inputs as the log phase would read them, and the settings the record tests share. */
import { compilePriceTable } from '../../../plugins/shared/pricing';
import { compileRedactionPolicy, type RedactionConfig } from '../../../plugins/shared/redaction';
import { compileValueRedactor } from '../../../plugins/llm-audit/core/redact';
import type { AuditInputs, RecordSettings } from '../../../plugins/llm-audit/core/record';

export function settings(over: Partial<RecordSettings> = {}, redaction: RedactionConfig = {}, names: string[] = []): RecordSettings {
  return {
    redactor: compileValueRedactor(compileRedactionPolicy(redaction), names),
    prices: compilePriceTable(null),
    max_value_bytes: 256,
    headers: true,
    capture_prompt: false,
    capture_answer: false,
    capture_max_bytes: 1024,
    ...over,
  };
}

/** kong.log.serialize() of a proxied chat completion (test/bridge/serialize.ts shape). */
export function serialized(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    request: {
      id: 'req-0001',
      uri: '/v1/chat/completions?trace=1',
      url: 'https://gw:8443/v1/chat/completions?trace=1',
      querystring: { trace: '1' },
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'REDACTED', 'user-agent': 'OpenAI/JS 6.0' },
      size: 512,
    },
    upstream_uri: '/v1/chat/completions',
    upstream_status: '200',
    response: { status: 200, headers: { 'content-type': 'application/json', 'x-request-id': 'abc' }, size: 900 },
    latencies: { kong: 3, proxy: 420, request: 425, receive: 0 },
    route: { id: 'r-1', name: 'chat', paths: ['/v1'] },
    service: { id: 's-1', name: 'openai', host: 'api.openai.com' },
    client_ip: '10.0.0.7',
    started_at: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
    source: 'upstream',
    ...over,
  };
}

export const IDENTITY = { consumer: 'team-a', tenant: 'acme', credential_id: 'cred-42', scopes: ['chat'], auth_method: 'api_key' };

export const FACTS = {
  endpoint: 'chat.completions',
  model: 'gpt-4o-mini',
  stream: false,
  include_usage_injected: false,
  prompt_tokens: 1000,
  prompt_tokens_method: 'exact',
  requested_completion_tokens: 200,
  findings: { pii: { email: 2 }, injection: [{ rule_id: 'ign-1', category: 'instruction_override' }], blocked: false },
  body_rewritten: true,
};

export const USAGE = { prompt_tokens: 1000, completion_tokens: 500, total_tokens: 1500, cached_tokens: 400, source: 'response' };

export function fullInputs(over: Partial<AuditInputs> = {}): AuditInputs {
  return {
    serialized: serialized(),
    node_id: 'node-1',
    identity: IDENTITY,
    request_facts: FACTS,
    usage: USAGE,
    rate_limit: { allowed: true, key_by: 'consumer', limit_set: 'default', store: 'redis', limits: [{ id: 'tpm', unit: 'tokens', limit: 100000, remaining: 98500, reset_ms: 60000 }], reserved: { tokens: 1500, usd_micros: 0 } },
    response_findings: { email: 1 },
    ...over,
  };
}
