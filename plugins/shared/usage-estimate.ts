/**
 * Completion tokens estimated from what a log phase knows when no usage was captured
 * (a stream cut before its usage event, a stream without `include_usage`, an answer
 * not buffered): the size of the answer body, whether it was a stream, and the model.
 * llm-rate-limit settles a reservation with it, llm-audit logs it as `estimated`.
 * Pure: no Kong, no I/O, no tokenizer (the answer text is not at hand).
 *
 * Streams (Chat Completions, `text/event-stream`). OpenAI sends one token of text per
 * chunk, each chunk a whole `chat.completion.chunk` object (API reference,
 * "The chat completion chunk object"):
 *
 *   data: {"id":"chatcmpl-<29>","object":"chat.completion.chunk","created":<10 digits>,
 *   "model":"<model>","service_tier":"default","system_fingerprint":"fp_<10 hex>",
 *   "choices":[{"index":0,"delta":{"content":"<token>"},"logprobs":null,
 *   "finish_reason":null}][,"usage":null][,"obfuscation":"<padding>"]}\n\n
 *
 * so the framing (~230 bytes + the model name) dwarfs the token (~4 bytes of English),
 * and tokens ≈ (bytes − fixed) / (framing + content per token), where `fixed` is the
 * role chunk, the finish chunk and `data: [DONE]`. `usage: null` is in every chunk when
 * the request set `stream_options.include_usage`; `obfuscation` (on by default since
 * August 2025, off with `stream_options.include_obfuscation: false`) pads each delta:
 * in captured streams the padding plus the delta's text is 16 characters for every
 * delta shorter than that (OBFUSCATED_DELTA_CHARS; observed, not documented).
 *
 * Assumptions, each a way to be wrong (the bound below holds only inside them):
 * - `bytes` is the body as OpenAI sent it, uncompressed, without HTTP chunked framing
 *   (a gzip body's size says nothing; llm-response-guard asks for identity);
 * - text content, one choice; tool-call chunks carry ~40 more bytes of framing each,
 *   so they are over-estimated (~15%), never under;
 * - `model` is the name the chunks carry: OpenAI echoes the resolved snapshot
 *   (`gpt-4o` → `gpt-4o-2024-08-06`); passing the alias instead costs ~4% low;
 * - reasoning models (o1, o3, o4, gpt-5) spend hidden reasoning tokens that are
 *   billed as completion tokens but never streamed: the estimate counts what was sent,
 *   so it is a LOWER bound there (`reasoning_unseen: true`), possibly by 10x.
 * Completions and Responses streams are not estimated (null): their usage arrives in
 * their last event, and their chunk shapes differ.
 *
 * JSON answers. Content bytes / 4 (OpenAI's "~4 characters per token" for English);
 * from the body size, the answer's envelope (ids, message, usage, pretty-printed as
 * OpenAI sends it) is taken off first. Use `content_chars` when the text's length is
 * known: the envelope is then no error.
 *
 * Error bounds (`error_bound`, in tokens: the true count is within
 * `completion_tokens ± error_bound`), checked on generated fixtures by
 * test/shared/usage-estimate.test.ts (texts cut into real BPE tokens, one per chunk,
 * framed by the mock's chunk builder; English prose, markdown docs, licence text and
 * TypeScript; 20-1,000 tokens; o200k and cl100k models; with and without obfuscation
 * and include_usage; whole and cut streams; six chunk shapes):
 * - stream: 15% of the estimate + 2 tokens, which every fixture meets. Measured worst
 *   |estimate − true| / estimate: with the usual chunk shape (or the shape given in
 *   `chunk_shape`) 5.3% at 20 tokens, 1.7% at 60, 0.7% at 300, 0.5% at 1,000; with the
 *   most different shape (no service_tier and a null fingerprint, ~36 bytes less per
 *   chunk) 14.8-14.9% whole, 15.4-25% for cut streams of 20-300 tokens, where the 2
 *   tokens absorb the missing finish chunk;
 * - JSON from `content_chars`: 25% of the estimate + 1 token (measured worst 23.2%:
 *   English runs 3.3-5.3 characters per token);
 * - JSON from `bytes`: 25% of the estimate + the envelope's spread (compact or
 *   pretty-printed, usage or not: ±60 tokens for a chat completion) + 8 tokens;
 *   measured worst 25-27.6% of the estimate from 1,000 tokens, every fixture within.
 * Not covered: other languages (CJK text runs ~1-1.5 characters per token), tool-call
 * streams (over-estimated), several choices (`n` > 1), reasoning tokens.
 */
import type { Endpoint } from './request/openai';

export interface UsageEstimate {
  completion_tokens: number;
  method: 'estimated';
  /** The true count is within `completion_tokens ± error_bound` (tokens), under the file's assumptions. */
  error_bound: number;
  /** A reasoning model: hidden reasoning tokens are not in the estimate, which is then a lower bound. */
  reasoning_unseen: boolean;
}

