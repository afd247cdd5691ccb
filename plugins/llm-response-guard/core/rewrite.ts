/**
 * The texts of an answer, and writing them back redacted and restored.
 *
 * Which texts (what the model wrote and a client shows or acts on; OpenAI API reference):
 * - Chat Completions: `choices[i].message.content`, `.refusal`,
 *   `.tool_calls[j].function.arguments` and the legacy `.function_call.arguments`; streamed,
 *   the same members of `choices[i].delta`. Tool arguments are included: a client's code
 *   executes them with the data the model put there (a leak), and restoring the request's
 *   placeholders there is what lets a tool call reach the real address. Placeholders and
 *   masks contain no `"` or `\`, so arguments that were JSON stay JSON unless an
 *   operator's custom pattern matches across a quote.
 * - Completions: `choices[i].text`, streamed or not.
 * - Responses: per output item, `content[m].text` of `output_text` parts, `.refusal` of
 *   `refusal` parts, `arguments` of `function_call` items. Streamed: the deltas of
 *   `response.output_text.delta`, `response.refusal.delta`,
 *   `response.function_call_arguments.delta`, and every snapshot that repeats them:
 *   `response.output_text.done` `text`, `response.refusal.done` `refusal`,
 *   `response.function_call_arguments.done` `arguments`, `part` of
 *   `response.content_part.*`, `item` of `response.output_item.*`, and `response.output`
 *   of `response.created/in_progress/completed/incomplete/failed`.
 * Not rewritten: reasoning summaries, audio transcripts, annotations, tool names, logprobs.
 *
 * Streams: a value split across deltas. A delta is not text on its own: OpenAI cuts the
 * answer at token boundaries, so an address arrives as `alice.smith` + `@example` + `.com`
 * and no delta matches a detector. The deltas of one text (one choice's content, one tool
 * call's arguments, one Responses content part) are therefore joined, the joined text is
 * redacted once with the answer's session, and the result is cut back into as many deltas,
 * in the same events, such that their concatenation is exactly the redacted text:
 * - text outside any match stays in the delta it came from;
 * - a replacement (placeholder, mask, restored value) is written in the delta where the
 *   match ENDS; deltas that held only the match's beginning become `""` (kept, with their
 *   events, so indices, finish reasons and event counts are untouched).
 * The cut points come from the policy's spans (`policy.scan`) checked against what the
 * session wrote; if the two disagree (a value the session learnt from an earlier text of
 * the answer), the cut falls back to common prefix and suffix: everything from the first
 * change to the last one goes to the delta where the last change ends. Either way every
 * delta is a slice of the redacted text, so no delta carries a piece of a redacted value.
 *
 * The same joined text is redacted once per answer (memoized), so a Responses stream's
 * deltas and its `.done` and `response.completed` snapshots get the same placeholders and
 * count their findings once.
 *
 * Restore (the request's placeholders, `[EMAIL_1]` -> the client's own value) runs after
 * redaction and only on text the model wrote: not on a placeholder the answer's own
 * redaction produced, even if it has the same name (the answer's session numbers its
 * placeholders independently of the request's). A restored value is never redacted again.
 */
import { maskValue, type RedactionPolicy, type RedactionSession } from '../../shared/redaction';
import type { Answer } from './answer';
import { isObj, type Obj } from '../../shared/values';

/** Where one piece of text lives: a string member of a parsed JSON value. */
export interface TextPiece {
  readonly holder: Obj;
  readonly key: string;
  /** Index of the SSE event it belongs to; -1 in a JSON answer. */
  readonly event: number;
}

/** The pieces of one logical text, in order; a JSON answer's texts have one piece. */
export type TextGroup = readonly TextPiece[];

/** Collects pieces into groups, keeping the order in which groups first appear. */
class Groups {
  private readonly byKey = new Map<string, TextPiece[]>();

  add(key: string, holder: Obj, member: string, event: number): void {
    if (typeof holder[member] !== 'string') return;
    let pieces = this.byKey.get(key);
    if (pieces === undefined) this.byKey.set(key, (pieces = []));
    pieces.push({ holder, key: member, event });
  }

  list(): TextGroup[] {
    return [...this.byKey.values()];
  }
}

/** A stable part of a group key from an index member OpenAI sends as a number. */
const indexOf = (v: unknown, fallback: number): string => (typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : `@${fallback}`);

