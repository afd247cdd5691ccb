/**
 * The bridge runs kong.yml's post-function chunks natively (test/bridge/post-function.ts,
 * usage-capture.ts); Kong runs the Lua. Here both get the same inputs: the Lua from
 * kong/lua/ under LuaJIT (the harness: Kong's sandbox, cjson.safe allowed as kong.env
 * allows it) and the bridge's emulation, parsed from kong/kong.yml's own post-function
 * config, as the bridge parses it. For every answer of the corpus, cut into chunks
 * (at every byte for short streams, at random points for longer ones, fixed sizes),
 * both must give the client the same bytes, leave the same kong.ctx.shared.llm_usage
 * and the same serialize values, whatever the cuts; the header and serialize chunks
 * likewise.
 */
import fs = require('fs');
import path = require('path');
import zlib = require('zlib');
import { loadDeclarative } from '../../bridge/declarative';
import { REPO_ROOT } from '../../bridge/kong-settings';
import { luaRoundTrip } from '../../bridge/lua-values';
import { parsePostFunction, type ChunkContext, type PostFunction } from '../../bridge/post-function';
import type { Headers } from '../../bridge/request-context';
import { POST_FUNCTION_CHUNKS } from '../../../scripts/gen-kong-lua';
import { ANSWER_CHECK, FACTS, IDENTITY, RATE_LIMIT_LOG, USAGE } from './ctx-values';
import { runLua, type AccessResult, type BodyCase, type BodyResult, type HeaderResult, type LuaInput } from './lua-harness';
import {
  CHAT_USAGE,
  JSON_TYPE,
  SSE_TYPE,
  TRICKY_PIECES,
  chatCompletion,
  chatStream,
  completionJson,
  embeddingsJson,
  openAiError,
  responsesJson,
  responsesStream,
} from './openai-bodies';

const INJECTED = { llm_guard: { include_usage_injected: true, endpoint: 'chat_completions', stream: true } };
/** llm-rate-limit added include_usage (no guard on the route). */
const INJECTED_BY_LIMITER = { llm_rate_limit: { include_usage_injected: true, allowed: true } };
const SSE = { 'content-type': SSE_TYPE };
const JSON_H = { 'content-type': JSON_TYPE };

function postFunctionOfKongYml(): PostFunction {
  const decl = loadDeclarative(fs.readFileSync(path.join(REPO_ROOT, 'kong', 'kong.yml'), 'utf8'));
  const entity = decl.plugins.find((p) => p.name === 'post-function')!;
  return parsePostFunction(entity.config, { cjson: true });
}

/** An empty Lua table has no kind: the harness writes `{}`, the bridge may hold `[]`. */
function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 0 ? {} : v.map(normalize);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

/** A small seeded PRNG (mulberry32): the random cuts are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Run {
  chunks: Buffer[];
  separateEof: boolean;
}

/** The cuts of harness.lua's split modes (random: other points, same count range). */
function splits(c: BodyCase): Run[] {
  const body = Buffer.isBuffer(c.body) ? c.body : Buffer.from(c.body, 'utf8');
  const n = body.length;
  const mode = c.splits ?? 'whole';
  if (mode === 'whole') return [{ chunks: [body], separateEof: false }];
  if (mode === 'all2') return Array.from({ length: n + 1 }, (_, k) => ({ chunks: [body.subarray(0, k), body.subarray(k)], separateEof: k % 2 === 1 }));
  if (mode === 'sizes') {
    return c.sizes!.map((size) => {
      const chunks: Buffer[] = [];
      for (let i = 0; i < n; i += size) chunks.push(body.subarray(i, i + size));
      return { chunks, separateEof: size % 2 === 0 };
    });
  }
  const rnd = prng(c.seed ?? 1);
  return Array.from({ length: c.runs ?? 100 }, (_, r) => {
    const cuts = [0, n];
    const count = 1 + Math.floor(rnd() * (c.max_cuts ?? 20));
    for (let i = 0; i < count; i++) cuts.push(Math.floor(rnd() * (n + 1)));
    cuts.sort((a, b) => a - b);
    const chunks: Buffer[] = [];
    for (let i = 1; i < cuts.length; i++) chunks.push(body.subarray(cuts[i - 1], cuts[i]));
    return { chunks, separateEof: r % 2 === 1 };
  });
}

