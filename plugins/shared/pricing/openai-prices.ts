/**
 * OpenAI's list prices (Standard tier, text tokens), in USD per 1M tokens, as data.
 *
 * Source: OpenAI's API pricing page (https://openai.com/api/pricing/ and
 * https://platform.openai.com/docs/pricing), transcribed from the author's knowledge
 * of that page on `as_of`; this code never fetches it. Prices change (o3 was cut 80% in
 * June 2025): check the page and override from config (`compilePriceTable`) before
 * billing anyone with these numbers. Every entry the author is not sure of says so in
 * a comment (UNSURE) and in its `note`.
 *
 * Not priced here, whatever the model: the Batch API (-50%), Flex and Priority tiers,
 * audio and image tokens (gpt-4o-audio-preview's audio costs far more than its text),
 * web-search and other tool-call fees, and reasoning tokens beyond what `usage` reports
 * (they are part of `completion_tokens` and billed at the output rate, as here).
 *
 * How a model name finds its entry (pricing/index.ts): the longest key that is the
 * name or a prefix of it followed by `-` or `:` (case-insensitive). So dated snapshots
 * resolve to their family (`gpt-4o-2024-08-06` → `gpt-4o`) and a snapshot with its
 * own price needs its own key (`gpt-4o-2024-05-13`). A variant priced differently from
 * its family (`o3-pro`, `o3-deep-research`) MUST have a key, or it is silently billed
 * at the family's price. `.` is deliberately not a separator: `gpt-5.1` or `gpt-4.5`
 * are other models, not snapshots of `gpt-5` / `gpt-4`, and stay unknown unless listed.
 *
 * `cached_input` equal to `input` means the model has no prompt-caching discount.
 * Embeddings models generate nothing: `output` 0.
 */

/** One model's price in USD per 1M tokens. */
export interface PriceEntry {
  input: number;
  cached_input: number;
  output: number;
  /** Why the entry is special or how sure it is; shown with the price. */
  note?: string;
}

/** When the prices were last known right, and where they come from. */
export const OPENAI_PRICES_AS_OF = '2025-08-07';
export const OPENAI_PRICES_SOURCE =
  'OpenAI API pricing page (openai.com/api/pricing, platform.openai.com/docs/pricing), Standard tier, ' +
  'text tokens, USD per 1M tokens; transcribed by hand, not fetched: verify before billing';

const UNSURE = 'UNSURE: verify against the pricing page';

/**
 * The table. Keys are lower-case model families or snapshots. Ordered by family for
 * reading; lookup order is by key length, not by position.
 */
