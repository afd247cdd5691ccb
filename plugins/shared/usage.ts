/**
 * The token usage of one answer, published once in `kong.ctx.shared` under
 * `USAGE_CTX_KEY` by whoever sees the answer (llm-response-guard, which buffers it; a Lua
 * `body_filter` on routes that do not buffer) and read by llm-rate-limit (to settle what
 * it reserved) and llm-audit (to log it). One shape, whoever writes it.
 *
 * OpenAI reports usage in two vocabularies (OpenAI API reference):
 * - Chat Completions, Completions: `{prompt_tokens, completion_tokens, total_tokens,
 *   prompt_tokens_details.cached_tokens, completion_tokens_details.reasoning_tokens}`;
 *   Embeddings: `{prompt_tokens, total_tokens}` only (nothing is generated);
 * - Responses: `{input_tokens, output_tokens, total_tokens,
 *   input_tokens_details.cached_tokens, output_tokens_details.reasoning_tokens}`.
 * Both map onto the Chat names here.
 *
 * The value crosses Kong's Lua side: a null member disappears and an empty table comes
 * back as `[]` (test/bridge/lua-values.ts). `readUsage` undoes that and refuses anything
 * else that does not have the shape (null: treat the usage as unknown, never guess).
 *
 * llm-response-guard adds one member of its own, `answer_check` (plugins/shared/marks.ts
 * `AnswerCheck`: findings counts, never text), to the usage it publishes: readUsage
 * ignores it, the Lua body_filter never writes it, serialize-values.lua copies it.
 *
 * When the Lua body_filter saw a whole answer without a usage in it (an error, a gzip
 * body, a stream without include_usage), it leaves an `UnmeasuredAnswer` (`source:
 * "none"`) under the same key instead: `readUsage` refuses it, `readUnmeasuredAnswer`
 * reads it. Nothing under the key means the answer was not seen to its end.
 */
import { isObj, isNonNegInt as nonNegInt } from './values';

export interface LlmUsage {
  prompt_tokens: number;
  /** 0 for embeddings. */
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens served from OpenAI's prompt cache; null when not reported. */
  cached_tokens: number | null;
  /** Completion tokens spent on reasoning (o-series); null when not reported. */
  reasoning_tokens: number | null;
  /** `response`: a JSON answer's `usage`; `stream`: the usage event of an SSE stream. */
  source: 'response' | 'stream';
}

/** Key of the usage in `kong.ctx.shared`; the Lua body_filter writes the same name. */
export const USAGE_CTX_KEY = 'llm_usage';

/**
 * A count from a details object: absent (or null) is unknown; present, it must be a
 * non-negative integer, else the whole usage is refused (undefined).
 */
function detail(details: unknown, key: string): number | null | undefined {
  if (details === undefined || details === null) return null;
  if (!isObj(details)) return undefined;
  const v = details[key];
  if (v === undefined || v === null) return null;
  return nonNegInt(v) ? v : undefined;
}

/**
 * The usage object of an OpenAI answer (the `usage` member of a chat completion,
 * completion, embeddings list or response, or of a stream's usage event) in the suite's
 * shape, without `source` (the caller knows where it read it). Null when `obj` is not a
 * usage object: a count missing or not a non-negative integer. The Responses vocabulary
 * is recognized by `input_tokens`; `completion_tokens` may be absent (embeddings: 0).
 * `total_tokens` is taken as reported, not recomputed.
 */
export function usageFromOpenAi(obj: unknown): Omit<LlmUsage, 'source'> | null {
  if (!isObj(obj)) return null;
  const responses = obj.input_tokens !== undefined || obj.output_tokens !== undefined;
  const prompt = responses ? obj.input_tokens : obj.prompt_tokens;
  const completion = responses ? obj.output_tokens : (obj.completion_tokens ?? 0);
  const total = obj.total_tokens;
  if (!nonNegInt(prompt) || !nonNegInt(completion) || !nonNegInt(total)) return null;
  const cached = detail(responses ? obj.input_tokens_details : obj.prompt_tokens_details, 'cached_tokens');
  const reasoning = detail(responses ? obj.output_tokens_details : obj.completion_tokens_details, 'reasoning_tokens');
  if (cached === undefined || reasoning === undefined) return null;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: total,
    cached_tokens: cached,
    reasoning_tokens: reasoning,
  };
}

/**
 * The usage as `kong.ctx.shared.get(USAGE_CTX_KEY)` returns it, normalized (absent
 * members → null), or null when `value` is not a usage (including the `[]` an empty
 * table comes back as, and anything without a valid `source`).
 */
export function readUsage(value: unknown): LlmUsage | null {
  if (!isObj(value)) return null;
  const { prompt_tokens, completion_tokens, total_tokens, source } = value;
  if (!nonNegInt(prompt_tokens) || !nonNegInt(completion_tokens) || !nonNegInt(total_tokens)) return null;
  if (source !== 'response' && source !== 'stream') return null;
  const cached = value.cached_tokens ?? null;
  const reasoning = value.reasoning_tokens ?? null;
  if ((cached !== null && !nonNegInt(cached)) || (reasoning !== null && !nonNegInt(reasoning))) return null;
  return {
    prompt_tokens,
    completion_tokens,
    total_tokens,
    cached_tokens: cached,
    reasoning_tokens: reasoning,
    source,
  };
}

/**
 * What kong/lua/usage-capture.lua publishes under `USAGE_CTX_KEY` (and as the serialize
 * value `llm.usage`) when the upstream's answer ended without a usage it could read:
 * enough for a reader to decide what to charge (an error status: nothing was
 * generated; a 2xx without usage: estimate from `answer_bytes`).
 */
export interface UnmeasuredAnswer {
  source: 'none';
  /** The HTTP status the upstream answered with. */
  status: number;
  /** Bytes of the upstream body as it passed the filter, before the usage-only event was dropped; compressed bytes when `encoded`. */
  answer_bytes: number;
  /** The answer was an SSE stream (Content-Type text/event-stream). */
  stream: boolean;
  /** The answer had a Content-Encoding other than identity (it was not read). */
  encoded: boolean;
}

/**
 * The unmeasured-answer record as `kong.ctx.shared.get(USAGE_CTX_KEY)` returns it, or
 * null when `value` is anything else (a usage, `[]`, a member missing or of another
 * type). None of its members is optional, so the Lua round trip (null members
 * dropped) cannot make a valid record out of a partial one.
 */
export function readUnmeasuredAnswer(value: unknown): UnmeasuredAnswer | null {
  if (!isObj(value)) return null;
  const { source, status, answer_bytes, stream, encoded } = value;
  if (source !== 'none') return null;
  // 100..599: what nginx can answer with; anything else is not a status
  if (!nonNegInt(status) || status < 100 || status > 599) return null;
  if (!nonNegInt(answer_bytes) || typeof stream !== 'boolean' || typeof encoded !== 'boolean') return null;
  return { source, status, answer_bytes, stream, encoded };
}
