/**
 * What an OpenAI request costs, in integer micro-dollars: the price table compiled
 * once per config (OpenAI's list prices, openai-prices.ts, with the operator's
 * overrides), then per request a lookup and integer arithmetic. Pure: no Kong, no I/O.
 * Used by llm-rate-limit (USD budgets: reserve with `estimateCostMicros`, settle with
 * `costOf`) and llm-audit (the cost field).
 *
 * Units. A price is USD per 1M tokens, which is exactly micro-dollars per token, so a
 * cost is Σ tokens × price micro-dollars. Prices become integer pico-dollars per
 * token (price × 10^6, i.e. 6 decimals of USD per 1M tokens; finer digits are rounded)
 * and multiplied as BigInt, so no floating-point error can push a cost over or under a
 * micro-dollar; the sum is then rounded up to a whole micro-dollar.
 */
import { OPENAI_PRICES, OPENAI_PRICES_AS_OF, OPENAI_PRICES_SOURCE, type PriceEntry } from './openai-prices';
import { isObj } from '../values';

export { OPENAI_PRICES, OPENAI_PRICES_AS_OF, OPENAI_PRICES_SOURCE, type PriceEntry };

/** A price as configured: USD per 1M tokens. `cached_input` defaults to `input`. */
export interface PriceInput {
  input: number;
  cached_input?: number | null;
  output: number;
}

/** The price a model resolved to. */
export interface ModelPrice {
  /** USD per 1M tokens. */
  input: number;
  cached_input: number;
  output: number;
  /** The table key that matched (lower case), e.g. `gpt-4o` for `gpt-4o-2024-08-06`. */
  model_key: string;
  /** `table`: OpenAI's list price as shipped; `override`: the operator's. */
  source: 'table' | 'override';
  /** The model is a fine-tune (`ft:...`). */
  fine_tune: boolean;
  /** Why this price may not be the bill (fine-tune at its base price, UNSURE entries). */
  note: string | null;
}

export interface PriceTable {
  /** The shipped table's date and source (overrides are the operator's own). */
  readonly as_of: string;
  readonly source_note: string;
  /** Price of models the table does not know; null: they cost 0. */
  readonly default_price: Readonly<PriceInput> | null;
  /** The price of `model`, or null when no key matches (see openai-prices.ts). */
  priceOf(model: string | null | undefined): ModelPrice | null;
}

export interface PriceTableOptions {
  /**
   * The price of a model the table does not know. Unset (null): such a request costs 0
   * and is reported `known: false`, so a USD budget does not count it; set it (to the
   * dearest model you allow, say) when an unknown model must not be free.
   */
  default_price?: PriceInput | null;
}

/** Tokens as OpenAI reports them (`LlmUsage` fits). */
export interface CostUsage {
  prompt_tokens: number;
  completion_tokens: number;
  /** Prompt tokens served from the prompt cache (a part of `prompt_tokens`). */
  cached_tokens?: number | null;
}

export interface Cost {
  /** Integer micro-dollars (1e-6 USD), rounded up. */
  usd_micros: number;
  /** The model was found in the table (false: the default price, or 0, was used). */
  known: boolean;
  /** The matched table key, null when unknown. */
  model_key: string | null;
}

/** A price configuration the table refuses; the message names the model key, never a value. */
export class PriceConfigError extends Error {
  override readonly name = 'PriceConfigError';
}

/** Model keys: OpenAI model ids and fine-tune ids (`ft:gpt-4o-mini-2024-07-18:org::id`). */
const MODEL_KEY = /^[a-z0-9._:-]{1,128}$/;
/** What may follow a key for a longer model name to belong to its family. */
const FAMILY_SEPARATORS = '-:';
const FINE_TUNE_PREFIX = 'ft:';
/** Pico-dollars per micro-dollar: prices are kept as pico-dollars per token. */
const PICO_PER_MICRO = 1_000_000n;

interface Compiled {
  key: string;
  price: ModelPrice;
}

/** Kong hands an empty map back as `[]` (a Lua empty table). */
const isEmptyTable = (v: unknown): boolean => Array.isArray(v) && v.length === 0;