const headerMap = (h: Record<string, string> = {}): Headers => new Map(Object.entries(h).map(([k, v]) => [k.toLowerCase(), [v]]));
const serializedOf = (ctx: ChunkContext) => Object.fromEntries(ctx.serializeValues.map((v) => [v.key, v.value]));

interface BridgeBodyResult {
  outputs: Buffer[];
  usages: unknown[];
  serialized: unknown[];
  logs: string[];
  /** Most bytes taken in and not yet given out after any call (what the filter holds back). */
  maxLag: number;
}

function runBridgeBody(pf: PostFunction, c: BodyCase): BridgeBodyResult {
  const outputs = new Map<string, Buffer>();
  const usages = new Map<string, unknown>();
  const serialized = new Map<string, unknown>();
  const logs = new Set<string>();
  let maxLag = 0;
  for (const run of splits(c)) {
    const ctx: ChunkContext = {
      shared: luaRoundTrip(c.shared ?? {}) as Record<string, unknown>,
      serializeValues: [],
      response: { status: c.status ?? 200, headers: headerMap(c.headers), source: c.source ?? 'service' },
    };
    // the shared value as Lua holds it: an empty table crosses as []
    if (Array.isArray(ctx.shared)) ctx.shared = {};
    const filter = pf.bodyFilter(ctx, (m) => logs.add(`err: ${m}`))!;
    const out: Buffer[] = [];
    let inBytes = 0;
    let outBytes = 0;
    run.chunks.forEach((chunk, i) => {
      const o = filter.filter(chunk, i === run.chunks.length - 1 && !run.separateEof);
      inBytes += chunk.length;
      outBytes += o.length;
      maxLag = Math.max(maxLag, inBytes - outBytes);
      out.push(o);
    });
    if (run.separateEof) out.push(filter.filter(Buffer.alloc(0), true));
    const body = Buffer.concat(out);
    outputs.set(body.toString('latin1'), body);
    const usage = JSON.stringify(ctx.shared.llm_usage ?? null);
    usages.set(usage, ctx.shared.llm_usage ?? null);
    const ser = serializedOf(ctx);
    serialized.set(JSON.stringify(ser), ser);
  }
  return { outputs: [...outputs.values()], usages: [...usages.values()], serialized: [...serialized.values()], logs: [...logs], maxLag };
}

