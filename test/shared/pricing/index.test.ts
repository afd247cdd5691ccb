import fc from 'fast-check';
import {
  compilePriceTable,
  costOf,
  estimateCostMicros,
  OPENAI_PRICES,
  OPENAI_PRICES_AS_OF,
  PriceConfigError,
  type PriceTable,
} from '../../../plugins/shared/pricing';

const table = compilePriceTable();

describe('OPENAI_PRICES', () => {
  it('is dated and has a source note', () => {
    expect(table.as_of).toBe(OPENAI_PRICES_AS_OF);
    expect(table.as_of).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(table.source_note).toMatch(/pricing/);
  });

  it.each([
    'gpt-4o', 'gpt-4o-mini', 'gpt-4.1', 'gpt-4.1-mini', 'gpt-4.1-nano', 'o1', 'o1-mini', 'o3', 'o3-mini', 'o4-mini',
    'gpt-5', 'gpt-5-mini', 'gpt-5-nano', 'gpt-3.5-turbo', 'gpt-4-turbo',
    'text-embedding-3-small', 'text-embedding-3-large', 'text-embedding-ada-002',
  ])('lists %s', (model) => {
    expect(OPENAI_PRICES[model]).toBeDefined();
  });

  it('holds only valid prices: lower-case keys, numbers >= 0, cached <= input', () => {
    for (const [key, p] of Object.entries(OPENAI_PRICES)) {
      expect(key).toBe(key.toLowerCase());
      for (const v of [p.input, p.cached_input, p.output]) expect(Number.isFinite(v) && v >= 0).toBe(true);
      expect(p.cached_input).toBeLessThanOrEqual(p.input);
    }
  });

  it('prices embeddings models on input only', () => {
    for (const m of ['text-embedding-3-small', 'text-embedding-3-large', 'text-embedding-ada-002']) expect(OPENAI_PRICES[m].output).toBe(0);
  });
});

describe('PriceTable.priceOf', () => {
  it('finds a family by its exact name', () => {
    expect(table.priceOf('gpt-4o')).toEqual({
      input: 2.5, cached_input: 1.25, output: 10, model_key: 'gpt-4o', source: 'table', fine_tune: false, note: null,
    });
  });

  it.each([
    ['gpt-4o-2024-08-06', 'gpt-4o'],
    ['gpt-4o-2024-11-20', 'gpt-4o'],
    ['gpt-4o-mini-2024-07-18', 'gpt-4o-mini'],
    ['gpt-4.1-2025-04-14', 'gpt-4.1'],
    ['gpt-4.1-mini-2025-04-14', 'gpt-4.1-mini'],
    ['o3-mini-2025-01-31', 'o3-mini'],
    ['o1-preview', 'o1'],
    ['o3-2025-04-16', 'o3'],
    ['o3-pro-2025-06-10', 'o3-pro'],
    ['gpt-5-2025-08-07', 'gpt-5'],
    ['gpt-5-chat-latest', 'gpt-5'],
    ['gpt-5-mini-2025-08-07', 'gpt-5-mini'],
    ['gpt-4-turbo-2024-04-09', 'gpt-4-turbo'],
    ['gpt-4-0613', 'gpt-4'],
    ['gpt-4-32k-0613', 'gpt-4-32k'],
    ['gpt-3.5-turbo-0125', 'gpt-3.5-turbo'],
    ['gpt-3.5-turbo-1106', 'gpt-3.5-turbo-1106'],
    ['gpt-3.5-turbo-instruct-0914', 'gpt-3.5-turbo-instruct'],
  ])('resolves the snapshot %s to %s (longest family)', (model, key) => {
    expect(table.priceOf(model)?.model_key).toBe(key);
  });

  it('gives a snapshot priced apart from its family its own price', () => {
    expect(table.priceOf('gpt-4o-2024-05-13')).toMatchObject({ input: 5, output: 15, model_key: 'gpt-4o-2024-05-13' });
  });

  it('is case-insensitive', () => {
    expect(table.priceOf('GPT-4o-Mini-2024-07-18')?.model_key).toBe('gpt-4o-mini');
  });

  it.each([
    ['gpt-4o', 'gpt-4oo'],
    ['gpt-5', 'gpt-5.1'],
    ['gpt-4', 'gpt-4.2'],
    ['o1', 'o10'],
  ])('does not take a name that only starts like %s (%s) for its family', (_family, model) => {
    expect(table.priceOf(model)).toBeNull();
  });

  it('answers null for unknown, empty and missing models', () => {
    expect(table.priceOf('claude-3-opus')).toBeNull();
    expect(table.priceOf('')).toBeNull();
    expect(table.priceOf(null)).toBeNull();
    expect(table.priceOf(undefined)).toBeNull();
  });

  it('prices a fine-tune with an ft: entry at the fine-tuned rate', () => {
    const p = table.priceOf('ft:gpt-4o-mini-2024-07-18:acme-corp::9abcDEF1');
    expect(p).toMatchObject({ model_key: 'ft:gpt-4o-mini', fine_tune: true, input: 0.3, output: 1.2 });
  });

  it('prices a fine-tune without an ft: entry at its base model, with a note', () => {
    const p = table.priceOf('ft:o4-mini-2025-04-16:acme::xyz');
    expect(p).toMatchObject({ model_key: 'o4-mini', fine_tune: true, input: 1.1, output: 4.4 });
    expect(p?.note).toMatch(/fine-tune priced at its base model/);
  });

  it('returns a copy the caller cannot use to change the table', () => {
    const p = table.priceOf('gpt-4o')!;
    p.input = 0;
    expect(table.priceOf('gpt-4o')!.input).toBe(2.5);
  });
});

