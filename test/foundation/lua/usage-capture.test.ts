/**
 * kong/lua/usage-capture.lua (a post-function body_filter) under LuaJIT, in Kong's
 * default sandbox with cjson.safe allowed: every body is cut into chunks every way
 * (two chunks at every byte offset, fixed sizes from 1 byte, random cuts) and each run
 * is a fresh request through the same compiled chunk. Every run must give the client
 * the same bytes (the upstream body, or it minus the usage-only event when llm-guard
 * injected include_usage) and publish the same usage, in the shape readUsage accepts.
 */
import zlib = require('zlib');
import { readUnmeasuredAnswer, readUsage, usageFromOpenAi, type LlmUsage, type UnmeasuredAnswer } from '../../../plugins/shared/usage';
import { runLua, type BodyCase, type BodyResult } from './lua-harness';
import {
  CHAT_USAGE,
  JSON_TYPE,
  RESPONSES_USAGE,
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

const CODE = 'kong/lua/usage-capture.lua';
const INJECTED = { llm_guard: { include_usage_injected: true, endpoint: 'chat_completions', stream: true } };
const NOT_INJECTED = { llm_guard: { include_usage_injected: false, endpoint: 'chat_completions', stream: true } };
const SIZES = [1, 2, 3, 5, 7, 11, 16, 31, 64, 100, 257, 1024, 4096];

/** The same body through every split mode. */
function everySplit(c: Omit<BodyCase, 'splits'>): BodyCase[] {
  return [
    { ...c, name: `${c.name} (all2)`, splits: 'all2' },
    { ...c, name: `${c.name} (sizes)`, splits: 'sizes', sizes: SIZES },
    { ...c, name: `${c.name} (random)`, splits: 'random', runs: 150, seed: 7, max_cuts: 40 },
  ];
}

function run(cases: BodyCase[], requires?: string[]) {
  const { decoder, results } = runLua(CODE, cases, requires);
  return { decoder, results: results as BodyResult[] };
}

const expected = (usage: object, source: LlmUsage['source']): LlmUsage => ({ ...usageFromOpenAi(usage)!, source });

/** What is published for an answer without a readable usage: `body` is the upstream's, before any drop. */
function none(body: string | Buffer, headers: Record<string, string> = {}, status = 200): UnmeasuredAnswer {
  const encoding = headers['content-encoding'];
  return {
    source: 'none',
    status,
    answer_bytes: Buffer.byteLength(body),
    stream: /^\s*text\/event-stream/i.test(headers['content-type'] ?? ''),
    encoded: encoding !== undefined && encoding.toLowerCase() !== 'identity',
  };
}
const noneOf = (c: BodyCase) => none(c.body, c.headers, c.status);
const readPublished = (v: unknown) => readUsage(v) ?? readUnmeasuredAnswer(v);

/**
 * One distinct output equal to `body`, one distinct published value equal to `usage`
 * (a usage, or the record of an answer without one), also serialized as llm.usage;
 * null: nothing published at all.
 */
function expectAll(r: BodyResult, body: string | Buffer, usage: LlmUsage | UnmeasuredAnswer | null) {
  const want = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  expect({ name: r.name, distinctOutputs: r.outputs.length }).toEqual({ name: r.name, distinctOutputs: 1 });
  if (!r.outputs[0].equals(want)) {
    // a readable diff
    expect({ name: r.name, output: r.outputs[0].toString('utf8') }).toEqual({ name: r.name, output: want.toString('utf8') });
  }
  expect({ name: r.name, usages: r.usages.map((u) => readPublished(JSON.parse(u))) }).toEqual({ name: r.name, usages: [usage] });
  // the JS reader gets exactly what was published (nothing that readUsage would drop)
  if (usage) expect(JSON.parse(r.usages[0])).toEqual(Object.fromEntries(Object.entries(usage).filter(([, v]) => v !== null)));
  const serialized = r.serialized.map((s) => JSON.parse(s) as Record<string, unknown>);
  expect({ name: r.name, serialized: serialized.map((s) => readPublished(s['llm.usage'])) }).toEqual({ name: r.name, serialized: [usage] });
  if (usage) expect(serialized[0]['llm.usage']).toEqual(JSON.parse(r.usages[0]));
  else expect(r.serialized).toEqual(['{}']);
  expect({ name: r.name, logs: r.logs }).toEqual({ name: r.name, logs: [] });
  expect(r.runs).toBeGreaterThan(0);
}

describe('usage-capture.lua (post-function body_filter)', () => {
  it('runs with the real lua-cjson when LuaJIT has it (else the test-only fallback decoder)', () => {
    const { decoder } = run([{ name: 'probe', headers: { 'content-type': JSON_TYPE }, body: '{}' }]);
    // Kong ships lua-cjson; here `apt-get install lua-cjson` gives LuaJIT the same module
    expect(['lua-cjson', 'json-fallback']).toContain(decoder);
    if (decoder !== 'lua-cjson') console.warn('usage-capture tests ran with json-fallback.lua (install lua-cjson for the real decoder)');
  });

  describe('chat completion streams', () => {
    const withUsage = chatStream({ includeUsage: true });
    const without = chatStream({ includeUsage: false });
    const tricky = chatStream({ includeUsage: true, pieces: TRICKY_PIECES });
    const crlf = chatStream({ includeUsage: true, eol: '\r\n' });
    const usage = expected(CHAT_USAGE, 'stream');

    it('client asked for include_usage: usage read, every byte passed on, at every split', () => {
      const cases = [
        ...everySplit({ name: 'asked', headers: { 'content-type': SSE_TYPE }, shared: NOT_INJECTED, body: withUsage.body }),
        ...everySplit({ name: 'asked, no llm_guard', headers: { 'content-type': SSE_TYPE }, body: withUsage.body }),
      ];
      for (const r of run(cases).results) expectAll(r, withUsage.body, usage);
    });

    it('include_usage injected by llm-guard: usage read, the usage-only event never reaches the client, nothing else changes', () => {
      expect(withUsage.withoutUsageEvent.length).toBeLessThan(withUsage.body.length);
      const cases = everySplit({ name: 'injected', headers: { 'content-type': SSE_TYPE }, shared: INJECTED, body: withUsage.body });
      for (const r of run(cases).results) {
        expectAll(r, withUsage.withoutUsageEvent, usage);
        expect(r.outputs[0].toString()).not.toContain('"choices":[]');
        expect(r.outputs[0].toString().endsWith('data: [DONE]\n\n')).toBe(true);
      }
    });

    it('include_usage injected by llm-rate-limit (no guard on the route): the same drop', () => {
      const cases = everySplit({ name: 'injected by the limiter', headers: { 'content-type': SSE_TYPE }, shared: { llm_rate_limit: { include_usage_injected: true, allowed: true } }, body: withUsage.body });
      for (const r of run(cases).results) expectAll(r, withUsage.withoutUsageEvent, usage);
    });

    it('a stream without usage: nothing dropped (injected or not), the answer recorded as unmeasured', () => {
      const cases = [
        ...everySplit({ name: 'no usage, injected', headers: { 'content-type': SSE_TYPE }, shared: INJECTED, body: without.body }),
        ...everySplit({ name: 'no usage', headers: { 'content-type': SSE_TYPE }, body: without.body }),
      ];
      for (const r of run(cases).results) expectAll(r, without.body, none(without.body, { 'content-type': SSE_TYPE }));
    });

    it('content with quotes, escaped newlines, a fake `data:` line and a fake usage: only the real usage, only the real event dropped', () => {
      const cases = [
        ...everySplit({ name: 'tricky, injected', headers: { 'content-type': SSE_TYPE }, shared: INJECTED, body: tricky.body }),
        ...everySplit({ name: 'tricky', headers: { 'content-type': SSE_TYPE }, body: tricky.body }),
      ];
      const [a, b, c, d, e, f] = run(cases).results;
      for (const r of [a, b, c]) expectAll(r, tricky.withoutUsageEvent, usage);
      for (const r of [d, e, f]) expectAll(r, tricky.body, usage);
    });

    it('CRLF line endings', () => {
      const cases = [
        ...everySplit({ name: 'crlf, injected', headers: { 'content-type': SSE_TYPE }, shared: INJECTED, body: crlf.body }),
        { name: 'crlf', headers: { 'content-type': SSE_TYPE }, body: crlf.body, splits: 'all2' as const },
      ];
      const results = run(cases).results;
      for (const r of results.slice(0, 3)) expectAll(r, crlf.withoutUsageEvent, usage);
      expectAll(results[3], crlf.body, usage);
    });

    it('a long stream (2,000 events): bounded state, output and usage unchanged', () => {
      const long = chatStream({ includeUsage: true, pieces: Array.from({ length: 2000 }, (_, i) => `word${i} `) });
      const cases: BodyCase[] = [
        { name: 'long, injected, 1-byte chunks', headers: { 'content-type': SSE_TYPE }, shared: INJECTED, body: long.body, splits: 'sizes', sizes: [1, 13, 4096] },
        { name: 'long, 1-byte chunks', headers: { 'content-type': SSE_TYPE }, body: long.body, splits: 'sizes', sizes: [1, 13, 4096] },
      ];
      const [a, b] = run(cases).results;
      expectAll(a, long.withoutUsageEvent, usage);
      expectAll(b, long.body, usage);
      // only the current event is held: a few hundred bytes, whatever the length of the stream
      expect(a.max_retained).toBeLessThan(2048);
      expect(b.max_retained).toBeLessThan(2048);
    });

    it('the usage event pretty-printed over several data: lines (SSE joins them with \\n)', () => {
      const pretty = JSON.stringify({ id: 'x', object: 'chat.completion.chunk', choices: [], usage: CHAT_USAGE }, null, 1)
        .split('\n')
        .map((l) => `data: ${l}\n`)
        .join('');
      const before = chatStream({ includeUsage: true }).withoutUsageEvent.replace(/data: \[DONE\]\n\n$/, '');
      const body = `${before}${pretty}\ndata: [DONE]\n\n`;
      const cases = [
        { name: 'multi-line, injected', headers: { 'content-type': SSE_TYPE }, shared: INJECTED, body, splits: 'all2' as const },
        { name: 'multi-line', headers: { 'content-type': SSE_TYPE }, body, splits: 'all2' as const },
      ];
      const [a, b] = run(cases).results;
      expectAll(a, `${before}data: [DONE]\n\n`, usage);
      expectAll(b, body, usage);
    });

    it('a body that ends without the blank line after the usage event: usage read, the event passed on (SSE clients discard it anyway)', () => {
      const body = withUsage.body.replace(/\ndata: \[DONE\]\n\n$/, '');
      expect(body.endsWith('}\n')).toBe(true);
      const cases = [{ name: 'unterminated, injected', headers: { 'content-type': SSE_TYPE }, shared: INJECTED, body, splits: 'all2' as const }];
      expectAll(run(cases).results[0], body, usage);
      // and an unterminated last line is not read at all
      const cut = body.slice(0, -1);
      const [r] = run([{ name: 'no newline', headers: { 'content-type': SSE_TYPE }, shared: INJECTED, body: cut, splits: 'all2' }]).results;
      expectAll(r, cut, none(cut, { 'content-type': SSE_TYPE }));
    });

    it('a response with Content-Length: nothing is dropped (the length would be wrong), usage still read', () => {
      const headers = { 'content-type': SSE_TYPE, 'content-length': String(Buffer.byteLength(withUsage.body)) };
      const [r] = run([{ name: 'content-length', headers, shared: INJECTED, body: withUsage.body, splits: 'all2' }]).results;
      expectAll(r, withUsage.body, usage);
    });
  });

  describe('Responses API streams', () => {
    const usage = expected(RESPONSES_USAGE, 'stream');

    it('usage of response.completed (input/output tokens mapped), every byte passed on, injected flag or not', () => {
      const body = responsesStream(TRICKY_PIECES);
      const cases = [
        ...everySplit({ name: 'responses', headers: { 'content-type': SSE_TYPE }, body }),
        ...everySplit({ name: 'responses, injected', headers: { 'content-type': SSE_TYPE }, shared: INJECTED, body }),
      ];
      for (const r of run(cases).results) expectAll(r, body, usage);
      expect(usage).toEqual({ prompt_tokens: 37, completion_tokens: 12, total_tokens: 49, cached_tokens: 0, reasoning_tokens: 0, source: 'stream' });
    });

    it('a response.completed line far over the line limit (300 KB of text): usage from its tail, memory bounded', () => {
      const big = Array.from({ length: 3000 }, (_, i) => `token ${i} "quoted" \\ naïve ${'x'.repeat(80)} `);
      const body = responsesStream(big);
      expect(body.length).toBeGreaterThan(600_000);
      const cases: BodyCase[] = [
        { name: 'big responses, injected', headers: { 'content-type': SSE_TYPE }, shared: INJECTED, body, splits: 'sizes', sizes: [1, 7, 4096, 65536, 1 << 20] },
        { name: 'big responses', headers: { 'content-type': SSE_TYPE }, body, splits: 'random', runs: 20, seed: 3, max_cuts: 400 },
      ];
      const [a, b] = run(cases).results;
      expectAll(a, body, usage);
      expectAll(b, body, usage);
      // LINE_MAX (64 KiB) + HOLD_MAX (16 KiB) + tails (2 x 8 KiB) + slack
      expect(a.max_retained).toBeLessThan(64 * 1024 + 16 * 1024 + 16 * 1024 + 4096);
      expect(b.max_retained).toBeLessThan(64 * 1024 + 16 * 1024 + 16 * 1024 + 4096);
      if (process.env.LUA_METRICS) console.log({ a: [a.max_retained, a.seconds, a.runs], b: [b.max_retained, b.seconds, b.runs] });
      // linear: 600 KB in 1-byte chunks (600,000 filter calls) stays well within a second or two
      expect(a.seconds).toBeLessThan(20);
    });
  });

  describe('JSON answers', () => {
    it('chat completion, Responses, embeddings and legacy completions: usage found at every split, body untouched', () => {
      const bodies = [
        { name: 'chat', body: chatCompletion(TRICKY_PIECES.join('')), usage: expected(CHAT_USAGE, 'response') },
        { name: 'responses', body: responsesJson(TRICKY_PIECES.join('')), usage: expected(RESPONSES_USAGE, 'response') },
        { name: 'embeddings', body: embeddingsJson(), usage: expected({ prompt_tokens: 8, total_tokens: 8 }, 'response') },
        { name: 'completions', body: completionJson(), usage: expected({ prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 }, 'response') },
      ];
      const cases = bodies.flatMap((b) =>
        everySplit({ name: b.name, headers: { 'content-type': `${JSON_TYPE}; charset=utf-8` }, shared: INJECTED, body: b.body }),
      );
      const results = run(cases).results;
      bodies.forEach((b, i) => {
        for (const r of results.slice(i * 3, i * 3 + 3)) expectAll(r, b.body, b.usage);
      });
      expect(bodies[2].usage).toMatchObject({ completion_tokens: 0, cached_tokens: null, reasoning_tokens: null });
    });

    it('a large answer (200 KB of content before usage): found from the bounded tail', () => {
      const body = chatCompletion(`${'lorem "ipsum" \\ dolor '.repeat(9000)}`);
      const cases: BodyCase[] = [
        { name: 'large json', headers: { 'content-type': JSON_TYPE }, body, splits: 'sizes', sizes: [1, 100, 8192, 1 << 20] },
        { name: 'large json random', headers: { 'content-type': JSON_TYPE }, body, splits: 'random', runs: 20, seed: 11, max_cuts: 300 },
      ];
      for (const r of run(cases).results) {
        expectAll(r, body, expected(CHAT_USAGE, 'response'));
        expect(r.max_retained).toBeLessThan(2 * 8192 + 1024);
      }
    });

    it('usage null or malformed: no usage, the record of an unmeasured answer instead', () => {
      const nullUsage = JSON.stringify({ id: 'x', object: 'chat.completion', choices: [], usage: null });
      const badUsage = JSON.stringify({ id: 'x', usage: { prompt_tokens: -1, completion_tokens: 2, total_tokens: 1 } });
      const fractional = JSON.stringify({ id: 'x', usage: { prompt_tokens: 1.5, completion_tokens: 2, total_tokens: 3.5 } });
      const badDetail = JSON.stringify({ id: 'x', usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3, prompt_tokens_details: { cached_tokens: 'x' } } });
      const truncated = chatCompletion().slice(0, chatCompletion().indexOf('"completion_tokens_details"') + 10);
      // lua-cjson's default would read 0x13 as 19: not JSON, refused
      const hex = '{"id":"x","usage":{"prompt_tokens":0x13,"completion_tokens":1,"total_tokens":20}}';
      const inf = '{"id":"x","usage":{"prompt_tokens":1,"completion_tokens":inf,"total_tokens":20}}';
      const cases = [nullUsage, badUsage, fractional, badDetail, truncated, hex, inf].map((body, i) => ({
        name: `bad ${i}`,
        headers: { 'content-type': JSON_TYPE },
        body,
        splits: 'all2' as const,
      }));
      for (const [i, r] of run(cases).results.entries()) expectAll(r, cases[i].body, noneOf(cases[i]));
    });

    it('a fake usage inside a string after the real one is not taken', () => {
      const body = JSON.stringify({
        id: 'x',
        usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
        note: 'x\\"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}',
        note2: '"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}',
        // a key that ends in an escaped quote: the text holds `"k\\"usage":{`, not a usage key
        'k"usage': { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
      expect(body).toContain('"k\\"usage":{');
      const [r] = run([{ name: 'fake after', headers: { 'content-type': JSON_TYPE }, body, splits: 'all2' }]).results;
      expectAll(r, body, expected({ prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 }, 'response'));
    });
  });

  describe('left alone', () => {
    it('error answers (4xx, 5xx), JSON or SSE: no usage read, bytes untouched, their status and size recorded', () => {
      const stream = chatStream({ includeUsage: true }).body;
      const cases: BodyCase[] = [
        { name: '400', status: 400, headers: { 'content-type': JSON_TYPE }, shared: INJECTED, body: openAiError('bad'), splits: 'all2' },
        { name: '429', status: 429, headers: { 'content-type': JSON_TYPE }, body: openAiError('slow down', 'rate_limit_exceeded'), splits: 'all2' },
        { name: '500 sse', status: 500, headers: { 'content-type': SSE_TYPE }, shared: INJECTED, body: stream, splits: 'all2' },
        { name: '502', status: 502, headers: { 'content-type': JSON_TYPE }, body: openAiError('upstream', 'server_error'), splits: 'whole' },
      ];
      for (const [i, r] of run(cases).results.entries()) expectAll(r, cases[i].body, noneOf(cases[i]));
    });

    it('gzip / deflate Content-Encoding: no parsing, no dropping, recorded as encoded with the compressed size', () => {
      const stream = chatStream({ includeUsage: true }).body;
      const gz = zlib.gzipSync(Buffer.from(stream));
      const json = zlib.deflateSync(Buffer.from(chatCompletion()));
      const cases: BodyCase[] = [
        { name: 'gzip sse', headers: { 'content-type': SSE_TYPE, 'content-encoding': 'gzip' }, shared: INJECTED, body: gz, splits: 'all2' },
        // not compressed, only labelled: still not parsed, so nothing can be dropped from it
        { name: 'gzip-labelled sse', headers: { 'content-type': SSE_TYPE, 'content-encoding': 'gzip' }, shared: INJECTED, body: stream, splits: 'all2' },
        { name: 'deflate json', headers: { 'content-type': JSON_TYPE, 'content-encoding': 'deflate' }, body: json, splits: 'all2' },
        { name: 'br json', headers: { 'content-type': JSON_TYPE, 'content-encoding': 'br' }, body: chatCompletion(), splits: 'whole' },
      ];
      for (const [i, r] of run(cases).results.entries()) expectAll(r, cases[i].body, noneOf(cases[i]));
      // identity is no encoding
      const [id] = run([{ name: 'identity', headers: { 'content-type': JSON_TYPE, 'content-encoding': 'identity' }, body: chatCompletion(), splits: 'whole' }]).results;
      expectAll(id, chatCompletion(), expected(CHAT_USAGE, 'response'));
    });

    it('other content types, and no content type: untouched', () => {
      const stream = chatStream({ includeUsage: true }).body;
      const cases: BodyCase[] = [
        { name: 'text/plain', headers: { 'content-type': 'text/plain' }, shared: INJECTED, body: stream, splits: 'all2' },
        { name: 'none', shared: INJECTED, body: chatCompletion(), splits: 'whole' },
      ];
      for (const [i, r] of run(cases).results.entries()) expectAll(r, cases[i].body, noneOf(cases[i]));
    });

    it('a usage already published (by a JS plugin that buffered the answer) is kept; nothing serialized here', () => {
      const theirs = { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3, source: 'response' };
      const { results } = run([
        { name: 'preset', headers: { 'content-type': JSON_TYPE }, shared: { llm_usage: theirs }, body: chatCompletion(), splits: 'whole' },
        { name: 'preset sse', headers: { 'content-type': SSE_TYPE }, shared: { ...INJECTED, llm_usage: theirs }, body: chatStream({ includeUsage: true }).body, splits: 'all2' },
      ]);
      for (const r of results) {
        expect(r.usages.map((u) => JSON.parse(u))).toEqual([theirs]);
        expect(r.serialized).toEqual(['{}']);
      }
      // the usage-only event is still dropped for the client that did not ask for it
      expect(results[1].outputs.map(String)).toEqual([chatStream({ includeUsage: true }).withoutUsageEvent]);
    });

    it('not the upstream\'s answer (kong.response.exit, an error page): nothing published, bytes untouched', () => {
      const cases: BodyCase[] = [
        { name: 'exit 429', status: 429, source: 'exit', headers: { 'content-type': JSON_TYPE }, body: openAiError('slow down', 'rate_limit_exceeded'), splits: 'all2' },
        { name: 'exit 200 json', source: 'exit', headers: { 'content-type': JSON_TYPE }, shared: INJECTED, body: chatCompletion(), splits: 'whole' },
        { name: 'error 502', status: 502, source: 'error', headers: { 'content-type': 'text/plain' }, body: 'An invalid response was received from the upstream server', splits: 'whole' },
      ];
      for (const [i, r] of run(cases).results.entries()) expectAll(r, cases[i].body, null);
    });

    it('answer_bytes counts the upstream body before the usage-only event is dropped', () => {
      // a usage-only event whose usage is not valid: dropped for the client, nothing read
      const stream = chatStream({ includeUsage: true });
      const body = stream.body.replace(/"usage":\{"prompt_tokens":19/, '"usage":{"prompt_tokens":-19');
      expect(body).not.toBe(stream.body);
      const headers = { 'content-type': SSE_TYPE };
      const [r] = run([{ name: 'dropped, no usage', headers, shared: INJECTED, body, splits: 'all2' }]).results;
      expectAll(r, stream.withoutUsageEvent, none(body, headers));
      expect(none(body, headers).answer_bytes).toBeGreaterThan(Buffer.byteLength(stream.withoutUsageEvent));
    });

    it('an empty body: recorded with 0 bytes', () => {
      const cases: BodyCase[] = [
        { name: 'empty 200', headers: { 'content-type': JSON_TYPE }, body: '', splits: 'whole' },
        { name: 'empty 204', status: 204, body: '', splits: 'whole' },
      ];
      for (const [i, r] of run(cases).results.entries()) expectAll(r, '', noneOf(cases[i]));
    });

    it('without cjson.safe in untrusted_lua_sandbox_requires (Kong default): every body passes untouched, one error per worker', () => {
      const stream = chatStream({ includeUsage: true }).body;
      const { results } = run(
        [
          { name: 'no cjson sse', headers: { 'content-type': SSE_TYPE }, shared: INJECTED, body: stream, splits: 'all2' },
          { name: 'no cjson json', headers: { 'content-type': JSON_TYPE }, body: chatCompletion(), splits: 'whole' },
        ],
        [],
      );
      const logs = results.flatMap((r) => r.logs);
      expect(logs).toHaveLength(1);
      expect(logs[0]).toMatch(/^err: .*untrusted_lua_sandbox_requires/);
      for (const r of results) {
        const body = r.name.includes('sse') ? stream : chatCompletion();
        expect(r.outputs.map(String)).toEqual([body]);
        // not read, but seen whole: the record needs no JSON decoder
        const record = none(body, { 'content-type': r.name.includes('sse') ? SSE_TYPE : JSON_TYPE });
        expect(r.usages.map((u) => JSON.parse(u))).toEqual([record]);
        expect(r.serialized.map((x) => JSON.parse(x))).toEqual([{ 'llm.usage': record }]);
      }
    });
  });
});
