/**
 * What our JS plugins publish in kong.ctx.shared, as the Lua chunks and the bridge's
 * emulation of them read it: llm-auth's identity (plugins/shared/marks.ts
 * PublishedIdentity), llm-guard's request facts (plugins/shared/request/facts.ts) and
 * a rate-limit log table (its shape is llm-rate-limit's; the Lua copies it as is).
 */
export const IDENTITY = { consumer: 'alice', tenant: 'acme', credential_id: 'alice-key-1', auth_method: 'api_key', scopes: ['openai:chat', 'openai:embeddings'] };
export const FACTS = {
  endpoint: 'chat_completions',
  model: 'gpt-4o-mini',
  stream: true,
  include_usage_injected: true,
  prompt_tokens: 19,
  prompt_tokens_method: 'exact',
  requested_completion_tokens: 256,
  body_rewritten: true,
  findings: { pii: { email: 2 }, injection: [{ rule_id: 'ignore-previous', category: 'override' }], blocked: false },
};
export const RATE_LIMIT_LOG = { decision: 'allow', limits: [{ name: 'tokens', remaining: 900, reserved: 275 }], store: 'redis' };
/** llm-response-guard's check of one answer (plugins/shared/marks.ts AnswerCheck). */
export const ANSWER_CHECK = { findings: { email: 2, openai_key: 1 }, blocked: false };
/** A usage as llm-response-guard publishes it (plugins/shared/usage.ts LlmUsage), carrying the check. */
export const USAGE = { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21, cached_tokens: 4, reasoning_tokens: 0, source: 'response' };
