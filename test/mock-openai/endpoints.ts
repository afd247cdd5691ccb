/**
 * The OpenAI endpoints the mock serves: request validation and the response objects,
 * with no HTTP in sight (server.ts does the transport). Replies are deterministic so
 * tests can assert on them: the assistant answers "Echo: <last user text>" and token
 * counts come from a fixed characters-per-token rule instead of a tokenizer.
 *
 * The object shapes are checked against the `openai` SDK's own types (type-only
 * imports, erased from the compiled JavaScript).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions/completions';
import type { Completion, CompletionUsage } from 'openai/resources/completions';
import type { Model } from 'openai/resources/models';
import type { Response as ResponsesResponse } from 'openai/resources/responses/responses';
import { HttpError, invalidRequest } from './openai-errors';

/** A parsed JSON request body (always an object by the time a handler sees it). */
export type JsonBody = Record<string, unknown>;

/** What a handler asks the server to send: one JSON object, or server-sent events. */
export type EndpointResult =
  | { kind: 'json'; body: object }
  /** Each event is sent as `data: <json>\n\n`, then the stream ends with `data: [DONE]\n\n`. */
  | { kind: 'sse'; events: object[] };

export type Handler = (body: JsonBody) => EndpointResult;

/** Longest part of the user's text echoed back, in characters. */
export const ECHO_MAX_CHARS = 200;
/** `system_fingerprint` of every chat completion; OpenAI's look like "fp_" + 10 hex digits. */
export const SYSTEM_FINGERPRINT = 'fp_mock0000000';
/** Length of every embedding vector. */
export const EMBEDDING_DIMENSIONS = 8;

/** Models listed by GET /v1/models. Other model names are still accepted by the POST endpoints. */
export const MODELS: readonly Model[] = [
  { id: 'gpt-4o', object: 'model', created: 1715367049, owned_by: 'system' },
  { id: 'gpt-4o-mini', object: 'model', created: 1721172741, owned_by: 'system' },
  { id: 'gpt-4.1', object: 'model', created: 1744316542, owned_by: 'system' },
  { id: 'gpt-3.5-turbo-instruct', object: 'model', created: 1692901427, owned_by: 'system' },
  { id: 'text-embedding-3-small', object: 'model', created: 1705948997, owned_by: 'system' },
];

/** Stand-in tokenizer: one token per four characters, OpenAI's rule of thumb for English. */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4);

/**
 * Prompt tokens of a chat or Responses input: the characters of all message contents
 * counted together, plus 3 tokens of per-message framing (OpenAI's cookbook figure
 * for the `<|start|>role ... <|end|>` wrapper).
 */
export const promptTokens = (contents: readonly string[]): number =>
  estimateTokens(contents.join('')) + 3 * contents.length;

/** The assistant's deterministic answer to `userText`. */
export const echoReply = (userText: string): string =>
  // Array.from splits by code point, so truncation never cuts a surrogate pair.
  `Echo: ${Array.from(userText).slice(0, ECHO_MAX_CHARS).join('')}`;

/**
 * The reply cut as a stream would deliver it: one piece per word, each carrying the
 * whitespace before it, so the pieces concatenate back to the reply exactly.
 */
export const streamPieces = (reply: string): string[] => reply.match(/\s*\S+|\s+$/g) ?? [];

/**
 * A unit-length vector of EMBEDDING_DIMENSIONS derived from a hash of the text. Values
 * are float32-exact so the float and base64 (float32) encodings decode to equal numbers.
 */