/** The message (or delta) members a Chat Completions choice writes text to. */
function addChatMessage(groups: Groups, prefix: string, message: Obj, event: number): void {
  groups.add(`${prefix}content`, message, 'content', event);
  groups.add(`${prefix}refusal`, message, 'refusal', event);
  if (Array.isArray(message.tool_calls)) {
    message.tool_calls.forEach((call, j) => {
      if (isObj(call) && isObj(call.function)) groups.add(`${prefix}tool${indexOf(call.index, j)}`, call.function, 'arguments', event);
    });
  }
  if (isObj(message.function_call)) groups.add(`${prefix}fn`, message.function_call, 'arguments', event);
}

function addChoices(groups: Groups, prefix: string, choices: unknown[], event: number): void {
  choices.forEach((choice, i) => {
    if (!isObj(choice)) return;
    const p = `${prefix}c${indexOf(choice.index, i)}.`;
    if (isObj(choice.message)) addChatMessage(groups, p, choice.message, event);
    if (isObj(choice.delta)) addChatMessage(groups, p, choice.delta, event);
    groups.add(`${p}text`, choice, 'text', event);
  });
}

/** A Responses content part: `output_text` text or `refusal`. */
function addPart(groups: Groups, key: string, part: unknown, event: number): void {
  if (!isObj(part)) return;
  if (part.type === 'output_text') groups.add(key, part, 'text', event);
  else if (part.type === 'refusal') groups.add(key, part, 'refusal', event);
}

/** A Responses output item: a message's parts, a function call's arguments. */
function addItem(groups: Groups, key: string, item: unknown, event: number): void {
  if (!isObj(item)) return;
  if (item.type === 'function_call') groups.add(key, item, 'arguments', event);
  if (Array.isArray(item.content)) item.content.forEach((part, m) => addPart(groups, `${key}.${m}`, part, event));
}

function addOutput(groups: Groups, key: string, output: unknown, event: number): void {
  if (Array.isArray(output)) output.forEach((item, k) => addItem(groups, `${key}.${k}`, item, event));
}

/** The delta events of the Responses API, with the member that carries the delta. */
const RESPONSES_DELTAS: Readonly<Record<string, string>> = {
  'response.output_text.delta': 'text',
  'response.refusal.delta': 'refusal',
  'response.function_call_arguments.delta': 'args',
};

/** One event of a Responses stream (`type: 'response.*'`). */
function addResponsesEvent(groups: Groups, ev: Obj, e: number): void {
  const type = ev.type as string;
  const delta = RESPONSES_DELTAS[type];
  if (delta !== undefined) {
    // one text per output item and content part, whatever the event interleaving
    groups.add(`rs.${delta}.${indexOf(ev.output_index, -1)}.${indexOf(ev.content_index, -1)}`, ev, 'delta', e);
    return;
  }
  const own = `e${e}`;
  if (type === 'response.output_text.done') groups.add(`${own}.text`, ev, 'text', e);
  if (type === 'response.refusal.done') groups.add(`${own}.refusal`, ev, 'refusal', e);
  if (type === 'response.function_call_arguments.done') groups.add(`${own}.args`, ev, 'arguments', e);
  addPart(groups, `${own}.part`, ev.part, e);
  addItem(groups, `${own}.item`, ev.item, e);
  if (isObj(ev.response)) addOutput(groups, `${own}.output`, ev.response.output, e);
}

/**
 * Every text of `answer` the guard rewrites (see the top of this file), grouped: the
 * pieces of one group are consecutive parts of one text.
 */
export function answerTexts(answer: Answer): TextGroup[] {
  const groups = new Groups();
  if (answer.kind === 'json') {
    const v = answer.value;
    if (isObj(v)) {
      // each location is its own text: prefix the keys with the event so none merge
      if (Array.isArray(v.choices)) addChoices(groups, 'j.', v.choices, -1);
      addOutput(groups, 'j.output', v.output, -1);
    }
  } else if (answer.kind === 'sse') {
    answer.events.forEach((event, e) => {
      const ev = event.json;
      if (!isObj(ev)) return;
      if (typeof ev.type === 'string' && ev.type.startsWith('response.')) addResponsesEvent(groups, ev, e);
      // choices of chunks share keys across events: a choice's deltas are one text
      else if (Array.isArray(ev.choices)) addChoices(groups, 's.', ev.choices, e);
    });
  }
  return groups.list();
}

