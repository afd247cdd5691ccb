/**
 * The upstream's answer as a value: a JSON document (`application/json`) or a stream of
 * server-sent events (`text/event-stream`), parsed from the buffered body in one linear
 * pass, bounded by `max_answer_bytes`.
 *
 * Server-sent events follow the WHATWG HTML "event stream interpretation"
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation)
 * as OpenAI uses it: lines end with CRLF, LF or CR; a blank line ends an event; a line
 * starting with `:` is a comment; `field: value` loses one space after the colon; several
 * `data:` lines of one event are joined with `\n`; `event:` names the event (Responses API:
 * `event: response.output_text.delta`). OpenAI's data is one JSON object per event, and
 * Chat Completions end with `data: [DONE]`.
 *
 * Every block between blank lines is kept, with its exact text (`raw`), including the
 * ones the spec does not dispatch (comments only, stray blank lines): `serializeSse`
 * writes an unchanged event back byte for byte and a changed one in a normalized form, so
 * an untouched stream re-serializes to itself. A last event without its blank line is
 * kept as incomplete and written back incomplete: clients that follow the spec drop it
 * (the openai SDK does), others may not, so it is inspected like any other.
 */
import { parseJsonBody, type JsonLimits } from '../../shared/request/json';

/** One event of a stream, as received. */
export interface SseEvent {
  /** The event's text exactly as received, its terminating blank line included. */
  readonly raw: string;
  /** The last `event:` field's value; null without one. */
  readonly event: string | null;
  /**
   * The `data:` values joined by `\n`; null when the event has no data field (the spec
   * dispatches nothing then).
   */
  readonly data: string | null;
  /** Ended by a blank line; only the last event of a stream can be incomplete. */
  readonly complete: boolean;
  /** The data parsed as JSON; undefined for `[DONE]` and for events without data. */
  readonly json: unknown;
}

export type Answer =
  | { kind: 'json'; value: unknown }
  | { kind: 'sse'; events: SseEvent[] }
  /** A content type the guard does not read (audio, files, none). */
  | { kind: 'other' };

export type AnswerFailureCode = 'response_too_large' | 'response_invalid';

export type AnswerParse = { ok: true; answer: Answer } | { ok: false; code: AnswerFailureCode };

/** The `data` of the event that ends an OpenAI Chat Completions or Completions stream. */
export const DONE_DATA = '[DONE]';

/** Deepest JSON nesting accepted in an answer; OpenAI's objects are a few levels deep. */
export const MAX_ANSWER_DEPTH = 64;

const JSON_TYPE = /^application\/(?:[a-z0-9.+-]+\+)?json\s*(?:;|$)/i;
const SSE_TYPE = /^text\/event-stream\s*(?:;|$)/i;
const LINE_END = /\r\n|\r|\n/g;

/** The SSE decoder of the spec: UTF-8, errors replaced, a leading BOM dropped. */
const UTF8_LENIENT = new TextDecoder('utf-8');

/** How the guard reads a body with this Content-Type. */
export function answerKind(contentType: string | null): Answer['kind'] {
  if (contentType === null) return 'other';
  const type = contentType.trim();
  if (JSON_TYPE.test(type)) return 'json';
  if (SSE_TYPE.test(type)) return 'sse';
  return 'other';
}

/**
 * Parses a buffered upstream body. Never throws. A body over `maxBytes` is refused before
 * any decoding; a JSON body must be strict UTF-8 JSON no deeper than `MAX_ANSWER_DEPTH`;
 * a stream's data must be JSON or `[DONE]` in every event that has data.
 */
export function parseAnswer(contentType: string | null, body: Uint8Array, maxBytes: number): AnswerParse {
  const kind = answerKind(contentType);
  if (kind === 'other') return { ok: true, answer: { kind } };
  if (body.length > maxBytes) return { ok: false, code: 'response_too_large' };
  const limits = jsonLimits(maxBytes);
  if (kind === 'json') {
    const parsed = parseJsonBody(body, limits);
    return parsed.ok ? { ok: true, answer: { kind, value: parsed.value } } : { ok: false, code: 'response_invalid' };
  }
  const events = parseSse(UTF8_LENIENT.decode(body), limits);
  return events === null ? { ok: false, code: 'response_invalid' } : { ok: true, answer: { kind, events } };
}

function jsonLimits(maxBytes: number): JsonLimits {
  // strings and arrays cannot outgrow the body, so only the depth is a real limit
  return { maxDepth: MAX_ANSWER_DEPTH, maxStringBytes: maxBytes, maxArrayLength: maxBytes };
}