export function embeddingVector(text: string): number[] {
  const digest = createHash('sha256').update(text).digest();
  const raw = Array.from({ length: EMBEDDING_DIMENSIONS }, (_, i) => digest.readInt16BE(2 * i) / 32768);
  const norm = Math.hypot(...raw) || 1;
  return raw.map((v) => Math.fround(v / norm));
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const HEX = '0123456789abcdef';

/** `prefix` + `length` random characters, like OpenAI's ids ("chatcmpl-…", "resp_…", "req_…"). */
export function randomId(prefix: string, length: number, alphabet: 'alnum' | 'hex' = 'alnum'): string {
  const chars = alphabet === 'hex' ? HEX : ALNUM;
  return prefix + Array.from(randomBytes(length), (b) => chars[b % chars.length]).join('');
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------- validation

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const jsonTypeName = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;

// The messages below are OpenAI's wording for the same mistakes.
const missing = (param: string): HttpError =>
  invalidRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');

const wrongType = (param: string, expected: string, got: unknown): HttpError =>
  invalidRequest(`Invalid type for '${param}': expected ${expected}, but got ${jsonTypeName(got)} instead.`, param, 'invalid_type');

function requireString(body: JsonBody, param: string): string {
  const v = body[param];
  if (v === undefined) throw missing(param);
  if (typeof v !== 'string') throw wrongType(param, 'a string', v);
  return v;
}

function requireNonEmptyArray(body: JsonBody, param: string): unknown[] {
  const v = body[param];
  if (v === undefined) throw missing(param);
  if (!Array.isArray(v)) throw wrongType(param, 'an array', v);
  if (v.length === 0) {
    throw invalidRequest(
      `Invalid '${param}': empty array. Expected an array with minimum length 1, but got an empty array instead.`,
      param,
      'empty_array',
    );
  }
  return v;
}

/** A string, or a non-empty array of strings (OpenAI also takes token arrays; the mock does not). */
function requireStringOrStrings(body: JsonBody, param: string): string[] {
  const v = body[param];
  if (typeof v === 'string') return [v];
  const items = requireNonEmptyArray(body, param);
  items.forEach((item, i) => {
    if (typeof item !== 'string') throw wrongType(`${param}[${i}]`, 'a string', item);
  });
  return items as string[];
}

/** The mock streams chat completions only; say so rather than answer a stream request with JSON. */
function refuseStream(body: JsonBody, endpoint: string): void {
  if (body.stream === true) throw invalidRequest(`The mock OpenAI server does not stream ${endpoint}.`, 'stream');
}

/**
 * The text of a message `content`: a string, or an array of parts of which the text
 * ones (`{type: "text" | "input_text", text}`) count. Anything else has no text.
 */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part: unknown) => (isObject(part) && typeof part.text === 'string' ? part.text : ''))
    .filter((t) => t !== '')
    .join(' ');
}

/** Contents of the messages, and the text of the last one with role "user" ("" if none). */
function readMessages(messages: readonly unknown[]): { contents: string[]; lastUserText: string } {
  const contents: string[] = [];
  let lastUserText = '';
  for (const m of messages) {
    const text = isObject(m) ? textOf(m.content) : '';
    contents.push(text);
    if (isObject(m) && m.role === 'user') lastUserText = text;
  }
  return { contents, lastUserText };
}

// ----------------------------------------------------------------- endpoints

