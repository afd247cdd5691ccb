/**
 * Tokens and cost of one request for the audit record, saying which numbers were
 * measured and which guessed:
 * - usage captured (llm-response-guard or the usage-capture Lua): every count `exact`,
 *   as OpenAI reported it;
 * - no usage: prompt tokens from llm-guard's facts (its own count, `exact` when it
 *   tokenized, else `estimated`), completion tokens estimated from the answer's size
 *   the body_filter recorded (plugins/shared/usage-estimate.ts), with that estimate's
 *   error bound; an error answer: 0 (OpenAI bills none).
 * Cost comes from the one price table (plugins/shared/pricing, `costOf`), the same
 * llm-rate-limit's USD budgets use; it is `estimated` as soon as one count is.
 * No counts, no cost: the fields stay null rather than a made-up zero.
 * Pure: no Kong, no I/O.
 */
import { costOf, type PriceTable } from '../../shared/pricing';
import type { RequestFacts } from '../../shared/request/facts';
import { readUsage } from '../../shared/usage';
import { actualUsage, type RequestSide } from '../../shared/usage-actual';

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

/** What the request side knew, for an estimate (the request facts). */
function requestSide(facts: RequestFacts | null): RequestSide | null {
  if (!facts) return null;
  return { endpoint: facts.endpoint, model: facts.model, stream: facts.stream, include_usage: facts.include_usage_injected, prompt_tokens: facts.prompt_tokens };
}

/**
 * The record's tokens and cost from what was published: `published` is the value under
 * `USAGE_CTX_KEY` (a usage, or the body_filter's unmeasured-answer record). The counts
 * come from plugins/shared/usage-actual.ts, the path llm-rate-limit settles with, so
 * the audit and the limits agree. Never throws.
 */
export function tokensAndCost(prices: PriceTable, facts: RequestFacts | null, published: unknown): { tokens: RecordTokens; cost: RecordCost } {
  const actual = actualUsage(requestSide(facts), published);
  const usage = readUsage(published);
  let tokens: RecordTokens;
  if (actual) {
    const estimated = actual.method === 'estimated';
    tokens = {
      prompt: actual.prompt_tokens,
      prompt_method: estimated ? (facts?.prompt_tokens_method ?? 'estimated') : 'exact',
      completion: actual.completion_tokens,
      completion_method: estimated ? 'estimated' : 'exact',
      total: actual.total_tokens,
      cached: actual.cached_tokens,
      reasoning: usage?.reasoning_tokens ?? null,
      completion_error_bound: estimated ? actual.error_bound : null,
      usage_source: usage?.source ?? null,
    };
  } else if (facts && facts.prompt_tokens !== null) {
    // the prompt was counted, the answer is unknown (compressed, not estimated, nothing published)
    tokens = { ...NO_TOKENS, prompt: facts.prompt_tokens, prompt_method: facts.prompt_tokens_method };
  } else {
    tokens = { ...NO_TOKENS };
  }
  if (tokens.prompt === null || tokens.completion === null) return { tokens, cost: { ...NO_COST } };
  const c = costOf(prices, facts?.model ?? null, { prompt_tokens: tokens.prompt, completion_tokens: tokens.completion, cached_tokens: tokens.cached });
  const exact = tokens.prompt_method === 'exact' && tokens.completion_method === 'exact';
  return {
    tokens,
    cost: { usd: c.usd_micros / 1e6, usd_micros: c.usd_micros, basis: exact ? 'exact' : 'estimated', known: c.known, model_key: c.model_key, prices_as_of: prices.as_of },
  };
}
