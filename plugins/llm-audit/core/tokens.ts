/**
 * Tokens and cost of one request for the audit record, saying which numbers were
 * measured and which guessed:
 * - usage captured (llm-response-guard or the usage-capture Lua): every count `exact`,
 *   as OpenAI reported it;
 * - no usage: prompt tokens from llm-guard's facts (its own count, `exact` when it
 *   tokenized, else `estimated`), completion tokens estimated from the answer's size
 *   (plugins/shared/usage-estimate.ts), with that estimate's error bound.
 * Cost comes from the one price table (plugins/shared/pricing, `costOf`), the same
 * llm-rate-limit's USD budgets use; it is `estimated` as soon as one count is.
 * No counts, no cost: the fields stay null rather than a made-up zero.
 * Pure: no Kong, no I/O.
 */
import { costOf, type PriceTable } from '../../shared/pricing';
import type { RequestFacts } from '../../shared/request/facts';
import { estimateCompletionTokens } from '../../shared/usage-estimate';
import type { LlmUsage } from '../../shared/usage';
import { isObj, nonNegInt } from './text';

export type Method = 'exact' | 'estimated';

export interface RecordTokens {
  prompt: number | null;
  prompt_method: Method | null;
  completion: number | null;
  completion_method: Method | null;
  total: number | null;
  cached: number | null;
  reasoning: number | null;
  /** Estimated completion: the true count is within `completion ± completion_error_bound`. */
  completion_error_bound: number | null;
  /** Usage captured from a JSON answer or a stream's usage event; null when estimated. */
  usage_source: 'response' | 'stream' | null;
}

export interface RecordCost {
  /** USD, from `usd_micros` (integer micro-dollars, rounded up). */
  usd: number | null;
  usd_micros: number | null;
  basis: Method | null;
  /** The model was in the price table (false: default price or 0). */
  known: boolean | null;
  model_key: string | null;
  /** Date of the shipped price table. */
  prices_as_of: string | null;
}

const NO_TOKENS: RecordTokens = {
  prompt: null,
  prompt_method: null,
  completion: null,
  completion_method: null,
  total: null,
  cached: null,
  reasoning: null,
  completion_error_bound: null,
  usage_source: null,
};
const NO_COST: RecordCost = { usd: null, usd_micros: null, basis: null, known: null, model_key: null, prices_as_of: null };

function fromUsage(u: LlmUsage): RecordTokens {
  return {
    prompt: u.prompt_tokens,
    prompt_method: 'exact',
    completion: u.completion_tokens,
    completion_method: 'exact',
    total: u.total_tokens,
    cached: u.cached_tokens,
    reasoning: u.reasoning_tokens,
    completion_error_bound: null,
    usage_source: u.source,
  };
}

function fromFacts(facts: RequestFacts, answer: unknown): RecordTokens {
  const a = isObj(answer) ? answer : null;
  const bytes = a ? nonNegInt(a.bytes) : null;
  const chars = a ? nonNegInt(a.content_chars) : null;
  const estimate =
    bytes === null && chars === null
      ? null
      : estimateCompletionTokens({
          endpoint: facts.endpoint,
          model: facts.model,
          stream: facts.stream,
          bytes: bytes ?? 0,
          content_chars: chars,
          // the guard added include_usage: every chunk then carries "usage":null
          include_usage: facts.include_usage_injected || undefined,
        });
  const prompt = facts.prompt_tokens;
  const completion = estimate?.completion_tokens ?? null;
  return {
    prompt,
    prompt_method: prompt === null ? null : facts.prompt_tokens_method,
    completion,
    completion_method: completion === null ? null : 'estimated',
    total: prompt !== null && completion !== null ? prompt + completion : null,
    cached: null,
    reasoning: null,
    completion_error_bound: estimate?.error_bound ?? null,
    usage_source: null,
  };
}

/** The record's tokens and cost from what was published. Never throws. */
export function tokensAndCost(
  prices: PriceTable,
  facts: RequestFacts | null,
  usage: LlmUsage | null,
  answer: unknown,
): { tokens: RecordTokens; cost: RecordCost } {
  const tokens = usage ? fromUsage(usage) : facts ? fromFacts(facts, answer) : { ...NO_TOKENS };
  if (tokens.prompt === null || tokens.completion === null) return { tokens, cost: { ...NO_COST } };
  const c = costOf(prices, facts?.model ?? null, { prompt_tokens: tokens.prompt, completion_tokens: tokens.completion, cached_tokens: tokens.cached });
  const exact = tokens.prompt_method === 'exact' && tokens.completion_method === 'exact';
  return {
    tokens,
    cost: { usd: c.usd_micros / 1e6, usd_micros: c.usd_micros, basis: exact ? 'exact' : 'estimated', known: c.known, model_key: c.model_key, prices_as_of: prices.as_of },
  };
}