/** A stretch of the joined text `[start, end)`: kept (`out` null) or replaced by `out`. */
interface Segment {
  start: number;
  end: number;
  out: string | null;
  /** `out` may contain model text with request placeholders (fallback cut). */
  mixed?: boolean;
}

/** Rewrites the texts of one answer: one redaction session per answer. */
export class TextRewriter {
  readonly session: RedactionSession | null;
  private readonly redacted = new Map<string, string>();
  private readonly longestPlaceholder: number;

  constructor(
    private readonly policy: RedactionPolicy | null,
    private readonly placeholders: ReadonlyMap<string, string> | null,
  ) {
    this.session = policy?.newSession() ?? null;
    let longest = 0;
    for (const p of placeholders?.keys() ?? []) longest = Math.max(longest, p.length);
    this.longestPlaceholder = longest;
  }

  /**
   * The pieces of one text, rewritten: as many pieces, whose concatenation is the
   * redacted and restored text (see the top of this file for where replacements land).
   */
  rewrite(pieces: readonly string[]): string[] {
    const text = pieces.join('');
    const segments = this.restoreIn(text, this.redactionSegments(text));
    if (segments.length === 1 && segments[0].out === null) return [...pieces];
    return cut(text, pieces, segments);
  }

  /** The joined text as kept and replaced stretches, after redaction. */
  private redactionSegments(text: string): Segment[] {
    const whole: Segment[] = [{ start: 0, end: text.length, out: null }];
    if (this.policy === null || this.session === null || text.length === 0) return whole;
    let redacted = this.redacted.get(text);
    if (redacted === undefined) {
      redacted = this.session.redact(text).text;
      this.redacted.set(text, redacted);
    }
    if (redacted === text) return whole;
    return this.aligned(text, redacted) ?? fallbackSegments(text, redacted);
  }

  /**
   * Segments from the policy's spans, each checked against the session's output: the
   * text between spans must be there verbatim and each replacement must be what the
   * span's action gives. Null on any disagreement.
   */
  private aligned(text: string, redacted: string): Segment[] | null {
    const policy = this.policy!;
    const session = this.session!;
    const segments: Segment[] = [];
    let at = 0;
    let j = 0;
    for (const span of policy.scan(text)) {
      if (span.start < at) return null;
      const kept = text.slice(at, span.start);
      if (!redacted.startsWith(kept, j)) return null;
      if (kept.length > 0) segments.push({ start: at, end: span.start, out: null });
      j += kept.length;
      const value = text.slice(span.start, span.end);
      const action = policy.actionFor(span.type);
      let replacement: string;
      if (action === 'allow') replacement = value;
      else if (action === 'mask') replacement = maskValue(span.type, value);
      else {
        // redact and block write a placeholder `[LABEL_N]`: no `]` inside
        const close = redacted.charCodeAt(j) === 0x5b ? redacted.indexOf(']', j) : -1;
        if (close === -1) return null;
        replacement = redacted.slice(j, close + 1);
        if (session.restore(replacement) !== value) return null;
      }
      if (!redacted.startsWith(replacement, j)) return null;
      segments.push({ start: span.start, end: span.end, out: replacement === value ? null : replacement });
      j += replacement.length;
      at = span.end;
    }
    if (redacted.length - j !== text.length - at || !redacted.endsWith(text.slice(at))) return null;
    if (at < text.length) segments.push({ start: at, end: text.length, out: null });
    return segments;
  }

  /** Request placeholders in kept stretches (and mixed ones) replaced by their originals. */
  private restoreIn(text: string, segments: Segment[]): Segment[] {
    const map = this.placeholders;
    if (map === null || map.size === 0) return segments;
    // one search over the whole text (per segment, a search for the next `[` could run
    // to the end of the text each time); a match counts only inside one kept stretch
    const found = [...findPlaceholders(text, 0, text.length, map, this.longestPlaceholder)];
    const out: Segment[] = [];
    let f = 0;
    for (const seg of segments) {
      if (seg.out !== null) {
        out.push(seg.mixed === true ? { ...seg, out: this.restoreMixed(seg.out) } : seg);
        continue;
      }
      let at = seg.start;
      while (f < found.length && found[f][0] < seg.start) f++;
      for (; f < found.length && found[f][1] <= seg.end; f++) {
        const [start, end, original] = found[f];
        if (start > at) out.push({ start: at, end: start, out: null });
        out.push({ start, end, out: original });
        at = end;
      }
      if (at < seg.end) out.push({ start: at, end: seg.end, out: null });
    }
    return out;
  }