/** Largest price kept: its pico-dollars must stay a safe integer ($9e9 per 1M tokens). */
const MAX_PRICE = Number.MAX_SAFE_INTEGER / 1e6;

/** USD per 1M tokens → integer pico-dollars per token (what is not a price >= 0 counts 0). */
const toPico = (usdPerMillion: number): bigint =>
  Number.isFinite(usdPerMillion) && usdPerMillion > 0 ? BigInt(Math.round(Math.min(usdPerMillion, MAX_PRICE) * 1e6)) : 0n;

function checkPrice(where: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > MAX_PRICE) {
    throw new PriceConfigError(`${where}.${field}: must be a non-negative finite number of USD per 1M tokens`);
  }
  return v;
}

/** A configured price, checked: numbers >= 0, `cached_input` <= `input` (reservations stay an upper bound). */
function readPrice(where: string, raw: unknown): PriceInput & { cached_input: number } {
  if (!isObj(raw)) throw new PriceConfigError(`${where}: must be an object with input, cached_input and output`);
  const input = checkPrice(where, 'input', raw.input);
  const output = checkPrice(where, 'output', raw.output);
  const cached = raw.cached_input === undefined || raw.cached_input === null ? input : checkPrice(where, 'cached_input', raw.cached_input);
  if (cached > input) throw new PriceConfigError(`${where}.cached_input: must not exceed input`);
  return { input, cached_input: cached, output };
}

function compileEntry(key: string, p: PriceInput & { cached_input: number }, source: ModelPrice['source'], note: string | null): Compiled {
  return {
    key,
    price: { input: p.input, cached_input: p.cached_input, output: p.output, model_key: key, source, fine_tune: false, note },
  };
}

/** Whether `model` is `key` or belongs to its family (`key` then `-` or `:`). */
function inFamily(model: string, key: string): boolean {
  return model.startsWith(key) && (model.length === key.length || FAMILY_SEPARATORS.includes(model[key.length]));
}

const FINE_TUNE_AT_BASE = 'fine-tune priced at its base model; OpenAI bills fine-tuned inference higher: add an ft: price';

/** The compiled table behind `PriceTable`. */
class CompiledTable implements PriceTable {
  readonly as_of = OPENAI_PRICES_AS_OF;
  readonly source_note = OPENAI_PRICES_SOURCE;
  /** Longest key first, so the first match is the longest. */
  private readonly entries: Compiled[];

  constructor(
    byKey: Map<string, Compiled>,
    readonly default_price: Readonly<PriceInput> | null,
  ) {
    this.entries = [...byKey.values()].sort((a, b) => b.key.length - a.key.length || (a.key < b.key ? -1 : 1));
  }

  /** The entry for `model`; a fine-tune without an `ft:` entry falls back to its base model's. */
  private resolve(model: string | null | undefined): { entry: Compiled; fineTune: boolean } | null {
    if (typeof model !== 'string' || model === '') return null;
    const m = model.toLowerCase();
    const fineTune = m.startsWith(FINE_TUNE_PREFIX);
    const direct = this.entries.find((e) => inFamily(m, e.key));
    if (direct) return { entry: direct, fineTune };
    if (!fineTune) return null;
    const base = m.slice(FINE_TUNE_PREFIX.length);
    const viaBase = this.entries.find((e) => !e.key.startsWith(FINE_TUNE_PREFIX) && inFamily(base, e.key));
    return viaBase ? { entry: viaBase, fineTune: true } : null;
  }

  priceOf(model: string | null | undefined): ModelPrice | null {
    const r = this.resolve(model);
    if (!r) return null;
    if (!r.fineTune) return { ...r.entry.price };
    const atBase = !r.entry.key.startsWith(FINE_TUNE_PREFIX);
    const note = atBase ? [FINE_TUNE_AT_BASE, r.entry.price.note].filter((n) => n).join('; ') : r.entry.price.note;
    return { ...r.entry.price, fine_tune: true, note };
  }
}