/** A line of a stream: `[start, end)` of its text and where the next one starts. */
interface Line {
  start: number;
  end: number;
  next: number;
  /** Ended by CR, LF or CRLF (false only at the very end of the text). */
  terminated: boolean;
}

/** Lines of `text` in order, in one pass. */
function* lines(text: string, from = 0, to = text.length): Generator<Line> {
  let pos = from;
  while (pos < to) {
    LINE_END.lastIndex = pos;
    const m = LINE_END.exec(text);
    if (m === null || m.index >= to) {
      yield { start: pos, end: to, next: to, terminated: false };
      return;
    }
    const next = Math.min(m.index + m[0].length, to);
    yield { start: pos, end: m.index, next, terminated: true };
    pos = next;
  }
}

/** `data`, `event`, ...: the field a line sets; null for a comment. */
function fieldOf(text: string, line: Line): { name: string; value: string } | null {
  if (text.charCodeAt(line.start) === 0x3a /* : */) return null;
  // a bounded search: indexOf could run past the line, to the end of the text, on every line
  let colon = line.start;
  while (colon < line.end && text.charCodeAt(colon) !== 0x3a) colon++;
  if (colon === line.end) return { name: text.slice(line.start, line.end), value: '' };
  let valueStart = colon + 1;
  if (text.charCodeAt(valueStart) === 0x20 && valueStart < line.end) valueStart++;
  return { name: text.slice(line.start, colon), value: text.slice(valueStart, line.end) };
}

/**
 * Splits decoded stream text into events (see the top of this file). Null when an
 * event's data is neither `[DONE]` nor JSON within `limits`. Linear in the text.
 */
export function parseSse(text: string, limits: JsonLimits = jsonLimits(Number.MAX_SAFE_INTEGER)): SseEvent[] | null {
  const events: SseEvent[] = [];
  let eventStart = 0;
  let event: string | null = null;
  let data: string[] | null = null;
  const close = (end: number, complete: boolean): boolean => {
    const joined = data === null ? null : data.join('\n');
    let json: unknown = undefined;
    if (joined !== null && joined !== DONE_DATA) {
      const parsed = parseJsonBody(joined, limits);
      if (!parsed.ok) return false;
      json = parsed.value;
    }
    events.push({ raw: text.slice(eventStart, end), event, data: joined, complete, json });
    eventStart = end;
    event = null;
    data = null;
    return true;
  };
  for (const line of lines(text)) {
    if (line.start === line.end) {
      if (line.terminated && !close(line.next, true)) return null;
      continue;
    }
    const field = fieldOf(text, line);
    if (field === null) continue;
    if (field.name === 'data') (data ??= []).push(field.value);
    else if (field.name === 'event') event = field.value;
    // `id` and `retry` are kept in `raw`; OpenAI sends neither
  }
  if (eventStart < text.length && !close(text.length, false)) return null;
  return events;
}

/**
 * The text of `event` with `data` in place of its own: the event's raw text when the
 * data is unchanged, else its fields in their order with the data as one `data:` line
 * per line of `data` (where the first `data:` line was), LF line ends, and the blank
 * line if the event had one.
 */
export function serializeSseEvent(event: SseEvent, data: string | null): string {
  if (data === event.data) return event.raw;
  const out: string[] = [];
  let dataWritten = false;
  const writeData = () => {
    if (dataWritten || data === null) return;
    for (const part of data.split(/\r\n|\r|\n/)) out.push(`data: ${part}`);
    dataWritten = true;
  };
  let endsWithLineEnd = false;
  for (const line of lines(event.raw)) {
    endsWithLineEnd = line.terminated;
    if (line.start === line.end) continue; // the terminating blank line, written below
    const field = fieldOf(event.raw, line);
    if (field?.name === 'data') writeData();
    else out.push(event.raw.slice(line.start, line.end));
  }
  writeData(); // an event that had no data field
  if (event.complete) return `${out.join('\n')}\n\n`;
  return out.join('\n') + (endsWithLineEnd ? '\n' : '');
}

/** A whole stream, each event with its replacement data if `dataOf` has one. */
export function serializeSse(events: readonly SseEvent[], dataOf: (index: number) => string | undefined = () => undefined): string {
  const parts: string[] = new Array(events.length);
  for (let i = 0; i < events.length; i++) {
    const data = dataOf(i);
    parts[i] = data === undefined ? events[i].raw : serializeSseEvent(events[i], data);
  }
  return parts.join('');
}
