import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  CHARS_PER_TOKEN,
  DEFAULT_CHUNK_SHAPE,
  estimateCompletionTokens,
  hasHiddenReasoning,
  OBFUSCATED_DELTA_CHARS,
  streamFraming,
  type AnswerFacts,
  type ChunkShape,
} from '../../plugins/shared/usage-estimate';
import { encodingForModel } from '../../plugins/shared/request/tokens';
import { chatCompletions, completions, responses } from '../mock-openai/endpoints';

/**
 * Fixtures: real token streams. Texts are cut into the tokens OpenAI would send (the
 * model's BPE encoding, gpt-tokenizer), one token per chunk, framed by the mock's
 * chunk builder (test/mock-openai/endpoints.ts) and varied the ways OpenAI's chunks
 * vary: obfuscation padding, `usage: null`, no service_tier, a null fingerprint, a
 * refusal member on the role delta, a stream cut short.
 */
interface Encoder {
  encode(text: string, options?: { disallowedSpecial?: Set<string> }): number[];
  decode(tokens: number[]): string;
}
/* eslint-disable @typescript-eslint/no-require-imports */
const ENCODERS: Record<string, Encoder> = {
  o200k_base: require('gpt-tokenizer/encoding/o200k_base') as Encoder,
  cl100k_base: require('gpt-tokenizer/encoding/cl100k_base') as Encoder,
};

const ROOT = join(__dirname, '..', '..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');
/** English prose, markdown with code, licence text, and TypeScript. */
const TEXTS: Record<string, string> = {
  prose:
    'The committee met on a grey Tuesday morning to review the budget for the coming year. ' +
    'Nobody expected the discussion to last long, yet by noon the room was still full and the coffee had run out. ' +
    "Several members argued that the library's opening hours should be extended, while others pointed to rising costs. " +
    'In the end they agreed to a compromise: longer hours on weekdays, shorter ones on Sundays, and a review in six months. ',
  readme: read('README.md'),
  testReadme: read('test/README.md'),
  openaiReadme: read('node_modules/openai/README.md'),
  licence: read('node_modules/typescript/LICENSE.txt'),
  code: read('plugins/shared/pricing/index.ts'),
};

/** The tokens of `text` as OpenAI streams them (a piece that splits a character joins the next). */
function tokenPieces(text: string, model: string, max: number): string[] {
  const enc = ENCODERS[encodingForModel(model).encoding];
  const ids = enc.encode(text, { disallowedSpecial: new Set() }).slice(0, max);
  const out: string[] = [];
  let pending: number[] = [];
  for (const id of ids) {
    pending.push(id);
    const piece = enc.decode(pending);
    if (piece.includes('\uFFFD')) continue;
    out.push(piece);
    pending = [];
  }
  return out;
}