/** What the log phase knows about the answer. */
export interface AnswerFacts {
  endpoint: Endpoint;
  /** The model the answer names (chunks carry the resolved snapshot); null: unknown. */
  model: string | null;
  /** The answer was `text/event-stream`. */
  stream: boolean;
  /** Body bytes as OpenAI sent them, uncompressed. */
  bytes: number;
  /** Stream: the request set `stream_options.include_usage` (each chunk then carries `"usage":null`). */
  include_usage?: boolean;
  /** Stream: obfuscation padding is on (OpenAI's default; off with `include_obfuscation: false`). */
  obfuscation?: boolean;
  /** JSON: characters of the generated text, when known (more precise than `bytes`). */
  content_chars?: number | null;
  /** Stream: chunk fields that differ from OpenAI's usual (see `DEFAULT_CHUNK_SHAPE`). */
  chunk_shape?: Partial<ChunkShape>;
}

/** The variable parts of a chunk's framing. */
export interface ChunkShape {
  /** `service_tier` value; null: the member is absent. */
  service_tier: string | null;
  /** Length of `system_fingerprint` ("fp_" + 10 hex = 13); null: `"system_fingerprint":null`. */
  system_fingerprint_chars: number | null;
}

export const DEFAULT_CHUNK_SHAPE: Readonly<ChunkShape> = { service_tier: 'default', system_fingerprint_chars: 13 };

/** Mean JSON-escaped bytes of one token of English text (o200k and cl100k alike: 3.3-5.3, mean 3.9). */
export const CONTENT_BYTES_PER_TOKEN = 3.9;
/** Characters of delta text plus obfuscation padding in an obfuscated chunk (observed). */
export const OBFUSCATED_DELTA_CHARS = 16;
/** OpenAI's rule of thumb for English: ~4 characters per token. */
export const CHARS_PER_TOKEN = 4;

export const STREAM_REL_ERROR = 0.15;
/** Tokens: a cut stream lacks the finish chunk and `[DONE]`; rounding. */
export const STREAM_ABS_ERROR = 2;
export const JSON_REL_ERROR = 0.25;
/** Tokens on top of the envelope's spread (compact vs pretty, usage or not): digits of counts and ids, extra members. */
export const JSON_ENVELOPE_SLACK_TOKENS = 8;

/** Lengths of OpenAI's ids and numbers (chatcmpl- + 29 characters; seconds since 1970). */
const CHAT_ID = `chatcmpl-${'x'.repeat(29)}`;
const CREATED = 1_750_000_000;
const DONE_EVENT = 'data: [DONE]\n\n';

const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

