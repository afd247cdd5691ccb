/**
 * Prompt token counts as OpenAI bills them (`usage.prompt_tokens`), with the BPE
 * encodings OpenAI publishes (gpt-tokenizer: a pure-JS port of tiktoken's
 * o200k_base and cl100k_base).
 *
 * Chat formatting follows OpenAI's cookbook ("How to count tokens with tiktoken",
 * `num_tokens_from_messages`): 3 tokens per message, the tokens of its role, content
 * and name, +1 per name, +3 priming the reply. For plain text chats this equals
 * `usage.prompt_tokens`. The count is marked 'estimated' when OpenAI's formatting is
 * not documented: tools/functions definitions, tool calls and tool results, image,
 * audio and file parts (their text is counted, the media are not), the Responses API
 * (counted like a chat: `instructions` as a developer message, items as messages),
 * a completions `suffix`, and models whose encoding is guessed.
 *
 * Cost: linear in the text. gpt-tokenizer's byte-pair merge is quadratic in the
 * length of ONE pre-tokenized piece (a 64 KiB run of letters alone takes seconds), so
 * runs of one character class longer than MAX_RUN are counted in MAX_RUN slices: at
 * most a token or so of error per slice, and the count is then 'estimated'. Measured
 * on the shared 2-core dev machine (test/shared/request/tokens.test.ts prints its
 * own): prose with unseen words ~0.15 ms per KiB (64 KiB in ~40 ms, 512 KiB in
 * ~80 ms; repeated prose ~0.06 ms/KiB thanks to the merge cache); the worst case,
 * random letters where every piece is unseen, ~1.2-2 ms per KiB (512 KiB in
 * 0.6-1.0 s): bound it with the body size limit. Counting runs on the event loop.
 * The encodings are loaded on first use (~200 ms each, once per process).
 */
import type { Endpoint } from './openai';
import { promptTexts } from './openai';
import { isObj, type Obj } from '../values';

export type EncodingName = 'o200k_base' | 'cl100k_base';
export type CountMethod = 'exact' | 'estimated';

export interface TokenCount {
  tokens: number;
  method: CountMethod;
  encoding: EncodingName;
}

/** Cookbook constants (gpt-3.5-turbo-0613 and later, gpt-4*, gpt-4o*). */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const REPLY_PRIMING_TOKENS = 3;

/** Longest run of one character class counted in one piece (see file comment). */
export const MAX_RUN = 256;

/**
 * Model families by encoding (tiktoken's model.py). A family matches the model or
 * the model followed by `-`, `.`, `:`; `ft:` fine-tunes use their base model.
 */
const O200K = ['gpt-4o', 'chatgpt-4o', 'gpt-4.1', 'gpt-4.5', 'gpt-5', 'o1', 'o3', 'o4'];
const CL100K = ['gpt-4', 'gpt-3.5', 'gpt-35', 'text-embedding-3', 'text-embedding-ada-002'];

interface Encoder {
  countTokens(text: string, options?: { disallowedSpecial?: Set<string> }): number;
  setMergeCacheSize(size: number): void;
}

/**
 * gpt-tokenizer's merge cache (100,000 pieces, oldest evicted on every miss once
 * full) turns text it has not seen into its worst case: 512 KiB of random letters
 * went from 0.5 s to 3–4.6 s per count once the cache had filled (measured,
 * bench/guard.ts). Without it prose costs ~25% more (20 → 25 ms per 512 KiB) and the
 * worst case stays at 0.5 s: a client cannot make the next request slower.
 */
const MERGE_CACHE_SIZE = 0;

const encoders = new Map<EncodingName, Encoder>();

function encoder(name: EncodingName): Encoder {
  let e = encoders.get(name);
  if (!e) {
    // loaded on first use: each table costs ~200 ms and tens of MB
    /* eslint-disable @typescript-eslint/no-require-imports */
    e = (name === 'o200k_base' ? require('gpt-tokenizer/encoding/o200k_base') : require('gpt-tokenizer/encoding/cl100k_base')) as Encoder;
    e.setMergeCacheSize(MERGE_CACHE_SIZE);
    encoders.set(name, e);
  }
  return e;
}