export const OPENAI_PRICES: Readonly<Record<string, PriceEntry>> = {
  // ---- GPT-5 (August 2025)
  'gpt-5': { input: 1.25, cached_input: 0.125, output: 10 }, // also gpt-5-chat-latest, gpt-5-codex, dated snapshots
  'gpt-5-mini': { input: 0.25, cached_input: 0.025, output: 2 },
  'gpt-5-nano': { input: 0.05, cached_input: 0.005, output: 0.4 },
  // UNSURE: released after as_of (October 2025); $15 / $120 as announced, no caching.
  // Listed so it is not billed at gpt-5's price (12x less) through the family match.
  'gpt-5-pro': { input: 15, cached_input: 15, output: 120, note: `${UNSURE} (released after as_of)` },

  // ---- GPT-4.1 (April 2025)
  'gpt-4.1': { input: 2, cached_input: 0.5, output: 8 },
  'gpt-4.1-mini': { input: 0.4, cached_input: 0.1, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, cached_input: 0.025, output: 0.4 },

  // ---- GPT-4o
  'gpt-4o': { input: 2.5, cached_input: 1.25, output: 10 }, // gpt-4o-2024-08-06, -2024-11-20; audio/search previews: text tokens only
  'gpt-4o-2024-05-13': { input: 5, cached_input: 5, output: 15, note: 'first gpt-4o snapshot, priced above the family; no caching' },
  'gpt-4o-mini': { input: 0.15, cached_input: 0.075, output: 0.6 },
  // UNSURE: caching discount; $5 / $15 as listed.
  'chatgpt-4o-latest': { input: 5, cached_input: 5, output: 15, note: UNSURE },

  // ---- o-series (reasoning tokens are completion tokens, billed at the output rate)
  o1: { input: 15, cached_input: 7.5, output: 60 }, // also o1-preview
  'o1-mini': { input: 1.1, cached_input: 0.55, output: 4.4 },
  'o1-pro': { input: 150, cached_input: 150, output: 600, note: 'no caching' },
  o3: { input: 2, cached_input: 0.5, output: 8, note: 'after the June 2025 price cut (was $10 / $40)' },
  'o3-mini': { input: 1.1, cached_input: 0.55, output: 4.4 },
  'o3-pro': { input: 20, cached_input: 20, output: 80, note: 'no caching' },
  // UNSURE: deep-research prices; listed so they are not billed at o3 / o4-mini's price.
  'o3-deep-research': { input: 10, cached_input: 2.5, output: 40, note: UNSURE },
  'o4-mini': { input: 1.1, cached_input: 0.275, output: 4.4 },
  'o4-mini-deep-research': { input: 2, cached_input: 0.5, output: 8, note: UNSURE },

  // ---- GPT-4.5 (deprecated July 2025)
  'gpt-4.5-preview': { input: 75, cached_input: 37.5, output: 150, note: 'deprecated' },

  // ---- GPT-4 Turbo and GPT-4 (no caching)
  'gpt-4-turbo': { input: 10, cached_input: 10, output: 30 }, // gpt-4-turbo-2024-04-09
  'gpt-4-turbo-preview': { input: 10, cached_input: 10, output: 30 },
  'gpt-4-0125-preview': { input: 10, cached_input: 10, output: 30 },
  'gpt-4-1106-preview': { input: 10, cached_input: 10, output: 30 },
  'gpt-4-vision-preview': { input: 10, cached_input: 10, output: 30 },
  'gpt-4': { input: 30, cached_input: 30, output: 60 }, // gpt-4-0613, gpt-4-0314
  'gpt-4-32k': { input: 60, cached_input: 60, output: 120 },

  // ---- GPT-3.5 (no caching). The alias points at gpt-3.5-turbo-0125.
  'gpt-3.5-turbo': { input: 0.5, cached_input: 0.5, output: 1.5 },
  // UNSURE: older snapshots, from the legacy-models price list.
  'gpt-3.5-turbo-1106': { input: 1, cached_input: 1, output: 2, note: UNSURE },
  'gpt-3.5-turbo-0613': { input: 1.5, cached_input: 1.5, output: 2, note: UNSURE },
  'gpt-3.5-turbo-0301': { input: 1.5, cached_input: 1.5, output: 2, note: UNSURE },
  'gpt-3.5-turbo-16k': { input: 3, cached_input: 3, output: 4, note: UNSURE },
  'gpt-3.5-turbo-instruct': { input: 1.5, cached_input: 1.5, output: 2 },

  // ---- Embeddings (input only)
  'text-embedding-3-small': { input: 0.02, cached_input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, cached_input: 0.13, output: 0 },
  'text-embedding-ada-002': { input: 0.1, cached_input: 0.1, output: 0 },

  // ---- Fine-tuned inference (`ft:<base>:<org>::<id>`), billed above the base model.
  // UNSURE: fine-tuned inference prices; a fine-tune with no `ft:` key is priced as its
  // base model, with a note saying so.
  'ft:gpt-4o': { input: 3.75, cached_input: 1.875, output: 15, note: UNSURE },
  'ft:gpt-4o-mini': { input: 0.3, cached_input: 0.15, output: 1.2, note: UNSURE },
  'ft:gpt-4.1': { input: 3, cached_input: 0.75, output: 12, note: UNSURE },
  'ft:gpt-4.1-mini': { input: 0.8, cached_input: 0.2, output: 3.2, note: UNSURE },
  'ft:gpt-4.1-nano': { input: 0.2, cached_input: 0.05, output: 0.8, note: UNSURE },
  'ft:gpt-3.5-turbo': { input: 3, cached_input: 3, output: 6, note: UNSURE },
};
