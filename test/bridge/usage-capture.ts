/**
 * kong/lua/usage-capture.lua (post-function body_filter) in TypeScript, for the bridge,
 * which cannot run Lua: the same state machine, step for step, over the same bytes
 * (strings here hold one byte per character, latin1, as Lua strings hold bytes), so
 * the client gets the same bytes and kong.ctx.shared.llm_usage / the `llm.usage`
 * serialize value are the same. Read the Lua for the why of each rule; this file only
 * mirrors it. test/foundation/lua/post-function-agreement.test.ts runs a corpus of
 * answers, cut into chunks every way, through both and compares.
 *
 * JSON is decoded with JSON.parse where the Lua uses lua-cjson with invalid numbers
 * refused: the same acceptance but for nesting past cjson's 1000 levels (cjson
 * refuses) and invalid UTF-8 inside strings (cjson keeps the bytes, JSON.parse reads
 * U+FFFD); neither reaches a count or the `choices` test.
 */
import type { Headers } from './request-context';

const TAIL_MAX = 8192;
const LINE_MAX = 65536;
const HOLD_MAX = 16384;
const MAX_INT = 9007199254740991;
/** Lua's `"usage"%s*:%s*{`: %s is C isspace. */
const USAGE_KEY = /"usage"[ \t\n\v\f\r]*:[ \t\n\v\f\r]*\{/g;
const STRUCT = /[{}[\]"]/g;
const STRING_END = /["\\]/g;

/** What the filter reads and writes of the request, as Kong's PDK gives it. */
export interface UsageCaptureHost {
  shared: Record<string, unknown>;
  response: { status: number; headers: Headers; source: 'service' | 'exit' | 'error' };
  setSerializeValue(key: string, value: unknown): void;
  log(message: string): void;
  /** cjson.safe could be required (kong.env's untrusted_lua_sandbox_requires lists it). */
  cjson: boolean;
}

type Usage = Record<string, number | string>;
type Tail = { s: string };

const own = (o: unknown, k: string): unknown =>
  typeof o === 'object' && o !== null && Object.prototype.hasOwnProperty.call(o, k) ? (o as Record<string, unknown>)[k] : undefined;
/** Lua's type(v) == "table" for a decoded JSON value (arrays are tables too). */
const isTable = (v: unknown): v is object => typeof v === 'object' && v !== null;
const isNull = (v: unknown) => v === undefined || v === null;
const nonNegInt = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= MAX_INT && Math.floor(v) === v;

function decode(s: string): unknown {
  try {
    return JSON.parse(Buffer.from(s, 'latin1').toString('utf8'));
  } catch {
    return undefined;
  }
}

function detail(details: unknown, key: string): [number | null, boolean] {
  if (isNull(details)) return [null, true];
  if (!isTable(details)) return [null, false];
  const v = own(details, key);
  if (isNull(v)) return [null, true];
  if (nonNegInt(v)) return [v, true];
  return [null, false];
}

function mapUsage(u: unknown, source: string): Usage | null {
  if (!isTable(u)) return null;
  const responses = own(u, 'input_tokens') !== undefined || own(u, 'output_tokens') !== undefined;
  let prompt: unknown;
  let completion: unknown;
  if (responses) {
    prompt = own(u, 'input_tokens');
    completion = own(u, 'output_tokens');
  } else {
    prompt = own(u, 'prompt_tokens');
    completion = own(u, 'completion_tokens');
    if (isNull(completion)) completion = 0;
  }
  const total = own(u, 'total_tokens');
  if (!(nonNegInt(prompt) && nonNegInt(completion) && nonNegInt(total))) return null;
  const [cached, ok1] = detail(own(u, responses ? 'input_tokens_details' : 'prompt_tokens_details'), 'cached_tokens');
  const [reasoning, ok2] = detail(own(u, responses ? 'output_tokens_details' : 'completion_tokens_details'), 'reasoning_tokens');
  if (!(ok1 && ok2)) return null;
  // a Lua table holds no nil: unknown counts are absent
  const out: Usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total };
  if (cached !== null) out.cached_tokens = cached;
  if (reasoning !== null) out.reasoning_tokens = reasoning;
  out.source = source;
  return out;
}

/** Index of the `}` closing the object that opens at `i`; null when it does not close in `s`. */
function objectEnd(s: string, i: number): number | null {
  let depth = 0;
  for (;;) {
    STRUCT.lastIndex = i;
    const m = STRUCT.exec(s);
    if (!m) return null;
    i = m.index;
    const c = s[i];
    if (c === '"') {
      let j = i + 1;
      for (;;) {
        STRING_END.lastIndex = j;
        const e = STRING_END.exec(s);
        if (!e) return null;
        j = e.index;
        if (s[j] === '\\') j += 2;
        else break;
      }
      i = j + 1;
    } else {
      if (c === '{' || c === '[') depth++;
      else {
        depth--;
        if (depth === 0) return i;
      }
      i++;
    }
  }
}

/** The last well-formed usage object in a tail of a JSON text, mapped; null if none. */
function usageInTail(s: string, source: string): Usage | null {
  const starts: number[] = [];
  USAGE_KEY.lastIndex = 0;
  for (let m = USAGE_KEY.exec(s); m; m = USAGE_KEY.exec(s)) {
    const p = m.index;
    let bs = 0;
    for (let j = p - 1; j >= 0 && s[j] === '\\'; j--) bs++;
    if (bs % 2 === 0) starts.push(p + m[0].length - 1);
    USAGE_KEY.lastIndex = p + 1;
  }
  for (let k = starts.length - 1; k >= 0; k--) {
    const e = objectEnd(s, starts[k]);
    if (e !== null) {
      const usage = mapUsage(decode(s.slice(starts[k], e + 1)), source);
      if (usage) return usage;
    }
  }
  return null;
}

const hasUsageKey = (s: string) => {
  USAGE_KEY.lastIndex = 0;
  return USAGE_KEY.test(s);
};

/** The last `cap` bytes of what was added (the Lua keeps a kept string plus newer pieces: same bytes). */
function tailAdd(t: Tail, s: string, cap: number): void {
  t.s += s;
  if (t.s.length > 2 * cap) t.s = t.s.slice(-cap);
}
const tailGet = (t: Tail, cap: number) => t.s.slice(-cap);

const first = (v: string[] | undefined) => v?.[0];

/**
 * One request's body_filter: `filter` is called with each chunk of the body as it
 * passes (eof on the last call) and returns the bytes the client gets instead.
 */
export class UsageCapture {
  private mode: 'unset' | 'skip' | 'off' | 'json' | 'sse' = 'unset';
  private preset = false;
  private published = false;
  private bytes = 0;
  private status = 0;
  private stream = false;
  private encoded = false;
  private tail: Tail = { s: '' };
  private drop = false;
  private line: string[] = [];
  private lineN = 0;
  private lover = false;
  private lhead = '';
  private ltail: Tail = { s: '' };
  private data: string[] = [];
  private ldata = 0;
  private ebig = false;
  private etail = '';
  private hold: string[] = [];
  private holdN = 0;
  private hpass = false;

  /** Per worker in the Lua (an upvalue): one error when cjson.safe cannot be required. */
  private static warned = new WeakSet<object>();

  constructor(private readonly host: UsageCaptureHost, private readonly worker: object = UsageCapture) {}

  filter(chunk: Buffer, eof: boolean): Buffer {
    if (this.mode === 'unset') this.init();
    if (this.mode === 'skip') return chunk;
    this.bytes += chunk.length;
    let out = chunk;
    if (this.mode === 'json') {
      if (chunk.length) tailAdd(this.tail, chunk.toString('latin1'), TAIL_MAX);
      if (eof) {
        const usage = usageInTail(tailGet(this.tail, TAIL_MAX), 'response');
        if (usage) this.publish(usage);
      }
    } else if (this.mode === 'sse') {
      const replaced = this.sseChunk(chunk.toString('latin1'), eof);
      if (replaced !== null) out = Buffer.from(replaced, 'latin1');
    }
    if (eof) {
      this.publishNone();
      this.mode = 'skip';
      this.tail = { s: '' };
    }
    return out;
  }

  private init(): void {
    const { response, shared } = this.host;
    if (response.source !== 'service') {
      this.mode = 'skip';
      return;
    }
    const encoding = first(response.headers.get('content-encoding'));
    const rawCt = first(response.headers.get('content-type'));
    const ct = rawCt === undefined ? undefined : rawCt.toLowerCase();
    this.mode = 'off';
    this.preset = shared.llm_usage !== undefined && shared.llm_usage !== null;
    this.status = response.status;
    this.stream = ct !== undefined && /^[ \t\n\v\f\r]*text\/event-stream/.test(ct);
    this.encoded = encoding !== undefined && encoding.toLowerCase() !== 'identity';
    if (!this.host.cjson) {
      if (!UsageCapture.warned.has(this.worker)) {
        UsageCapture.warned.add(this.worker);
        this.host.log("llm usage capture disabled: require 'cjson.safe' failed (add cjson.safe to untrusted_lua_sandbox_requires)");
      }
      return;
    }
    if (this.status < 200 || this.status > 299 || this.encoded || ct === undefined) return;
    if (/^[ \t\n\v\f\r]*application\/json/.test(ct)) {
      this.mode = 'json';
      return;
    }
    if (!this.stream) return;
    this.mode = 'sse';
    const injected = (v: unknown) => isTable(v) && own(v, 'include_usage_injected') === true;
    this.drop = (injected(shared.llm_guard) || injected(shared.llm_rate_limit)) && !response.headers.has('content-length');
  }

  private publish(usage: Usage): void {
    if (this.preset) return;
    this.published = true;
    this.host.shared.llm_usage = usage;
    this.host.setSerializeValue('llm.usage', { ...usage });
  }

  private publishNone(): void {
    if (this.preset || this.published) return;
    const none = { source: 'none', status: this.status, answer_bytes: this.bytes, stream: this.stream, encoded: this.encoded };
    this.host.shared.llm_usage = none;
    this.host.setSerializeValue('llm.usage', { ...none });
  }

  private dispatch(out: string[], final: boolean): void {
    let dropIt = false;
    if (this.ebig) {
      const usage = usageInTail(this.etail, 'stream');
      if (usage) this.publish(usage);
    } else if (this.data.length > 0) {
      const data = this.data.join('\n');
      if (hasUsageKey(data)) {
        const obj = decode(data);
        if (isTable(obj)) {
          let u = own(obj, 'usage');
          const response = own(obj, 'response');
          if (!isTable(u) && isTable(response)) u = own(response, 'usage');
          const usage = mapUsage(u, 'stream');
          if (usage) this.publish(usage);
          const choices = own(obj, 'choices');
          // Lua's next(choices) == nil: an empty array or an empty object
          dropIt = isTable(own(obj, 'usage')) && isTable(choices) && Object.keys(choices).length === 0;
        }
      }
    }
    this.data = [];
    this.ldata = 0;
    this.ebig = false;
    this.etail = '';
    if (this.drop) {
      if (!(dropIt && !final && !this.hpass) && this.holdN > 0) out.push(this.hold.join(''));
      this.hold = [];
      this.holdN = 0;
      this.hpass = false;
    }
  }

  private addData(v: string): void {
    if (this.ebig) {
      this.etail = `${this.etail}\n${v}`.slice(-TAIL_MAX);
      return;
    }
    if (this.ldata + v.length > LINE_MAX) {
      const joined = this.data.length > 0 ? `${this.data.join('\n')}\n${v}` : v;
      this.ebig = true;
      this.etail = joined.slice(-TAIL_MAX);
      this.data = [];
      this.ldata = 0;
      return;
    }
    this.data.push(v);
    this.ldata += v.length + 1;
  }

  private onLine(line: string, out: string[]): void {
    const n = line.length;
    if (n === 0 || (n === 1 && line === '\r')) return this.dispatch(out, false);
    if (line.startsWith('data:')) {
      const from = line[5] === ' ' ? 6 : 5;
      const to = line[n - 1] === '\r' ? n - 1 : n;
      // Lua's sub(line, first, last) with last < first is ""
      this.addData(to > from ? line.slice(from, to) : '');
    }
  }

  private onLongLine(head: string, tail: string): void {
    if (head.startsWith('data:')) {
      this.ebig = true;
      this.etail = tail;
      this.data = [];
      this.ldata = 0;
    }
  }

  private lineAdd(s: string): void {
    if (s === '') return;
    if (this.lover) {
      tailAdd(this.ltail, s, TAIL_MAX);
      return;
    }
    this.line.push(s);
    this.lineN += s.length;
    if (this.lineN > LINE_MAX) {
      const all = this.line.join('');
      this.line = [];
      this.lineN = 0;
      this.lover = true;
      this.lhead = all.slice(0, 16);
      this.ltail = { s: '' };
      tailAdd(this.ltail, all, TAIL_MAX);
    }
  }

  private holdAdd(s: string, out: string[]): void {
    if (s === '') return;
    if (this.hpass) {
      out.push(s);
      return;
    }
    this.hold.push(s);
    this.holdN += s.length;
    if (this.holdN > HOLD_MAX) {
      out.push(this.hold.join(''));
      this.hold = [];
      this.holdN = 0;
      this.hpass = true;
    }
  }

  /** The client's bytes for this chunk in drop mode; null when the chunk passes unchanged. */
  private sseChunk(chunk: string, eof: boolean): string | null {
    const out: string[] | null = this.drop ? [] : null;
    let pos = 0;
    const len = chunk.length;
    while (pos < len) {
      const nl = chunk.indexOf('\n', pos);
      if (nl === -1) {
        const rest = chunk.slice(pos);
        this.lineAdd(rest);
        if (out) this.holdAdd(rest, out);
        break;
      }
      const piece = chunk.slice(pos, nl);
      if (out) this.holdAdd(chunk.slice(pos, nl + 1), out);
      if (this.lover) {
        tailAdd(this.ltail, piece, TAIL_MAX);
        const head = this.lhead;
        const tail = tailGet(this.ltail, TAIL_MAX);
        this.lover = false;
        this.lhead = '';
        this.ltail = { s: '' };
        this.onLongLine(head, tail);
      } else if (this.lineN > 0) {
        this.line.push(piece);
        const line = this.line.join('');
        this.line = [];
        this.lineN = 0;
        this.onLine(line, out ?? []);
      } else {
        this.onLine(piece, out ?? []);
      }
      pos = nl + 1;
    }
    if (eof) {
      if (this.data.length > 0 || this.ebig) this.dispatch(out ?? [], true);
      else if (out && this.holdN > 0) {
        out.push(this.hold.join(''));
        this.hold = [];
        this.holdN = 0;
      }
    }
    return out ? out.join('') : null;
  }
}