interface Variant {
  include_usage: boolean;
  obfuscation: boolean;
  /** What the chunks really look like (the estimator is told only when `told`). */
  shape: Partial<ChunkShape>;
  told: boolean;
  /** The stream stops after the content (no finish chunk, no [DONE]). */
  cut: boolean;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const padding = (n: number, seed: number) => Array.from({ length: Math.max(0, n) }, (_, i) => ALNUM[(seed * 31 + i * 7) % ALNUM.length]).join('');

/** An SSE body of `pieces`, one per chunk, built from the mock's chunks. */
function sseBody(model: string, pieces: string[], v: Variant): string {
  const r = chatCompletions({
    model,
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
    ...(v.include_usage ? { stream_options: { include_usage: true } } : {}),
  });
  if (r.kind !== 'sse') throw new Error('expected a stream');
  const [roleChunk, contentChunk] = r.events as Record<string, unknown>[];
  const finishChunk = r.events.find((e) => (e as { choices: { finish_reason: unknown }[] }).choices[0]?.finish_reason === 'stop') as Record<string, unknown>;
  const frame = (chunk: Record<string, unknown>, delta: object, finish: unknown, text: string, i: number): string => {
    const c: Record<string, unknown> = { ...chunk };
    c.system_fingerprint = 'fp_0123456789'; // OpenAI's: fp_ + 10 hex (the mock's is one longer)
    if (v.shape.service_tier === null) delete c.service_tier;
    else if (v.shape.service_tier !== undefined) c.service_tier = v.shape.service_tier;
    if (v.shape.system_fingerprint_chars === null) c.system_fingerprint = null;
    c.choices = [{ index: 0, delta, logprobs: null, finish_reason: finish }];
    if (v.obfuscation) c.obfuscation = padding(OBFUSCATED_DELTA_CHARS - text.length, i);
    return `data: ${JSON.stringify(c)}\n\n`;
  };
  const parts = [frame(roleChunk, { role: 'assistant', content: '', refusal: null }, null, '', 0)];
  pieces.forEach((p, i) => parts.push(frame(contentChunk, { content: p }, null, p, i + 1)));
  if (!v.cut) parts.push(frame(finishChunk, {}, 'stop', '', 0), 'data: [DONE]\n\n');
  return parts.join('');
}

const MODELS = ['gpt-4o-2024-08-06', 'gpt-4.1-nano-2025-04-14', 'gpt-4-0613', 'gpt-5-chat-latest'];
const LENGTHS = [20, 60, 300, 1000];
const SHAPES: Partial<ChunkShape>[] = [
  {},
  { service_tier: null },
  { system_fingerprint_chars: null },
  { service_tier: null, system_fingerprint_chars: null },
  { service_tier: 'priority' },
  { service_tier: 'flex' },
];

interface Measured {
  text: string;
  model: string;
  tokens: number;
  estimate: number;
  bound: number;
  rel: number;
  variant: Variant;
}

function measureStreams(): Measured[] {
  const out: Measured[] = [];
  for (const [name, text] of Object.entries(TEXTS)) {
    for (const model of MODELS) {
      for (const length of LENGTHS) {
        const pieces = tokenPieces(text.repeat(Math.ceil((length * 6) / text.length) + 1), model, length);
        for (const shape of SHAPES) {
          for (const include_usage of [false, true]) {
            for (const obfuscation of [false, true]) {
              // telling the shape and cutting the stream: on the default and the most different shape
              const rare = shape === SHAPES[0] || shape === SHAPES[3] ? [[true, false], [false, true]] : [];
              for (const [told, cut] of [[false, false], ...rare]) {
                const variant = { include_usage, obfuscation, shape, told, cut };
                const body = sseBody(model, pieces, variant);
                const facts: AnswerFacts = { endpoint: 'chat.completions', model, stream: true, bytes: Buffer.byteLength(body), include_usage, obfuscation, ...(told ? { chunk_shape: shape } : {}) };
                const e = estimateCompletionTokens(facts)!;
                out.push({ text: name, model, tokens: pieces.length, estimate: e.completion_tokens, bound: e.error_bound, rel: Math.abs(e.completion_tokens - pieces.length) / e.completion_tokens, variant });
              }
            }
          }
        }
      }
    }
  }
  return out;
}

describe('estimateCompletionTokens, Chat Completions streams', () => {
  const measured = measureStreams();

  it('keeps every generated stream within its error bound (15% of the estimate + 2 tokens)', () => {
    const outside = measured.filter((m) => Math.abs(m.estimate - m.tokens) > m.bound);
    expect(outside.slice(0, 5)).toEqual([]);
  });

  it('is within ±15% of the estimate from 300 tokens on whatever the chunk shape (uncut), within 2% from 60 tokens when the shape is known', () => {
    const worstOf = (ms: Measured[]) => ms.reduce((a, b) => (b.rel > a.rel ? b : a));
    const known = (m: Measured) => m.variant.told || Object.keys(m.variant.shape).length === 0;
    const rows = LENGTHS.map((n) => {
      const at = measured.filter((m) => m.tokens === n);
      return { n, all: worstOf(at), known: worstOf(at.filter(known)), whole: worstOf(at.filter((m) => !m.variant.cut)) };
    });
    // the numbers the file comment quotes
    console.log(
      `usage-estimate streams, ${measured.length} fixtures, worst |estimate - true| / estimate by length:\n` +
        rows.map((r) => `  ${r.n} tokens: any shape ${(r.all.rel * 100).toFixed(1)}%, uncut ${(r.whole.rel * 100).toFixed(1)}%, shape known ${(r.known.rel * 100).toFixed(1)}%`).join('\n'),
    );
    for (const r of rows) {
      if (r.n >= 300) expect(r.whole.rel).toBeLessThanOrEqual(0.15);
      if (r.n >= 60) expect(r.known.rel).toBeLessThanOrEqual(0.02);
    }
  });

  it('matches the framing of the mock chunk builder byte for byte', () => {
    const r = chatCompletions({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true });
    if (r.kind !== 'sse') throw new Error('expected a stream');
    const content = { ...(r.events[1] as Record<string, unknown>), choices: [{ index: 0, delta: { content: '' }, logprobs: null, finish_reason: null }] };
    const mockBytes = Buffer.byteLength(`data: ${JSON.stringify(content)}\n\n`);
    // the mock's fingerprint is fp_ + 11 characters
    const { perToken } = streamFraming('gpt-4o', { obfuscation: false, chunk_shape: { system_fingerprint_chars: 14 } });
    expect(perToken - 3.9).toBeCloseTo(mockBytes, 6);
  });

  it('grows with the model name (each chunk repeats it)', () => {
    const short = streamFraming('o3', { obfuscation: false }).perToken;
    const long = streamFraming('gpt-4o-mini-2024-07-18', { obfuscation: false }).perToken;
    expect(long - short).toBe('gpt-4o-mini-2024-07-18'.length - 'o3'.length);
  });

  it('costs ~4% when given the alias instead of the snapshot the chunks name', () => {
    const pieces = tokenPieces(TEXTS.prose.repeat(20), 'gpt-4o', 500);
    const v: Variant = { include_usage: false, obfuscation: false, shape: {}, told: false, cut: false };
    const bytes = Buffer.byteLength(sseBody('gpt-4o-2024-08-06', pieces, v));
    const e = estimateCompletionTokens({ endpoint: 'chat.completions', model: 'gpt-4o', stream: true, bytes, obfuscation: false })!;
    expect(e.completion_tokens / pieces.length).toBeGreaterThan(1.03);
    expect(e.completion_tokens / pieces.length).toBeLessThan(1.06);
  });

  it('estimates the mock server\'s own stream within the bound (its chunks are words: a few tokens each)', () => {
    // The mock sends one chunk per word and counts ceil(chars / 4) tokens: more text per
    // chunk than OpenAI sends, so fewer chunks than tokens. Shown, not part of the bound.
    const r = chatCompletions({ model: 'gpt-4o', messages: [{ role: 'user', content: 'one two three four five six seven eight nine ten' }], stream: true });
    if (r.kind !== 'sse') throw new Error('expected a stream');
    const body = [...r.events.map((e) => `data: ${JSON.stringify(e)}\n\n`), 'data: [DONE]\n\n'].join('');
    const e = estimateCompletionTokens({ endpoint: 'chat.completions', model: 'gpt-4o', stream: true, bytes: Buffer.byteLength(body), obfuscation: false })!;
    expect(e.completion_tokens).toBe(11); // "Echo:" and 10 words: one per chunk
  });

  it('gives 0 for an empty or missing body', () => {
    for (const bytes of [0, -1, NaN, 100]) {
      expect(estimateCompletionTokens({ endpoint: 'chat.completions', model: 'gpt-4o', stream: true, bytes })?.completion_tokens).toBe(0);
    }
  });

  it('does not estimate Completions or Responses streams', () => {
    expect(estimateCompletionTokens({ endpoint: 'completions', model: 'gpt-3.5-turbo-instruct', stream: true, bytes: 5000 })).toBeNull();
    expect(estimateCompletionTokens({ endpoint: 'responses', model: 'gpt-4o', stream: true, bytes: 5000 })).toBeNull();
  });

  it('flags reasoning models, whose hidden reasoning tokens are not in the bytes', () => {
    expect(estimateCompletionTokens({ endpoint: 'chat.completions', model: 'o3-mini-2025-01-31', stream: true, bytes: 9000 })?.reasoning_unseen).toBe(true);
    expect(hasHiddenReasoning('gpt-5-2025-08-07')).toBe(true);
    expect(hasHiddenReasoning('gpt-5-chat-latest')).toBe(false);
    expect(hasHiddenReasoning('ft:o4-mini-2025-04-16:acme::x')).toBe(true);
    expect(hasHiddenReasoning('gpt-4o')).toBe(false);
    expect(hasHiddenReasoning(null)).toBe(false);
  });

  it('is non-negative, integral and monotonic in the bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MODELS, 'o1'), fc.boolean(), fc.boolean(), fc.nat(10_000_000), fc.nat(100_000), (model, include_usage, obfuscation, a, d) => {
        const at = (bytes: number) => estimateCompletionTokens({ endpoint: 'chat.completions', model, stream: true, bytes, include_usage, obfuscation })!;
        const x = at(a);
        const y = at(a + d);
        return Number.isSafeInteger(x.completion_tokens) && x.completion_tokens >= 0 && x.error_bound >= 0 && y.completion_tokens >= x.completion_tokens;
      }),
    );
  });
});

