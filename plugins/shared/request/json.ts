/**
 * Bounded parsing of a request body as JSON: the one place a client's bytes become
 * a value. Hostile input is refused before it costs anything unbounded:
 *
 * 1. UTF-8 is decoded strictly (RFC 8259 §8.1: JSON exchanged between systems is
 *    UTF-8); a malformed sequence is `invalid_json`, never silently replaced by U+FFFD
 *    (a replacement character would let the guard and OpenAI read different text).
 * 2. Nesting depth is checked by one linear pass over the bytes outside strings
 *    BEFORE `JSON.parse`, so a body of 10^6 `[` never reaches the parser (V8's parser
 *    is iterative, but every later walk over the value would not be).
 * 3. After the parse, one iterative walk checks string sizes (UTF-8 bytes), array
 *    lengths and member counts, naming the offending field in `param`.
 *
 * Prototype safety: `JSON.parse` defines `"__proto__"` as an ordinary own member
 * (CreateDataProperty), so parsing never changes a prototype. A parsed object must
 * still never be merged with `Object.assign(target, value)` or a `for..in` copy with
 * `target[key] = ...`: those use [[Set]], and an own `__proto__` member would then
 * replace `target`'s prototype. Copy with spread (`{ ...value }`), which defines
 * members, or `structuredClone`. The cores in this folder only copy that way.
 *
 * Error messages are constants: `JSON.parse`'s own messages quote the input.
 */
import type { Rejection } from '../openai-error';
import { joinPath } from './path';

/** Limits a route configures for request bodies. */
export interface JsonLimits {
  /** Deepest nesting of arrays/objects; the top-level value is depth 1. */
  maxDepth: number;
  /** Largest string (value or member name), in UTF-8 bytes. */
  maxStringBytes: number;
  /** Most elements in any one array. */
  maxArrayLength: number;
  /** Most members in any one object; unlimited when absent. */
  maxKeys?: number;
}

export type JsonErrorCode = 'invalid_json' | 'json_too_deep' | 'string_too_long' | 'array_too_long' | 'too_many_keys';

export interface JsonFailure {
  ok: false;
  status: 400;
  message: string;
  /** Where the limit was hit (`messages[3].content`); null for the body as a whole. */
  param: string | null;
  code: JsonErrorCode;
}

export type JsonParseResult = { ok: true; value: unknown } | JsonFailure;

/** Close to OpenAI's own answer to a body that is not JSON. */
export const INVALID_JSON_MESSAGE =
  'We could not parse the JSON body of your request. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.';
const TOO_DEEP_MESSAGE = (max: number) => `The JSON body of your request is nested deeper than ${max} levels.`;
const STRING_MESSAGE = (max: number) => `A string in the JSON body of your request is longer than ${max} bytes.`;
const ARRAY_MESSAGE = (max: number) => `An array in the JSON body of your request has more than ${max} elements.`;
const KEYS_MESSAGE = (max: number) => `An object in the JSON body of your request has more than ${max} members.`;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

const fail = (code: JsonErrorCode, message: string, param: string | null = null): JsonFailure => ({
  ok: false,
  status: 400,
  message,
  param,
  code,
});

/**
 * Parses a request body within `limits`. Never throws: every failure is a 400 in
 * OpenAI's error style.
 */
export function parseJsonBody(body: Uint8Array | string, limits: JsonLimits): JsonParseResult {
  let text: string;
  let bytes: Uint8Array;
  try {
    if (typeof body === 'string') {
      text = body;
      bytes = Buffer.from(body, 'utf8');
    } else {
      bytes = body;
      // a leading BOM is dropped by the decoder (RFC 8259 §8.1 lets a parser ignore it)
      text = UTF8.decode(body);
    }
  } catch {
    return fail('invalid_json', INVALID_JSON_MESSAGE);
  }
  if (maxNesting(bytes, limits.maxDepth) > limits.maxDepth) return fail('json_too_deep', TOO_DEEP_MESSAGE(limits.maxDepth));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail('invalid_json', INVALID_JSON_MESSAGE);
  }
  return checkLimits(value, limits) ?? { ok: true, value };
}

/** The failure as the suite's rejection (type `invalid_request_error`). */
export function jsonFailureRejection(f: JsonFailure): Rejection {
  return { status: f.status, message: f.message, type: 'invalid_request_error', code: f.code, param: f.param };
}

/**
 * Deepest bracket nesting outside strings, scanning bytes; stops as soon as `stop`
 * is exceeded. `"`, `\`, `[`, `{` are ASCII and never occur inside a multi-byte
 * UTF-8 sequence, so a byte scan is exact. Malformed JSON is left to the parser.
 */
function maxNesting(bytes: Uint8Array, stop: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (b === OPEN_BRACKET || b === OPEN_BRACE) {
      if (++depth > max) {
        max = depth;
        if (max > stop) return max;
      }
    } else if (b === CLOSE_BRACKET || b === CLOSE_BRACE) depth--;
  }
  return max;
}

/** A node of the walk; its path is built only when a limit is hit. */
interface Frame {
  value: unknown;
  parent: Frame | null;
  key: string | number | null;
}

function pathOf(frame: Frame | null): string | null {
  const keys: Array<string | number> = [];
  for (let f = frame; f && f.key !== null; f = f.parent) keys.push(f.key);
  if (keys.length === 0) return null;
  return keys.reverse().reduce<string>((p, k) => joinPath(p, k), '');
}

function utf8Over(s: string, max: number): boolean {
  // a UTF-16 code unit encodes to at most 3 UTF-8 bytes: skip the count when it cannot matter
  return s.length * 3 > max && Buffer.byteLength(s, 'utf8') > max;
}

/** Iterative (depth already bounded, but the limit is configuration). */
function checkLimits(root: unknown, limits: JsonLimits): JsonFailure | null {
  const stack: Frame[] = [{ value: root, parent: null, key: null }];
  while (stack.length) {
    const frame = stack.pop()!;
    const v = frame.value;
    if (typeof v === 'string') {
      if (utf8Over(v, limits.maxStringBytes)) return fail('string_too_long', STRING_MESSAGE(limits.maxStringBytes), pathOf(frame));
    } else if (Array.isArray(v)) {
      if (v.length > limits.maxArrayLength) return fail('array_too_long', ARRAY_MESSAGE(limits.maxArrayLength), pathOf(frame));
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], parent: frame, key: i });
    } else if (v !== null && typeof v === 'object') {
      const keys = Object.keys(v);
      if (limits.maxKeys !== undefined && keys.length > limits.maxKeys) return fail('too_many_keys', KEYS_MESSAGE(limits.maxKeys), pathOf(frame));
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i];
        const child: Frame = { value: (v as Record<string, unknown>)[k], parent: frame, key: k };
        if (utf8Over(k, limits.maxStringBytes)) return fail('string_too_long', STRING_MESSAGE(limits.maxStringBytes), pathOf(frame));
        stack.push(child);
      }
    }
  }
  return null;
}