  /** In redacted text of unknown layout: restores request placeholders that are not the answer session's own. */
  private restoreMixed(s: string): string {
    const map = this.placeholders!;
    const parts: string[] = [];
    let at = 0;
    for (const [start, end, original] of findPlaceholders(s, 0, s.length, map, this.longestPlaceholder)) {
      const placeholder = s.slice(start, end);
      if (this.session !== null && this.session.restore(placeholder) !== placeholder) continue; // ours: ambiguous, keep
      parts.push(s.slice(at, start), original);
      at = end;
    }
    if (at === 0) return s;
    parts.push(s.slice(at));
    return parts.join('');
  }
}

/** Segments when spans cannot be matched: one replaced stretch between the common prefix and suffix. */
function fallbackSegments(text: string, redacted: string): Segment[] {
  const max = Math.min(text.length, redacted.length);
  let p = 0;
  while (p < max && text.charCodeAt(p) === redacted.charCodeAt(p)) p++;
  let s = 0;
  while (s < max - p && text.charCodeAt(text.length - 1 - s) === redacted.charCodeAt(redacted.length - 1 - s)) s++;
  const segments: Segment[] = [];
  if (p > 0) segments.push({ start: 0, end: p, out: null });
  segments.push({ start: p, end: text.length - s, out: redacted.slice(p, redacted.length - s), mixed: true });
  if (s > 0) segments.push({ start: text.length - s, end: text.length, out: null });
  return segments;
}

/**
 * `[start, end, original]` of each request placeholder in `s[from, to)`, in order. Linear:
 * the next `[` and the next `]` are each searched forward only.
 */
function* findPlaceholders(
  s: string,
  from: number,
  to: number,
  map: ReadonlyMap<string, string>,
  longest: number,
): Generator<[number, number, string]> {
  let close = -1;
  for (let open = s.indexOf('[', from); open !== -1 && open < to; open = s.indexOf('[', open + 1)) {
    if (close < open) {
      close = s.indexOf(']', open);
      if (close === -1 || close >= to) return;
    }
    if (close - open + 1 > longest) continue;
    const original = map.get(s.slice(open, close + 1));
    if (original === undefined) continue;
    yield [open, close + 1, original];
    open = close;
  }
}

/**
 * Cuts the rewritten text back into `pieces.length` pieces: a piece boundary in kept text
 * stays where it was; one inside a replaced stretch moves to the stretch's start, so the
 * replacement lands in the piece where the stretch ends.
 */
function cut(text: string, pieces: readonly string[], segments: readonly Segment[]): string[] {
  const out: string[] = [];
  const outStart: number[] = [];
  let length = 0;
  for (const seg of segments) {
    outStart.push(length);
    const part = seg.out ?? text.slice(seg.start, seg.end);
    out.push(part);
    length += part.length;
  }
  const rewritten = out.join('');
  const result: string[] = new Array(pieces.length);
  let k = 0;
  let boundary = 0; // in the joined text
  let from = 0; // in the rewritten text
  for (let i = 0; i < pieces.length; i++) {
    boundary += pieces[i].length;
    let to: number;
    if (i === pieces.length - 1) to = rewritten.length;
    else {
      while (k < segments.length && segments[k].end <= boundary) k++;
      const seg = segments[k];
      to = seg === undefined ? rewritten.length : outStart[k] + (seg.out === null ? boundary - seg.start : 0);
    }
    result[i] = rewritten.slice(from, Math.max(from, to));
    from = Math.max(from, to);
  }
  return result;
}

/** What rewriting changed: whether a JSON answer changed, and which events of a stream did. */
export interface RewriteResult {
  changed: boolean;
  changedEvents: ReadonlySet<number>;
}

/** Rewrites every text of `answer` in place (the parsed values are mutated). */
export function rewriteAnswer(answer: Answer, rewriter: TextRewriter): RewriteResult {
  const changedEvents = new Set<number>();
  let changed = false;
  for (const group of answerTexts(answer)) {
    const before = group.map((p) => p.holder[p.key] as string);
    const after = rewriter.rewrite(before);
    group.forEach((piece, i) => {
      if (after[i] === before[i]) return;
      piece.holder[piece.key] = after[i];
      changed = true;
      if (piece.event >= 0) changedEvents.add(piece.event);
    });
  }
  return { changed, changedEvents };
}