/** POST /v1/chat/completions, streamed when `stream: true`. */
export function chatCompletions(body: JsonBody): EndpointResult {
  const model = requireString(body, 'model');
  const { contents, lastUserText } = readMessages(requireNonEmptyArray(body, 'messages'));
  const reply = echoReply(lastUserText);
  const usage: CompletionUsage = usageOf(promptTokens(contents), estimateTokens(reply));
  const head = {
    id: randomId('chatcmpl-', 29),
    created: nowSeconds(),
    model,
    service_tier: 'default' as const,
    system_fingerprint: SYSTEM_FINGERPRINT,
  };

  if (body.stream !== true) {
    const completion: ChatCompletion = {
      ...head,
      object: 'chat.completion',
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: reply, refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage,
    };
    return { kind: 'json', body: completion };
  }

  // With stream_options.include_usage OpenAI adds `usage: null` to every chunk and sends
  // the usage in one last chunk whose `choices` is empty
  // (https://platform.openai.com/docs/api-reference/chat/create#chat-create-stream_options).
  const streamOptions = body.stream_options;
  const includeUsage = isObject(streamOptions) && streamOptions.include_usage === true;
  const chunk = (
    delta: ChatCompletionChunk.Choice.Delta,
    finishReason: ChatCompletionChunk.Choice['finish_reason'],
  ): ChatCompletionChunk => ({
    ...head,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const events: ChatCompletionChunk[] = [
    chunk({ role: 'assistant', content: '' }, null),
    ...streamPieces(reply).map((piece) => chunk({ content: piece }, null)),
    chunk({}, 'stop'),
  ];
  if (includeUsage) events.push({ ...head, object: 'chat.completion.chunk', choices: [], usage });
  return { kind: 'sse', events };
}

function usageOf(prompt: number, completion: number): CompletionUsage {
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

/** POST /v1/completions, the legacy API: one choice per prompt. */
export function completions(body: JsonBody): EndpointResult {
  const model = requireString(body, 'model');
  const prompts = requireStringOrStrings(body, 'prompt');
  refuseStream(body, '/v1/completions');
  const replies = prompts.map(echoReply);
  const prompt = prompts.reduce((n, p) => n + estimateTokens(p), 0);
  const completion = replies.reduce((n, r) => n + estimateTokens(r), 0);
  const result: Completion = {
    id: randomId('cmpl-', 29),
    object: 'text_completion',
    created: nowSeconds(),
    model,
    system_fingerprint: SYSTEM_FINGERPRINT,
    choices: replies.map((text, index) => ({ text, index, logprobs: null, finish_reason: 'stop' })),
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
  return { kind: 'json', body: result };
}

/**
 * POST /v1/embeddings. Honours `encoding_format: "base64"` (little-endian float32, as
 * OpenAI sends it), which the openai SDK v5+ requests by default and decodes itself.
 */
export function embeddings(body: JsonBody): EndpointResult {
  const model = requireString(body, 'model');
  const inputs = requireStringOrStrings(body, 'input');
  const base64 = body.encoding_format === 'base64';
  const data = inputs.map((text, index) => {
    const vector = embeddingVector(text);
    return { object: 'embedding', index, embedding: base64 ? float32Base64(vector) : vector };
  });
  const tokens = inputs.reduce((n, t) => n + estimateTokens(t), 0);
  return { kind: 'json', body: { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } } };
}

function float32Base64(vector: readonly number[]): string {
  const buf = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf.toString('base64');
}

/**
 * POST /v1/responses. `input` is a string (one user message) or an array of input
 * items; those with a `content` count as messages. `output_text` is left out: it is
 * a convenience the SDKs compute, not part of the wire format.
 */
export function responses(body: JsonBody): EndpointResult {
  const model = requireString(body, 'model');
  const input = body.input;
  if (input === undefined) throw missing('input');
  if (typeof input !== 'string' && !Array.isArray(input)) throw wrongType('input', 'a string or an array', input);
  refuseStream(body, '/v1/responses');
  const { contents, lastUserText } = readMessages(typeof input === 'string' ? [{ role: 'user', content: input }] : input);
  const instructions = typeof body.instructions === 'string' ? body.instructions : null;
  const reply = echoReply(lastUserText);
  const inputTokens = promptTokens(instructions === null ? contents : [instructions, ...contents]);
  const outputTokens = estimateTokens(reply);
  const created = nowSeconds();
  // `store` is in OpenAI's answers though not in the SDK's type.
  const result: Omit<ResponsesResponse, 'output_text'> & { store: boolean } = {
    id: randomId('resp_', 50, 'hex'),
    object: 'response',
    created_at: created,
    completed_at: created,
    status: 'completed',
    error: null,
    incomplete_details: null,
    instructions,
    max_output_tokens: null,
    metadata: {},
    model,
    output: [
      {
        type: 'message',
        id: randomId('msg_', 50, 'hex'),
        role: 'assistant',
        status: 'completed',
        content: [{ type: 'output_text', text: reply, annotations: [] }],
      },
    ],
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
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + outputTokens,
    },
  };
  return { kind: 'json', body: result };
}

/** GET /v1/models. */
export const listModels: Handler = () => ({ kind: 'json', body: { object: 'list', data: MODELS } });

/** GET /v1/models/{id}; an unknown id answers 404 as OpenAI does. */
export function retrieveModel(id: string): EndpointResult {
  const model = MODELS.find((m) => m.id === id);
  if (!model) {
    throw new HttpError(
      404,
      'invalid_request_error',
      `The model '${id}' does not exist or you do not have access to it.`,
      null,
      'model_not_found',
    );
  }
  return { kind: 'json', body: model };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // malformed %-escape: look it up as is, i.e. answer 404
  }
}

/** The handler for a method and path, or undefined when OpenAI would answer 404. */
export function route(method: string | undefined, path: string): Handler | undefined {
  if (method === 'POST') {
    switch (path) {
      case '/v1/chat/completions':
        return chatCompletions;
      case '/v1/completions':
        return completions;
      case '/v1/embeddings':
        return embeddings;
      case '/v1/responses':
        return responses;
    }
    return undefined;
  }
  if (method === 'GET') {
    if (path === '/v1/models') return listModels;
    const id = /^\/v1\/models\/([^/]+)$/.exec(path)?.[1];
    // Fine-tuned model ids contain ':', which the SDK percent-encodes.
    if (id !== undefined) return () => retrieveModel(safeDecode(id));
  }
  return undefined;
}