describe('post-function chunks: the Lua under LuaJIT and the bridge agree', () => {
  const pf = postFunctionOfKongYml();

  describe('body_filter (usage-capture)', () => {
    const short = chatStream({ includeUsage: true });
    const noUsage = chatStream({ includeUsage: false });
    const tricky = chatStream({ includeUsage: true, pieces: TRICKY_PIECES });
    const long = chatStream({ includeUsage: true, pieces: Array.from({ length: 400 }, (_, i) => `word${i} "q" \\ `) });
    const crlf = chatStream({ includeUsage: true, eol: '\r\n' });
    const usageOnly = `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [], usage: CHAT_USAGE })}\n\n`;
    const badUsageOnly = short.body.replace('"prompt_tokens":19', '"prompt_tokens":-19');
    const pretty = `${short.withoutUsageEvent.replace(/data: \[DONE\]\n\n$/, '')}${JSON.stringify({ choices: [], usage: CHAT_USAGE }, null, 1)
      .split('\n')
      .map((l) => `data: ${l}\n`)
      .join('')}\ndata: [DONE]\n\n`;
    const bigEvent = chatStream({ includeUsage: true, pieces: ['x'.repeat(20_000), 'y'] });
    const hugeLine = responsesStream(Array.from({ length: 900 }, (_, i) => `token ${i} "quoted" \\ naïve ${'x'.repeat(80)} `));
    const gz = zlib.gzipSync(Buffer.from(short.body));
    // a usage-only event of `size` bytes: under HOLD_MAX (16 KiB) it is dropped, over it passed on
    const usageEventOf = (size: number) => {
      const event = (id: string) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', choices: [], usage: CHAT_USAGE })}\n\n`;
      const body = (id: string) => short.withoutUsageEvent.replace(/data: \[DONE\]\n\n$/, `${event(id)}data: [DONE]\n\n`);
      return body('i'.repeat(size - event('').length));
    };
    const usageFromEnd = (distance: number) => {
      const tail = (pad: number) => `"usage":${JSON.stringify(CHAT_USAGE)},"pad":"${'p'.repeat(pad)}"}`;
      return `{"id":"x","text":"${'t'.repeat(10_000)}",${tail(distance - tail(0).length)}`;
    };
    const random = (c: Omit<BodyCase, 'splits'>, runs = 60, maxCuts = 40): BodyCase => ({ ...c, splits: 'random', runs, seed: 5, max_cuts: maxCuts });

    const corpus: BodyCase[] = [
      // JSON answers
      { name: 'chat json', headers: JSON_H, body: chatCompletion(TRICKY_PIECES.join('')), splits: 'all2' },
      { name: 'chat json, no usage', headers: JSON_H, body: JSON.stringify({ id: 'x', object: 'chat.completion', choices: [] }), splits: 'all2' },
      { name: 'responses json', headers: { 'content-type': `${JSON_TYPE}; charset=utf-8` }, body: responsesJson(), splits: 'all2' },
      { name: 'embeddings json', headers: JSON_H, body: embeddingsJson(), splits: 'sizes', sizes: [1, 7, 100, 4096] },
      { name: 'completions json', headers: JSON_H, body: completionJson(), splits: 'all2' },
      { name: 'hex usage (not JSON)', headers: JSON_H, body: '{"usage":{"prompt_tokens":0x13,"completion_tokens":1,"total_tokens":20}}', splits: 'all2' },
      // `"usage":{` 8,150 bytes before the end: inside the 8 KiB tail (TAIL_MAX 8192)
      { name: 'json, usage near the tail limit', headers: JSON_H, body: usageFromEnd(8150), splits: 'sizes', sizes: [1, 333, 8192] },
      { name: 'json, usage just past the tail limit', headers: JSON_H, body: usageFromEnd(8193), splits: 'sizes', sizes: [1, 333, 8192] },
      { name: 'json with content-length', headers: { ...JSON_H, 'content-length': String(Buffer.byteLength(chatCompletion())) }, body: chatCompletion(), splits: 'whole' },
      // SSE chat streams, every byte boundary
      { name: 'stream, asked', headers: SSE, body: short.body, splits: 'all2' },
      { name: 'stream, injected', headers: SSE, shared: INJECTED, body: short.body, splits: 'all2' },
      { name: 'stream, injected by llm-rate-limit', headers: SSE, shared: INJECTED_BY_LIMITER, body: short.body, splits: 'all2' },
      { name: 'stream without usage, injected', headers: SSE, shared: INJECTED, body: noUsage.body, splits: 'all2' },
      { name: 'usage-only event alone, injected', headers: SSE, shared: INJECTED, body: usageOnly, splits: 'all2' },
      { name: 'usage-only event alone, asked', headers: SSE, body: usageOnly, splits: 'all2' },
      { name: 'invalid usage-only event, injected', headers: SSE, shared: INJECTED, body: badUsageOnly, splits: 'all2' },
      { name: 'crlf, injected', headers: SSE, shared: INJECTED, body: crlf.body, splits: 'all2' },
      { name: 'multi-line data, injected', headers: SSE, shared: INJECTED, body: pretty, splits: 'all2' },
      { name: 'unterminated, injected', headers: SSE, shared: INJECTED, body: short.body.replace(/\ndata: \[DONE\]\n\n$/, ''), splits: 'all2' },
      { name: 'no final newline, injected', headers: SSE, shared: INJECTED, body: short.body.replace(/\ndata: \[DONE\]\n\n$/, '').slice(0, -1), splits: 'all2' },
      { name: 'stream with content-length, injected', headers: { ...SSE, 'content-length': String(Buffer.byteLength(short.body)) }, shared: INJECTED, body: short.body, splits: 'all2' },
      // longer streams, random cuts
      random({ name: 'tricky, injected', headers: SSE, shared: INJECTED, body: tricky.body }),
      random({ name: 'tricky, asked', headers: SSE, body: tricky.body }),
      random({ name: 'long, injected', headers: SSE, shared: INJECTED, body: long.body }, 30, 300),
      { name: 'long, injected, sizes', headers: SSE, shared: INJECTED, body: long.body, splits: 'sizes', sizes: [1, 13, 4096] },
      random({ name: 'responses stream', headers: SSE, shared: INJECTED, body: responsesStream(TRICKY_PIECES) }),
      random({ name: 'event over the hold limit, injected', headers: SSE, shared: INJECTED, body: bigEvent.body }, 20, 60),
      random({ name: 'usage-only event of 5,000 bytes, injected', headers: SSE, shared: INJECTED, body: usageEventOf(5000) }, 20, 60),
      random({ name: 'usage-only event of 16,384 bytes, injected', headers: SSE, shared: INJECTED, body: usageEventOf(16384) }, 20, 60),
      random({ name: 'usage-only event of 16,385 bytes, injected', headers: SSE, shared: INJECTED, body: usageEventOf(16385) }, 20, 60),
      random({ name: 'usage-only event of 70,000 bytes (over the line limit), injected', headers: SSE, shared: INJECTED, body: usageEventOf(70000) }, 10, 60),
      // usage first, then 62 KB: decoded whole under LINE_MAX (64 KiB), past the 8 KiB tail
      random({ name: 'a 62 KB line with usage at its start', headers: SSE, body: `data: {"usage":${JSON.stringify(CHAT_USAGE)},"pad":"${'p'.repeat(62_000)}"}\n\n` }, 10, 40),
      random({ name: 'a 66 KB line with usage at its start', headers: SSE, body: `data: {"usage":${JSON.stringify(CHAT_USAGE)},"pad":"${'p'.repeat(66_000)}"}\n\n` }, 10, 40),
      { name: 'line over the line limit', headers: SSE, shared: INJECTED, body: hugeLine, splits: 'sizes', sizes: [4096, 65536, 1 << 20] },
      // error bodies: no usage read, recorded
      { name: '400 json', status: 400, headers: JSON_H, shared: INJECTED, body: openAiError('bad'), splits: 'all2' },
      { name: '429 json', status: 429, headers: JSON_H, body: openAiError('slow down', 'rate_limit_exceeded'), splits: 'whole' },
      { name: '500 sse', status: 500, headers: SSE, shared: INJECTED, body: short.body, splits: 'all2' },
      // compressed: not read, recorded
      { name: 'gzip sse', headers: { ...SSE, 'content-encoding': 'gzip' }, shared: INJECTED, body: gz, splits: 'all2' },
      { name: 'deflate json', headers: { ...JSON_H, 'content-encoding': 'deflate' }, body: zlib.deflateSync(Buffer.from(chatCompletion())), splits: 'all2' },
      { name: 'identity json', headers: { ...JSON_H, 'content-encoding': 'identity' }, body: chatCompletion(), splits: 'whole' },
      // left alone
      { name: 'text/plain', headers: { 'content-type': 'text/plain' }, shared: INJECTED, body: short.body, splits: 'whole' },
      { name: 'no content-type', body: chatCompletion(), splits: 'whole' },
      { name: 'empty body', headers: JSON_H, body: '', splits: 'whole' },
      { name: 'usage preset', headers: SSE, shared: { ...INJECTED, llm_usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3, source: 'response' } }, body: short.body, splits: 'all2' },
      { name: 'an exit', status: 429, source: 'exit', headers: JSON_H, body: openAiError('slow down', 'rate_limit_exceeded'), splits: 'whole' },
      { name: 'an error page', status: 502, source: 'error', headers: { 'content-type': 'text/plain' }, body: 'An invalid response was received from the upstream server', splits: 'whole' },
    ];

    const lua = runLua('kong/lua/usage-capture.lua', corpus).results as BodyResult[];

    it.each(corpus.map((c, i) => [c.name, i] as const))('%s', (_name, i) => {
      const c = corpus[i];
      const l = lua[i];
      const b = runBridgeBody(pf, c);
      // each side gives one result whatever the cuts, and it is the same
      expect({ lua: l.outputs.length, bridge: b.outputs.length }).toEqual({ lua: 1, bridge: 1 });
      if (!b.outputs[0].equals(l.outputs[0])) expect(b.outputs[0].toString('latin1')).toBe(l.outputs[0].toString('latin1'));
      expect(b.usages.map(normalize)).toEqual(l.usages.map((u) => normalize(JSON.parse(u))));
      expect(b.serialized.map(normalize)).toEqual(l.serialized.map((s) => normalize(JSON.parse(s))));
      expect(b.logs.sort()).toEqual([...l.logs].sort());
      // never the whole body held: at most one event (HOLD_MAX) and the chunk in hand
      const biggest = splits(c).reduce((m, r) => r.chunks.reduce((n, x) => Math.max(n, x.length), m), 0);
      expect(b.maxLag).toBeLessThanOrEqual(biggest + 16 * 1024);
    });

    it('the corpus exercises every outcome: usage, the unmeasured record, nothing, and a dropped event', () => {
      const sources = new Set(lua.map((r) => (JSON.parse(r.usages[0]) as { source?: string } | null)?.source ?? 'nothing'));
      expect([...sources].sort()).toEqual(['none', 'response', 'stream', 'nothing'].sort());
      const dropped = corpus.filter((c, i) => !lua[i].outputs[0].equals(Buffer.isBuffer(c.body) ? c.body : Buffer.from(c.body)));
      expect(dropped.length).toBeGreaterThan(5);
    });
  });

  describe('header_filter (ratelimit-headers)', () => {
    const upstream = {
      'content-type': 'application/json',
      'x-request-id': 'req_abc',
      'x-ratelimit-limit-requests': '10000',
      'x-ratelimit-remaining-requests': '9999',
      'X-RateLimit-Reset-Tokens': '0s',
    };
    const rl = (v: Record<string, LuaInput>) => ({ llm_rate_limit: { log: RATE_LIMIT_LOG, ...v } });
    const cases: Array<{ name: string; headers: Record<string, string>; shared?: Record<string, LuaInput> }> = [
      { name: 'nothing published', headers: upstream },
      { name: 'not a table', headers: upstream, shared: { llm_rate_limit: 'x' } },
      { name: 'replace', headers: upstream, shared: rl({ headers: { 'X-RateLimit-Remaining-Requests': '7', 'x-ratelimit-limit-requests': 10 } }) },
      { name: 'hide and set', headers: upstream, shared: rl({ hide_upstream_headers: true, headers: { 'x-ratelimit-remaining-requests': '7' } }) },
      { name: 'hide only', headers: upstream, shared: rl({ hide_upstream_headers: true }) },
      { name: 'hide not true', headers: upstream, shared: rl({ hide_upstream_headers: 'true', headers: [] }) },
      { name: 'an exit', headers: { 'content-type': 'application/json', 'retry-after': '3' }, shared: rl({ hide_upstream_headers: true, headers: { 'retry-after': '5', 'x-ratelimit-remaining-tokens': '0' } }) },
      {
        name: 'bad entries',
        headers: upstream,
        shared: rl({ headers: { ok: '1', 'x-ratelimit-f': 1.25, bad: { a: 1 }, flag: true, 'in jected': '1', crlf: 'a\r\nb', list: ['a', 'b'] } }),
      },
      { name: 'headers a list', headers: upstream, shared: rl({ headers: ['x-ratelimit-a', 'b'] }) },
    ];
    const lua = runLua('kong/lua/ratelimit-headers.lua', cases.map((c) => ({ ...c, kind: 'header' as const })), []).results as HeaderResult[];

    it.each(cases.map((c, i) => [c.name, i] as const))('%s', (_name, i) => {
      const c = cases[i];
      const ctx: ChunkContext = { shared: luaRoundTrip(c.shared ?? {}) as Record<string, unknown>, serializeValues: [], response: { status: 200, headers: headerMap(c.headers), source: 'service' } };
      const logs: string[] = [];
      pf.headerFilter(ctx, (m) => logs.push(`err: ${m}`));
      const bridge = Object.fromEntries([...ctx.response.headers].map(([k, v]) => [k, v.length === 1 ? v[0] : v]));
      expect(lua[i].ok).toBe(true);
      expect(bridge).toEqual(lua[i].headers);
      expect(logs.sort()).toEqual([...lua[i].logs].sort());
    });
  });

  describe('serialize-values (header_filter, after the access guard)', () => {
    const cases: Array<{ name: string; shared?: Record<string, LuaInput> }> = [
      { name: 'nothing' },
      { name: 'everything', shared: { llm_auth: IDENTITY, llm_guard: FACTS, llm_rate_limit: { headers: { a: '1' }, log: RATE_LIMIT_LOG } } },
      { name: 'extra members', shared: { llm_auth: { ...IDENTITY, token: 'sk-x' }, llm_guard: { ...FACTS, prompt: 'text' } } },
      { name: 'sparse', shared: { llm_auth: { credential_id: 'k', auth_method: 'jwt', scopes: [] }, llm_guard: { endpoint: 'embeddings', stream: false, findings: { pii: {}, injection: [], blocked: false } } } },
      { name: 'marks only', shared: { llm_auth: true, llm_guard: 1, llm_rate_limit: 'x' } },
      { name: 'log not a table', shared: { llm_rate_limit: { log: 'allow' } } },
      { name: 'usage published before the body', shared: { llm_usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12, cached_tokens: 0, source: 'response', extra: 'x' } } },
      { name: 'usage of another source', shared: { llm_usage: { source: 'none', status: 200, answer_bytes: 10, stream: false, encoded: false } } },
      { name: 'deep log', shared: { llm_rate_limit: { log: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } }, list: [1, 'two', true] } } } },
      { name: 'answer check in the usage', shared: { llm_usage: { ...USAGE, answer_check: ANSWER_CHECK }, llm_response_guard: { checked: true } } },
      { name: 'answer check in the mark', shared: { llm_response_guard: { checked: true, answer_check: { findings: { email: 1 }, blocked: true } } } },
      { name: 'answer check in both', shared: { llm_usage: { ...USAGE, answer_check: ANSWER_CHECK }, llm_response_guard: { checked: true, answer_check: { findings: {}, blocked: true } } } },
      { name: 'answer check, nothing found', shared: { llm_response_guard: { checked: true, answer_check: { findings: {}, blocked: false } } } },
      { name: 'answer check with extras', shared: { llm_usage: { ...USAGE, answer_check: { ...ANSWER_CHECK, text: 'jane@example.com', deep: { a: 1 } } } } },
      { name: 'answer check not a table', shared: { llm_usage: { ...USAGE, answer_check: 'x' }, llm_response_guard: { answer_check: [] } } },
    ];
    const lua = runLua('kong/lua/serialize-values.lua', cases.map((c) => ({ ...c, kind: 'access' as const })), []).results as AccessResult[];

    it.each(cases.map((c, i) => [c.name, i] as const))('%s', (_name, i) => {
      const shared = luaRoundTrip(cases[i].shared ?? {}) as Record<string, unknown>;
      // every mark present: the guard lets it through, only the copy shows
      for (const m of pf.guard.required) shared[m] ??= true;
      const ctx = { shared, serializeValues: [], response: { status: 0, headers: new Map(), source: 'service' as const }, request: { headers: new Map() }, delayedResponse: null };
      pf.access(ctx, () => undefined);
      expect(ctx.delayedResponse).toBeNull();
      pf.headerFilter(ctx, () => undefined);
      expect(normalize(serializedOf(ctx))).toEqual(normalize(JSON.parse(lua[i].serialized)));
      expect(lua[i].logs).toEqual([]);
    });

    it('copies on the guard\'s 503 too (header_filter runs on exits): the log has what the plugins that ran published', () => {
      const ctx = { shared: luaRoundTrip({ llm_auth: IDENTITY }) as Record<string, unknown>, serializeValues: [], response: { status: 0, headers: new Map(), source: 'service' as const }, request: { headers: new Map() }, delayedResponse: null };
      pf.access(ctx, () => undefined);
      expect(ctx.delayedResponse).toMatchObject({ status: 503 });
      expect(serializedOf(ctx)).toEqual({});
      pf.headerFilter({ ...ctx, response: { status: 503, headers: new Map(), source: 'exit' as const } }, () => undefined);
      expect(serializedOf(ctx)).toEqual({ 'llm.identity': IDENTITY });
    });
  });

  it('test/README.md lists every chunk the bridge emulates, with its file and phase', () => {
    const readme = fs.readFileSync(path.join(REPO_ROOT, 'test', 'README.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| `(llm-[a-z-]+)` \| ([a-z_]+)[^|]* \| `kong\/lua\/([a-z-]+\.lua)`/gm)].map((m) => [m[1], m[2], m[3]]);
    const chunks = POST_FUNCTION_CHUNKS.map((c) => [c.marker.replace(/^-- /, '').replace(/:$/, ''), c.phase, c.file]);
    expect(rows).toEqual(chunks);
  });

  it('the bridge refuses a post-function chunk it does not know, or one that differs from kong/lua/', () => {
    const decl = loadDeclarative(fs.readFileSync(path.join(REPO_ROOT, 'kong', 'kong.yml'), 'utf8'));
    const config = decl.plugins.find((p) => p.name === 'post-function')!.config as Record<string, string[]>;
    const parse = (c: Record<string, unknown>) => () => parsePostFunction(c, { cjson: true });
    expect(parse(config)).not.toThrow();
    expect(parse({ ...config, access: ['return function() end', ...config.access] })).toThrow(/does not know/);
    expect(parse({ ...config, body_filter: [config.body_filter[0].replace('HOLD_MAX = 16384', 'HOLD_MAX = 1')] })).toThrow(/differs from kong\/lua\/usage-capture.lua/);
    expect(parse({ ...config, header_filter: [config.body_filter[0]] })).toThrow(/body_filter chunk, found in header_filter/);
    expect(parse({ ...config, log: ['-- llm-usage-capture: x'] })).toThrow(/is a body_filter chunk, found in log/);
    expect(parse({ ...config, rewrite: ['-- llm-usage-capture: x'] })).toThrow(/does not emulate `rewrite`/);
    expect(parse({ ...config, access: [] })).toThrow(/no llm-bypass-guard/);
  });
});
