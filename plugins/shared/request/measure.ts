/**
 * The request facts of a body nobody checked: what llm-rate-limit needs when llm-guard
 * is not on the route (or published nothing) and it reads the body itself. The same
 * counting llm-guard runs (tokens.ts), the same shape it publishes (facts.ts), and the
 * one place that adds `stream_options.include_usage` to a stream (llm-guard uses it too).
 *
 * Bounded: the body is parsed with the suite's JSON limits; a body that does not parse
 * or is not a JSON object yields null (the caller counts the request only, never
 * guesses tokens).
 */
import type { RequestFacts } from './facts';
import { parseJsonBody, type JsonLimits } from './json';
import type { Endpoint } from './openai';
import { countPromptTokens, requestedCompletionTokens } from './tokens';
import { isObj, type Obj } from '../values';

/**
 * Limits for a body read only to count it: looser than llm-guard's (which refuses what
 * it will not scan), since here a body that does not parse is forwarded uncounted:
 * an embeddings input of 8k token ids, deeply nested tool parameters must still count.
 */
export const MEASURE_JSON_LIMITS: JsonLimits = { maxDepth: 128, maxStringBytes: 2 * 1024 * 1024, maxArrayLength: 1_000_000 };

/**
 * `body` with `stream_options.include_usage: true` when it streams a Chat Completions or
 * Completions answer without asking for usage (so the stream ends with the usage event
 * and limits and audit get exact tokens); null when nothing needs adding. Responses
 * streams always end with their usage; embeddings do not stream.
 */
export function withStreamUsage(endpoint: Endpoint, body: Obj): Obj | null {
  if (body.stream !== true || (endpoint !== 'chat.completions' && endpoint !== 'completions')) return null;
  const options = isObj(body.stream_options) ? body.stream_options : {};
  if (options.include_usage === true) return null;
  return { ...body, stream_options: { ...options, include_usage: true } };
}

function uncounted(endpoint: Endpoint): RequestFacts {
  return {
    endpoint,
    model: null,
    stream: false,
    include_usage_injected: false,
    prompt_tokens: null,
    prompt_tokens_method: null,
    requested_completion_tokens: null,
    findings: { pii: {}, injection: [], blocked: false },
    body_rewritten: false,
  };
}

export interface MeasuredRequest {
  facts: RequestFacts;
  /** The body to forward when `include_usage` added the usage request; else null. */
  body: string | null;
}

/**
 * The facts of `raw` (no findings: nothing was scanned). A body that is not a JSON
 * object (or past the limits) still gets facts, with no model and no prompt count: the
 * request goes to `endpoint`, and its answer's usage can still be settled exactly.
 */
export function measureRequest(endpoint: Endpoint, raw: Uint8Array | string, options: { includeUsage: boolean; limits?: JsonLimits }): MeasuredRequest {
  const parsed = parseJsonBody(raw, options.limits ?? MEASURE_JSON_LIMITS);
  if (!parsed.ok || !isObj(parsed.value)) return { facts: uncounted(endpoint), body: null };
  const body = parsed.value;
  const model = typeof body.model === 'string' ? body.model : null;
  const tokens = countPromptTokens(endpoint, model, body);
  const injected = options.includeUsage ? withStreamUsage(endpoint, body) : null;
  return {
    facts: {
      endpoint,
      model,
      stream: body.stream === true,
      include_usage_injected: injected !== null,
      prompt_tokens: tokens.tokens,
      prompt_tokens_method: tokens.method,
      requested_completion_tokens: requestedCompletionTokens(endpoint, body),
      findings: { pii: {}, injection: [], blocked: false },
      body_rewritten: injected !== null,
    },
    body: injected === null ? null : JSON.stringify(injected),
  };
}