describe('estimateCompletionTokens, JSON answers', () => {
  /** Tokens of each text cut to `length` tokens, and its characters. */
  function samples(): { text: string; tokens: number; chars: string; model: string }[] {
    const out = [];
    for (const [name, text] of Object.entries(TEXTS)) {
      if (name === 'code') continue; // English only: code is outside the stated bound
      for (const model of ['gpt-4o-2024-08-06', 'gpt-4-0613']) {
        for (const length of [50, 200, 1000, 4000]) {
          const pieces = tokenPieces(text.repeat(Math.ceil((length * 6) / text.length) + 1), model, length);
          out.push({ text: name, tokens: pieces.length, chars: pieces.join(''), model });
        }
      }
    }
    return out;
  }

  it('keeps English answers within ±25% from their length in characters', () => {
    let worst = 0;
    for (const s of samples()) {
      const e = estimateCompletionTokens({ endpoint: 'chat.completions', model: s.model, stream: false, bytes: 0, content_chars: s.chars.length })!;
      expect(Math.abs(e.completion_tokens - s.tokens)).toBeLessThanOrEqual(e.error_bound);
      worst = Math.max(worst, Math.abs(e.completion_tokens - s.tokens) / e.completion_tokens);
    }
    console.log(`usage-estimate JSON by characters: worst ${(worst * 100).toFixed(1)}%`);
    expect(worst).toBeLessThanOrEqual(0.25);
  });

  it.each([
    ['chat.completions', (m: string, t: string) => chatCompletions({ model: m, messages: [{ role: 'user', content: t }] })],
    ['completions', (m: string, t: string) => completions({ model: m, prompt: t })],
    ['responses', (m: string, t: string) => responses({ model: m, input: t })],
  ] as const)('keeps %s answers within the bound from their size alone, compact or pretty-printed, with or without usage', (endpoint, make) => {
    let worst = 0;
    for (const s of samples()) {
      // the mock echoes at most 200 characters; put the text in place of its reply
      const r = make(s.model, 'x');
      if (r.kind !== 'json') throw new Error('expected JSON');
      const body = JSON.parse(JSON.stringify(r.body).replace(/Echo: x/, () => s.chars.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r')));
      const { usage, ...withoutUsage } = body;
      expect(usage).toBeDefined();
      for (const text of [JSON.stringify(body), JSON.stringify(body, null, 2), JSON.stringify(withoutUsage), JSON.stringify(withoutUsage, null, 2)]) {
        const e = estimateCompletionTokens({ endpoint, model: s.model, stream: false, bytes: Buffer.byteLength(text) })!;
        expect(Math.abs(e.completion_tokens - s.tokens)).toBeLessThanOrEqual(e.error_bound);
        if (s.tokens >= 1000) worst = Math.max(worst, Math.abs(e.completion_tokens - s.tokens) / e.completion_tokens);
      }
    }
    console.log(`usage-estimate JSON ${endpoint} by size, 1000+ tokens: worst ${(worst * 100).toFixed(1)}%`);
  });

  it('gives embeddings 0 completion tokens, exactly', () => {
    expect(estimateCompletionTokens({ endpoint: 'embeddings', model: 'text-embedding-3-small', stream: false, bytes: 50_000 })).toEqual({
      completion_tokens: 0, method: 'estimated', error_bound: 0, reasoning_unseen: false,
    });
  });

  it('counts ~4 characters per token', () => {
    expect(estimateCompletionTokens({ endpoint: 'chat.completions', model: 'gpt-4o', stream: false, bytes: 0, content_chars: 400 })?.completion_tokens).toBe(400 / CHARS_PER_TOKEN);
    expect(estimateCompletionTokens({ endpoint: 'chat.completions', model: 'gpt-4o', stream: false, bytes: 0, content_chars: 0 })?.completion_tokens).toBe(0);
  });
});

describe('DEFAULT_CHUNK_SHAPE', () => {
  it('is OpenAI\'s usual chunk: service_tier "default", fp_ + 10 hex', () => {
    expect(DEFAULT_CHUNK_SHAPE).toEqual({ service_tier: 'default', system_fingerprint_chars: 13 });
  });
});
