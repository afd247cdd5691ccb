/**
 * The tokens an answer actually used, from whatever the response side published under
 * `USAGE_CTX_KEY`: the exact usage OpenAI reported, an estimate from the answer's size
 * when it reported none (usage-estimate.ts, with its error bound), nothing billed when
 * OpenAI answered an error, or unknown (null: a compressed body, a stream kind that is
 * not estimated, nothing published). llm-rate-limit settles its reservations with it
 * and llm-audit logs it, so both say the same. Pure.
 */
import type { Endpoint } from './request/openai';
import { readUnmeasuredAnswer, readUsage } from './usage';
import { estimateCompletionTokens } from './usage-estimate';

export interface ActualUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Prompt tokens served from the prompt cache (exact usage only). */
  cached_tokens: number | null;
  /** exact: OpenAI's usage; estimated: from the answer's size; not_billed: an error answer. */
  method: 'exact' | 'estimated' | 'not_billed';
  /** The true total is within `total_tokens ± error_bound` (0 unless estimated). */
  error_bound: number;
  /** Estimated for a reasoning model: hidden reasoning tokens are missing (a lower bound). */
  reasoning_unseen: boolean;
}

/** What the request side knew (the request facts). */
export interface RequestSide {
  endpoint: Endpoint;
  model: string | null;
  stream: boolean;
  /** The forwarded stream asked for usage (each chunk then carries `"usage":null`). */
  include_usage: boolean;
  /** Prompt tokens as counted before forwarding; null when not counted. */
  prompt_tokens: number | null;
}

const isSuccess = (status: number): boolean => status >= 200 && status < 300;

export function actualUsage(request: RequestSide, published: unknown): ActualUsage | null {
  const usage = readUsage(published);
  if (usage) {
    return {
      prompt_tokens: usage.prompt_tokens,
      completion_tokens: usage.completion_tokens,
      total_tokens: usage.total_tokens,
      cached_tokens: usage.cached_tokens,
      method: 'exact',
      error_bound: 0,
      reasoning_unseen: false,
    };
  }
  const answer = readUnmeasuredAnswer(published);
  if (!answer) return null;
  // OpenAI bills no tokens for a request it refused or failed (4xx, 5xx)
  if (!isSuccess(answer.status)) {
    return { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cached_tokens: null, method: 'not_billed', error_bound: 0, reasoning_unseen: false };
  }
  if (answer.encoded || request.prompt_tokens === null) return null;
  const estimate = estimateCompletionTokens({
    endpoint: request.endpoint,
    model: request.model,
    stream: answer.stream,
    bytes: answer.answer_bytes,
    include_usage: request.include_usage,
  });
  if (!estimate) return null;
  return {
    prompt_tokens: request.prompt_tokens,
    completion_tokens: estimate.completion_tokens,
    total_tokens: request.prompt_tokens + estimate.completion_tokens,
    cached_tokens: null,
    method: 'estimated',
    error_bound: estimate.error_bound,
    reasoning_unseen: estimate.reasoning_unseen,
  };
}