describe('compilePriceTable overrides', () => {
  it('replaces a shipped price whole, cached_input defaulting to input', () => {
    const t = compilePriceTable({ 'GPT-4o': { input: 3, output: 12 } });
    expect(t.priceOf('gpt-4o-2024-08-06')).toMatchObject({ input: 3, cached_input: 3, output: 12, model_key: 'gpt-4o', source: 'override' });
    expect(t.priceOf('gpt-4o-mini')).toMatchObject({ source: 'table', input: 0.15 });
  });

  it('adds a model and its family', () => {
    const t = compilePriceTable({ 'my-model': { input: 1, cached_input: 0.5, output: 2 } });
    expect(t.priceOf('my-model-2025-01-01')).toMatchObject({ model_key: 'my-model', cached_input: 0.5 });
  });

  it('lets an exact fine-tune id win over the ft: family', () => {
    const t = compilePriceTable({ 'ft:gpt-4o-mini-2024-07-18:acme::abc': { input: 9, output: 9 } });
    expect(t.priceOf('ft:gpt-4o-mini-2024-07-18:acme::abc')?.input).toBe(9);
    expect(t.priceOf('ft:gpt-4o-mini-2024-07-18:acme::other')?.model_key).toBe('ft:gpt-4o-mini');
  });

  it.each([null, undefined, []])('takes %p (Kong: no map) as no overrides', (v) => {
    expect(compilePriceTable(v as never).priceOf('gpt-4o')?.source).toBe('table');
  });

  it('accepts 0 as a price', () => {
    expect(costOf(compilePriceTable({ free: { input: 0, output: 0 } }), 'free', { prompt_tokens: 10, completion_tokens: 10 })).toEqual({
      usd_micros: 0, known: true, model_key: 'free',
    });
  });

  it.each([
    ['a negative price', { input: -1, output: 1 }, /prices\.bad\.input: must be a non-negative finite number/],
    ['NaN', { input: 1, output: NaN }, /prices\.bad\.output/],
    ['Infinity', { input: 1, output: Infinity }, /prices\.bad\.output/],
    ['a string', { input: '1', output: 1 }, /prices\.bad\.input/],
    ['a missing output', { input: 1 }, /prices\.bad\.output/],
    ['a negative cached price', { input: 1, cached_input: -0.5, output: 1 }, /prices\.bad\.cached_input/],
    ['a cached price above input', { input: 1, cached_input: 2, output: 1 }, /prices\.bad\.cached_input: must not exceed input/],
    ['not an object', 5, /prices\.bad: must be an object/],
  ])('refuses %s, naming the model key', (_what, price, message) => {
    expect(() => compilePriceTable({ bad: price } as never)).toThrow(PriceConfigError);
    expect(() => compilePriceTable({ bad: price } as never)).toThrow(message);
  });

  it('never puts the refused value in the message', () => {
    try {
      compilePriceTable({ m: { input: 123456.789e300, output: 1 } });
      throw new Error('no throw');
    } catch (e) {
      expect(e).toBeInstanceOf(PriceConfigError);
      expect((e as Error).message).not.toMatch(/123456/);
      expect((e as Error).message).not.toMatch(/["']/); // safeError keeps messages that quote nothing
    }
  });

  it('refuses keys that are not model names, without repeating them', () => {
    expect(() => compilePriceTable({ 'gpt 4o\n': { input: 1, output: 1 } })).toThrow(/^prices: a model key must be/);
    expect(() => compilePriceTable({ '': { input: 1, output: 1 } })).toThrow(PriceConfigError);
  });

  it('refuses the same key twice in different case', () => {
    expect(() => compilePriceTable({ 'Gpt-X': { input: 1, output: 1 }, 'gpt-x': { input: 2, output: 2 } })).toThrow(/prices\.gpt-x: given twice/);
  });

  it('refuses a map that is not a map', () => {
    expect(() => compilePriceTable([1] as never)).toThrow(/prices: must be a map/);
  });

  it('checks the default price the same way', () => {
    expect(() => compilePriceTable(null, { default_price: { input: -1, output: 1 } })).toThrow(/default_price\.input/);
  });
});

describe('costOf', () => {
  it('bills prompt at the input rate and completion at the output rate', () => {
    // gpt-4o: 1000 × $2.50/1M + 500 × $10/1M = 2500 + 5000 micro-dollars
    expect(costOf(table, 'gpt-4o-2024-08-06', { prompt_tokens: 1000, completion_tokens: 500 })).toEqual({
      usd_micros: 7500, known: true, model_key: 'gpt-4o',
    });
  });

  it('bills cached prompt tokens at the cached rate and the rest at the input rate', () => {
    // gpt-4.1: 600 × 2 + 400 × 0.5 + 100 × 8 = 1200 + 200 + 800
    expect(costOf(table, 'gpt-4.1', { prompt_tokens: 1000, completion_tokens: 100, cached_tokens: 400 }).usd_micros).toBe(2200);
  });

  it('treats null cached tokens as none cached', () => {
    expect(costOf(table, 'gpt-4.1', { prompt_tokens: 1000, completion_tokens: 0, cached_tokens: null }).usd_micros).toBe(2000);
  });

  it('cuts cached tokens above the prompt to the prompt', () => {
    expect(costOf(table, 'gpt-4.1', { prompt_tokens: 10, completion_tokens: 0, cached_tokens: 50 }).usd_micros).toBe(5);
  });

  it('rounds up to a whole micro-dollar', () => {
    // gpt-4o-mini: 1 × 0.15 = 0.15 micro-dollars → 1
    expect(costOf(table, 'gpt-4o-mini', { prompt_tokens: 1, completion_tokens: 0 }).usd_micros).toBe(1);
    // gpt-5-nano: 3 cached × 0.005 + 7 × 0.05 = 0.015 + 0.35 → 1
    expect(costOf(table, 'gpt-5-nano', { prompt_tokens: 10, completion_tokens: 0, cached_tokens: 3 }).usd_micros).toBe(1);
    expect(costOf(table, 'gpt-4o-mini', { prompt_tokens: 0, completion_tokens: 0 }).usd_micros).toBe(0);
  });

  it('is exact where floating point is not (1.1 × 50 = 55, not 55.00000000000001 → 56)', () => {
    expect(1.1 * 50).not.toBe(55);
    expect(costOf(table, 'o3-mini', { prompt_tokens: 50, completion_tokens: 0 }).usd_micros).toBe(55);
    expect(0.275 * 200).not.toBe(55);
    expect(costOf(table, 'o4-mini', { prompt_tokens: 200, completion_tokens: 0, cached_tokens: 200 }).usd_micros).toBe(55);
  });

  it('prices large counts exactly (o1-pro, 10M tokens each way)', () => {
    expect(costOf(table, 'o1-pro', { prompt_tokens: 10_000_000, completion_tokens: 10_000_000 }).usd_micros).toBe(7_500_000_000);
  });

  it('counts reasoning tokens as the completion tokens they are part of', () => {
    const usage = { prompt_tokens: 100, completion_tokens: 1000, total_tokens: 1100, cached_tokens: 0, reasoning_tokens: 900, source: 'response' as const };
    expect(costOf(table, 'o3', usage).usd_micros).toBe(100 * 2 + 1000 * 8);
  });

  it('costs an unknown model 0 with known: false when no default price is set', () => {
    expect(costOf(table, 'claude-3-opus', { prompt_tokens: 1000, completion_tokens: 1000 })).toEqual({ usd_micros: 0, known: false, model_key: null });
  });

  it('costs an unknown model at the default price, still known: false', () => {
    const t = compilePriceTable(null, { default_price: { input: 10, output: 30 } });
    expect(costOf(t, 'claude-3-opus', { prompt_tokens: 1000, completion_tokens: 100, cached_tokens: 500 })).toEqual({
      usd_micros: 13000, known: false, model_key: null,
    });
    expect(t.default_price).toEqual({ input: 10, cached_input: 10, output: 30 });
  });

  it('counts garbage counts as 0 and rounds fractional counts up', () => {
    expect(costOf(table, 'gpt-4o', { prompt_tokens: -5, completion_tokens: NaN, cached_tokens: Infinity }).usd_micros).toBe(0);
    expect(costOf(table, 'gpt-4o', { prompt_tokens: 0.2, completion_tokens: 0 }).usd_micros).toBe(3); // 1 token × 2.5
  });

  it('never bills a negative price a custom table hands back', () => {
    const bad: PriceTable = { ...table, priceOf: () => ({ input: -1, cached_input: -1, output: -1, model_key: 'x', source: 'override', fine_tune: false, note: null }) };
    expect(costOf(bad, 'x', { prompt_tokens: 100, completion_tokens: 100 }).usd_micros).toBe(0);
  });
});

describe('estimateCostMicros', () => {
  it('reserves every prompt token at the input price and the completion bound at the output price', () => {
    expect(estimateCostMicros(table, 'gpt-5', 2000, 1000)).toEqual({ usd_micros: 2000 * 1.25 + 1000 * 10, known: true, model_key: 'gpt-5' });
  });

  it('uses the same unknown-model rule as costOf', () => {
    expect(estimateCostMicros(table, 'mystery', 10, 10)).toEqual({ usd_micros: 0, known: false, model_key: null });
  });
});

describe('cost properties', () => {
  const models = fc.constantFrom(...Object.keys(OPENAI_PRICES), 'gpt-4o-2024-08-06', 'ft:gpt-4.1-mini-2025-04-14:org::id', 'unknown-model');
  const count = fc.integer({ min: 0, max: 50_000_000 });
  const withDefault = compilePriceTable(null, { default_price: { input: 5, cached_input: 1, output: 20 } });
  const tables = fc.constantFrom(table, withDefault);

  it('is never negative and always an integer', () => {
    fc.assert(
      fc.property(tables, models, count, count, fc.option(count), (t, model, p, c, cached) => {
        const { usd_micros } = costOf(t, model, { prompt_tokens: p, completion_tokens: c, cached_tokens: cached });
        return Number.isSafeInteger(usd_micros) && usd_micros >= 0;
      }),
    );
  });

  it('grows (or stays) with prompt and completion tokens', () => {
    fc.assert(
      fc.property(tables, models, count, count, fc.option(count), count, count, (t, model, p, c, cached, dp, dc) => {
        const a = costOf(t, model, { prompt_tokens: p, completion_tokens: c, cached_tokens: cached }).usd_micros;
        const b = costOf(t, model, { prompt_tokens: p + dp, completion_tokens: c + dc, cached_tokens: cached }).usd_micros;
        return b >= a;
      }),
    );
  });

  it('never reserves less than any usage within the reserved counts costs', () => {
    fc.assert(
      fc.property(tables, models, count, count, fc.option(count), fc.nat(), fc.nat(), (t, model, p, c, cached, sp, sc) => {
        const reserved = estimateCostMicros(t, model, p, c).usd_micros;
        const used = costOf(t, model, { prompt_tokens: p === 0 ? 0 : sp % (p + 1), completion_tokens: c === 0 ? 0 : sc % (c + 1), cached_tokens: cached });
        return used.usd_micros <= reserved;
      }),
    );
  });

  it('matches exact rational arithmetic, rounded up', () => {
    fc.assert(
      fc.property(models, count, count, count, (model, p, c, cached) => {
        const price = table.priceOf(model);
        if (!price) return true;
        const k = Math.min(cached, p);
        const pico = (usd: number) => BigInt(Math.round(usd * 1e6));
        const total = BigInt(p - k) * pico(price.input) + BigInt(k) * pico(price.cached_input) + BigInt(c) * pico(price.output);
        const expected = Number((total + 999_999n) / 1_000_000n);
        return costOf(table, model, { prompt_tokens: p, completion_tokens: c, cached_tokens: cached }).usd_micros === expected;
      }),
    );
  });
});
