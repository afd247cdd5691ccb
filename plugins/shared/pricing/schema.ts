/**
 * The price fields of a plugin config, one declaration for every plugin that prices
 * requests (llm-rate-limit's USD budgets, llm-audit's cost field), so both read the
 * same overrides the same way (compilePriceTable).
 */
import { map, number, record } from '../kong-schema';

const usd = (description: string) => number({ between: [0, 1000000], description });

const priceFields = {
  input: number({ required: true, between: [0, 1000000], description: 'USD per 1M prompt tokens.' }),
  cached_input: usd('USD per 1M cached prompt tokens (default: input).'),
  output: number({ required: true, between: [0, 1000000], description: 'USD per 1M completion tokens.' }),
};

const price = (description: string) => record(priceFields, { description });

/** `prices`: overrides per model on top of the shipped table. */
export const pricesField = (description: string) => map(price('A model\'s price in USD per 1M tokens.'), { default: {}, description });

/**
 * `default_price`: the price of a model the table does not know. Optional: Kong makes a
 * record field required unless it says `required: false` (entity.lua make_records_required).
 */
export const defaultPriceField = (description: string) => record(priceFields, { required: false, description });