// Special-token strings in client text are text, as OpenAI treats them: no throw,
// no special token.
const AS_TEXT = { disallowedSpecial: new Set<string>() };

function family(model: string, names: readonly string[]): boolean {
  return names.some((n) => model === n || (model.startsWith(n) && '-.:'.includes(model[n.length])));
}

/** The encoding of a model, and whether it is known or guessed (o200k_base). */
export function encodingForModel(model: string | null): { encoding: EncodingName; known: boolean } {
  let m = (model ?? '').toLowerCase();
  if (m.startsWith('ft:')) m = m.slice(3);
  if (family(m, O200K)) return { encoding: 'o200k_base', known: true };
  if (family(m, CL100K)) return { encoding: 'cl100k_base', known: true };
  return { encoding: 'o200k_base', known: false };
}

/** Runs of one class: letters/marks, other non-space non-digit, whitespace. Linear. */
const RUNS = /[\p{L}\p{M}]+|[^\s\p{L}\p{N}]+|\s+/gu;

/** Tokens of one text; `sliced` is true when a long run had to be counted in slices. */
export function countText(text: string, encoding: EncodingName): { tokens: number; sliced: boolean } {
  const enc = encoder(encoding);
  if (text.length <= MAX_RUN) return { tokens: enc.countTokens(text, AS_TEXT), sliced: false };
  let tokens = 0;
  let sliced = false;
  let from = 0; // start of the text not yet counted
  RUNS.lastIndex = 0;
  for (let m = RUNS.exec(text); m !== null; m = RUNS.exec(text)) {
    const run = m[0];
    if (run.length <= MAX_RUN) continue;
    sliced = true;
    if (m.index > from) tokens += enc.countTokens(text.slice(from, m.index), AS_TEXT);
    let i = m.index;
    const end = m.index + run.length;
    while (i < end) {
      let j = Math.min(i + MAX_RUN, end);
      // never cut a surrogate pair
      if (j < end && (text.charCodeAt(j) & 0xfc00) === 0xdc00) j++;
      tokens += enc.countTokens(text.slice(i, j), AS_TEXT);
      i = j;
    }
    from = end;
  }
  if (!sliced) return { tokens: enc.countTokens(text, AS_TEXT), sliced: false };
  if (from < text.length) tokens += enc.countTokens(text.slice(from), AS_TEXT);
  return { tokens, sliced };
}

/** Lengths of token-array prompts/inputs (exact: they are tokens already). */
function tokenArrayLength(v: unknown): number | null {
  if (!Array.isArray(v) || v.length === 0) return null;
  if (v.every((t) => typeof t === 'number')) return v.length;
  if (v.every((a) => Array.isArray(a) && a.every((t) => typeof t === 'number'))) return v.reduce((n: number, a: unknown[]) => n + a.length, 0);
  return null;
}

/**
 * Prompt tokens of a request body. Never throws; a body of the wrong shape counts
 * what is recognizable in it.
 */