function chunkEvent(model: string, shape: ChunkShape, choice: object, extra: { usage: boolean; obfuscation: string | null }): string {
  const chunk: Record<string, unknown> = { id: CHAT_ID, object: 'chat.completion.chunk', created: CREATED, model };
  if (shape.service_tier !== null) chunk.service_tier = shape.service_tier;
  chunk.system_fingerprint = shape.system_fingerprint_chars === null ? null : 'f'.repeat(shape.system_fingerprint_chars);
  chunk.choices = [choice];
  if (extra.usage) chunk.usage = null;
  if (extra.obfuscation !== null) chunk.obfuscation = extra.obfuscation;
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

/**
 * Bytes of one stream's framing: `perToken` for each content chunk (its content
 * excluded: an empty delta's chunk), `fixed` for the role chunk, finish chunk and
 * `[DONE]`. With obfuscation, `perToken` includes the 16 characters of delta + padding.
 */
export function streamFraming(model: string, opts: { include_usage?: boolean; obfuscation?: boolean; chunk_shape?: Partial<ChunkShape> } = {}): {
  perToken: number;
  fixed: number;
} {
  const shape: ChunkShape = { ...DEFAULT_CHUNK_SHAPE, ...opts.chunk_shape };
  const obf = opts.obfuscation ?? true;
  const extra = (pad: number) => ({ usage: opts.include_usage ?? false, obfuscation: obf ? 'o'.repeat(pad) : null });
  const content = (text: string) => ({ index: 0, delta: { content: text }, logprobs: null, finish_reason: null });
  const perToken = byteLength(chunkEvent(model, shape, content(''), extra(0))) + (obf ? OBFUSCATED_DELTA_CHARS : CONTENT_BYTES_PER_TOKEN);
  const role = chunkEvent(model, shape, { index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }, extra(OBFUSCATED_DELTA_CHARS));
  const finish = chunkEvent(model, shape, { index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }, extra(OBFUSCATED_DELTA_CHARS));
  return { perToken, fixed: byteLength(role) + byteLength(finish) + byteLength(DONE_EVENT) };
}

/**
 * Bytes of a JSON answer's envelope (the answer with empty generated text): the middle
 * of its smallest form (compact, no usage) and its largest (pretty-printed with two
 * spaces, as OpenAI sends it, with usage), and half that spread as slack. Shapes from
 * the API reference (and the mock's, which follows the openai SDK's types).
 */
function jsonEnvelope(endpoint: Endpoint, model: string): { bytes: number; slack: number } {
  const body = envelopeBody(endpoint, model);
  if (body === null) return { bytes: 0, slack: 0 };
  const { usage, ...withoutUsage } = body;
  const largest = byteLength(JSON.stringify({ ...body, usage }, null, 2));
  const smallest = byteLength(JSON.stringify(withoutUsage));
  return { bytes: (largest + smallest) / 2, slack: (largest - smallest) / 2 };
}

function envelopeBody(endpoint: Endpoint, model: string): Record<string, unknown> | null {
  const usage = {
    prompt_tokens: 1000,
    completion_tokens: 1000,
    total_tokens: 2000,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
  let body: Record<string, unknown>;
  switch (endpoint) {
    case 'chat.completions':
      body = {
        id: CHAT_ID,
        object: 'chat.completion',
        created: CREATED,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: '', refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
        usage,
        service_tier: 'default',
        system_fingerprint: 'fp_0123456789',
      };
      break;
    case 'completions':
      body = {
        id: `cmpl-${'x'.repeat(29)}`,
        object: 'text_completion',
        created: CREATED,
        model,
        system_fingerprint: 'fp_0123456789',
        choices: [{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1000, completion_tokens: 1000, total_tokens: 2000 },
      };
      break;
    case 'responses':
      body = {
        id: `resp_${'0'.repeat(50)}`,
        object: 'response',
        created_at: CREATED,
        status: 'completed',
        error: null,
        incomplete_details: null,
        instructions: null,
        max_output_tokens: null,
        model,
        output: [{ type: 'message', id: `msg_${'0'.repeat(50)}`, status: 'completed', role: 'assistant', content: [{ type: 'output_text', annotations: [], text: '' }] }],
        parallel_tool_calls: true,
        previous_response_id: null,
        reasoning: { effort: null, summary: null },
        store: true,
        temperature: 1,
        text: { format: { type: 'text' } },
        tool_choice: 'auto',
        tools: [],
        top_p: 1,
        truncation: 'disabled',
        usage: {
          input_tokens: 1000,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: 1000,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: 2000,
        },
        user: null,
        metadata: {},
      };
      break;
    case 'embeddings':
      return null;
  }
  return body;
}

/** Reasoning models (hidden reasoning tokens billed as output); gpt-5-chat is not one. */
const REASONING = ['o1', 'o3', 'o4', 'gpt-5'];
const NOT_REASONING = ['gpt-5-chat'];

function inFamily(model: string, names: readonly string[]): boolean {
  return names.some((n) => model === n || (model.startsWith(n) && '-:'.includes(model[n.length])));
}

/** Whether completion tokens include reasoning tokens a stream or answer never shows. */
export function hasHiddenReasoning(model: string | null): boolean {
  let m = (model ?? '').toLowerCase();
  if (m.startsWith('ft:')) m = m.slice(3);
  return inFamily(m, REASONING) && !inFamily(m, NOT_REASONING);
}

const count = (n: unknown): number => (typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0);

/**
 * Completion tokens of an answer whose usage was not captured, with the error bound
 * the file comment states; null when this answer kind is not estimated (Completions
 * and Responses streams). Embeddings: 0, exactly. Never throws; a size that is not a
 * finite positive number counts 0.
 */
export function estimateCompletionTokens(facts: AnswerFacts): UsageEstimate | null {
  const model = facts.model ?? '';
  const reasoning_unseen = hasHiddenReasoning(facts.model);
  const bytes = count(facts.bytes);
  if (facts.endpoint === 'embeddings') return { completion_tokens: 0, method: 'estimated', error_bound: 0, reasoning_unseen: false };
  if (facts.stream) {
    if (facts.endpoint !== 'chat.completions') return null;
    const { perToken, fixed } = streamFraming(model, facts);
    const tokens = Math.max(0, Math.round((bytes - fixed) / perToken));
    return { completion_tokens: tokens, method: 'estimated', error_bound: Math.ceil(STREAM_REL_ERROR * tokens + STREAM_ABS_ERROR), reasoning_unseen };
  }
  const chars = count(facts.content_chars);
  if (chars > 0 || facts.content_chars === 0) {
    const tokens = Math.ceil(chars / CHARS_PER_TOKEN);
    return { completion_tokens: tokens, method: 'estimated', error_bound: Math.ceil(JSON_REL_ERROR * tokens + 1), reasoning_unseen };
  }
  const envelope = jsonEnvelope(facts.endpoint, model);
  const tokens = Math.max(0, Math.round((bytes - envelope.bytes) / CHARS_PER_TOKEN));
  return {
    completion_tokens: tokens,
    method: 'estimated',
    error_bound: Math.ceil(JSON_REL_ERROR * tokens + envelope.slack / CHARS_PER_TOKEN + JSON_ENVELOPE_SLACK_TOKENS),
    reasoning_unseen,
  };
}