/**
 * The price table: OpenAI's list prices (openai-prices.ts) with `overrides` applied.
 * An override replaces a shipped entry of the same key whole (a missing `cached_input`
 * means no caching discount, never the shipped one) or adds a model or family; keys
 * are case-insensitive and follow the same family rule (`my-model` also prices
 * `my-model-2025-01-01`). Kong's empty map (`[]`) and null mean no overrides.
 * Call once per config, not per request.
 * @throws PriceConfigError naming the model key (never a value) of the first bad entry
 */
export function compilePriceTable(overrides?: Record<string, PriceInput> | null | unknown[], options: PriceTableOptions = {}): PriceTable {
  const byKey = new Map<string, Compiled>();
  for (const [key, p] of Object.entries(OPENAI_PRICES)) {
    byKey.set(key, compileEntry(key, { ...p, cached_input: p.cached_input }, 'table', p.note ?? null));
  }
  if (overrides !== undefined && overrides !== null && !isEmptyTable(overrides)) {
    if (!isObj(overrides)) throw new PriceConfigError('prices: must be a map of model name to price');
    const seen = new Set<string>();
    for (const [rawKey, raw] of Object.entries(overrides)) {
      const key = rawKey.toLowerCase();
      if (!MODEL_KEY.test(key)) throw new PriceConfigError('prices: a model key must be 1-128 characters of a-z 0-9 . _ : -');
      if (seen.has(key)) throw new PriceConfigError(`prices.${key}: given twice (keys are case-insensitive)`);
      seen.add(key);
      byKey.set(key, compileEntry(key, readPrice(`prices.${key}`, raw), 'override', null));
    }
  }
  let defaultPrice: (PriceInput & { cached_input: number }) | null = null;
  if (options.default_price !== undefined && options.default_price !== null && !isEmptyTable(options.default_price)) {
    defaultPrice = readPrice('default_price', options.default_price);
  }
  return new CompiledTable(byKey, defaultPrice ? Object.freeze({ ...defaultPrice }) : null);
}

/** A token count as a BigInt: not a finite positive number → 0; fractions round up. */
function tokens(n: number | null | undefined): bigint {
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) return 0n;
  return BigInt(Math.min(Math.ceil(n), Number.MAX_SAFE_INTEGER));
}

/** Pico-dollars → micro-dollars, rounded up. */
const toMicros = (pico: bigint): number => Number((pico + PICO_PER_MICRO - 1n) / PICO_PER_MICRO);

/**
 * What an answer cost: cached prompt tokens at the cached rate, the rest of the prompt
 * at the input rate, completion tokens (reasoning included, as OpenAI bills them) at
 * the output rate, rounded up to a whole micro-dollar. `cached_tokens` above
 * `prompt_tokens` is cut to it; counts that are not finite positive numbers count 0,
 * fractions round up. Unknown model: the table's `default_price`, else 0, `known: false`.
 */
export function costOf(table: PriceTable, model: string | null | undefined, usage: CostUsage): Cost {
  const found = table.priceOf(model);
  const price = found ?? table.default_price;
  const known = found !== null;
  const key = found ? found.model_key : null;
  if (!price) return { usd_micros: 0, known, model_key: key };
  const cachedRate = price.cached_input ?? price.input;
  const prompt = tokens(usage.prompt_tokens);
  const cachedRaw = tokens(usage.cached_tokens);
  const cached = cachedRaw < prompt ? cachedRaw : prompt;
  const total =
    (prompt - cached) * toPico(price.input) + cached * toPico(cachedRate) + tokens(usage.completion_tokens) * toPico(price.output);
  return { usd_micros: toMicros(total), known, model_key: key };
}

/**
 * The most a request can cost, for a reservation: every prompt token at the input
 * price (no cache hit assumed) and `maxCompletionTokens` at the output price. The
 * caller supplies the completion bound (the request's max tokens × n, or its own cap
 * when the request sets none). Same rounding and unknown-model rule as `costOf`, and
 * never below `costOf` of any usage within those counts.
 */
export function estimateCostMicros(table: PriceTable, model: string | null | undefined, promptTokens: number, maxCompletionTokens: number): Cost {
  return costOf(table, model, { prompt_tokens: promptTokens, completion_tokens: maxCompletionTokens, cached_tokens: 0 });
}