export function countPromptTokens(endpoint: Endpoint, model: string | null, body: unknown): TokenCount {
  const { encoding, known } = encodingForModel(model);
  let exact = known;
  let tokens = 0;
  const count = (text: string) => {
    const r = countText(text, encoding);
    if (r.sliced) exact = false;
    tokens += r.tokens;
  };
  const b = isObj(body) ? body : {};
  switch (endpoint) {
    case 'chat.completions': {
      const messages = Array.isArray(b.messages) ? b.messages : [];
      for (const m of messages) {
        if (!isObj(m)) continue;
        tokens += TOKENS_PER_MESSAGE;
        if (typeof m.role === 'string') count(m.role);
        if (typeof m.name === 'string') {
          count(m.name);
          tokens += TOKENS_PER_NAME;
        }
        if (typeof m.content === 'string') count(m.content);
        else if (Array.isArray(m.content)) {
          for (const part of m.content) {
            if (isObj(part) && part.type === 'text' && typeof part.text === 'string') count(part.text);
            else exact = false; // image/audio/file/refusal: undocumented cost
          }
        }
        if (m.role === 'tool' || m.role === 'function' || m.tool_calls !== undefined || m.function_call !== undefined) {
          exact = false;
          countCalls(m, count);
        }
      }
      tokens += REPLY_PRIMING_TOKENS;
      if (b.tools !== undefined || b.functions !== undefined) {
        exact = false;
        countDefinitions(b.tools, count);
        countDefinitions(b.functions, count);
      }
      break;
    }
    case 'completions':
    case 'embeddings': {
      const v = endpoint === 'completions' ? b.prompt : b.input;
      const arrayTokens = tokenArrayLength(v);
      if (arrayTokens !== null) tokens += arrayTokens;
      else for (const t of promptTexts(endpoint, { [endpoint === 'completions' ? 'prompt' : 'input']: v })) count(t.text);
      if (endpoint === 'completions' && typeof b.suffix === 'string') {
        exact = false;
        count(b.suffix);
      }
      break;
    }
    case 'responses': {
      // undocumented formatting: counted as a chat, always an estimate
      exact = false;
      if (typeof b.instructions === 'string') {
        tokens += TOKENS_PER_MESSAGE;
        count('developer');
        count(b.instructions);
      }
      if (typeof b.input === 'string') {
        tokens += TOKENS_PER_MESSAGE;
        count('user');
        count(b.input);
      } else if (Array.isArray(b.input)) {
        for (const t of promptTexts('responses', { input: b.input })) {
          tokens += TOKENS_PER_MESSAGE;
          count(t.text);
        }
      }
      tokens += REPLY_PRIMING_TOKENS;
      for (const t of promptTexts('responses', { tools: b.tools })) count(t.text);
      break;
    }
  }
  return { tokens, method: exact ? 'exact' : 'estimated', encoding };
}

function countCalls(m: Obj, count: (t: string) => void): void {
  const calls = Array.isArray(m.tool_calls) ? m.tool_calls : [];
  for (const c of calls) {
    if (!isObj(c) || !isObj(c.function)) continue;
    if (typeof c.function.name === 'string') count(c.function.name);
    if (typeof c.function.arguments === 'string') count(c.function.arguments);
  }
  if (isObj(m.function_call)) {
    if (typeof m.function_call.name === 'string') count(m.function_call.name);
    if (typeof m.function_call.arguments === 'string') count(m.function_call.arguments);
  }
}

/** Tool/function definitions: name, description and the parameters' JSON. */
function countDefinitions(defs: unknown, count: (t: string) => void): void {
  if (!Array.isArray(defs)) return;
  for (const d of defs) {
    const f = isObj(d) && isObj(d.function) ? d.function : d;
    if (!isObj(f)) continue;
    if (typeof f.name === 'string') count(f.name);
    if (typeof f.description === 'string') count(f.description);
    if (f.parameters !== undefined) count(JSON.stringify(f.parameters) ?? '');
  }
}

/** Members that bound the completion, per endpoint (OpenAI API reference). */
const N_APPLIES: Readonly<Record<Endpoint, boolean>> = {
  'chat.completions': true,
  completions: true,
  embeddings: false,
  responses: false,
};

function count(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : null;
}

/**
 * The most completion tokens the request may produce, or null when it does not
 * say (then the model's own maximum applies; for legacy completions OpenAI's default
 * is 16). chat: `max_completion_tokens ?? max_tokens`; completions: `max_tokens`;
 * responses: `max_output_tokens`; embeddings: 0 (no completion). Multiplied by the
 * number of choices generated, `n` (chat, completions), or for completions `best_of`
 * when larger: OpenAI generates (and bills) `best_of` candidates server-side.
 * Reasoning tokens are part of these limits for o-series models.
 */
export function requestedCompletionTokens(endpoint: Endpoint, body: unknown): number | null {
  const b = isObj(body) ? body : {};
  let max: number | null;
  switch (endpoint) {
    case 'chat.completions':
      max = count(b.max_completion_tokens) ?? count(b.max_tokens);
      break;
    case 'completions':
      max = count(b.max_tokens);
      break;
    case 'responses':
      max = count(b.max_output_tokens);
      break;
    case 'embeddings':
      return 0;
  }
  if (max === null) return null;
  if (!N_APPLIES[endpoint]) return max;
  const choices = Math.max(count(b.n) ?? 1, endpoint === 'completions' ? count(b.best_of) ?? 1 : 1, 1);
  return max * choices;
}
