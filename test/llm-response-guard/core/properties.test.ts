/**
 * Properties (fast-check): any body gives a decision and never a throw; an untouched
 * stream re-serializes to itself; a rewritten stream keeps its events and [DONE], and
 * its deltas join to exactly the redaction of the joined text, however it was split.
 */
import fc from 'fast-check';
import { parseSse, serializeSse } from '../../../plugins/llm-response-guard/core/answer';
import { compileResponseGuard, runResponseGuard } from '../../../plugins/llm-response-guard/core/guard';
import { compileRedactionPolicy } from '../../../plugins/shared/redaction';
import { FAKE } from '../../shared/redaction/fixtures';
import { chatStream, config, contentDeltas, enc } from './streams';

const guard = compileResponseGuard(config());
const placeholders = new Map([['[EMAIL_1]', 'alice@client.example']]);
const ACTIONS = ['pass', 'replace', 'reject'];
const TYPES = ['application/json', 'text/event-stream', 'text/event-stream; charset=utf-8', 'text/plain', null];

/** Stream-shaped text: SSE framing, JSON fragments, secrets, line ends in any order. */
const FRAGMENTS = [
  'data: ',
  'data:',
  'event: response.output_text.delta',
  ': c',
  '\n',
  '\r\n',
  '\r',
  '\n\n',
  '[DONE]',
  '{"choices":[{"index":0,"delta":{"content":"',
  '"}}]}',
  '{"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":"',
  '"}',
  '{"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}',
  FAKE.email.slice(0, 6),
  FAKE.email.slice(6),
  FAKE.openai.slice(0, 10),
  FAKE.openai.slice(10),
  '[EMAIL_1]',
  '[EMA',
  '"',
  '\\',
  '{',
  'é',
  '\ud83d',
];
const streamish = fc.array(fc.constantFrom(...FRAGMENTS), { maxLength: 60 }).map((parts) => parts.join(''));

describe('runResponseGuard (properties)', () => {
  it('any bytes, any content type: a decision, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.constantFrom(...TYPES), fc.constantFrom(200, 201, 404), (body, contentType, status) => {
        const d = runResponseGuard(guard, { contentType, status, body, placeholders });
        expect(ACTIONS).toContain(d.action);
      }),
      { numRuns: 500 },
    );
  });

  it('any stream-shaped text: a decision, never a throw; a replacement is itself a readable stream', () => {
    fc.assert(
      fc.property(streamish, (text) => {
        const d = runResponseGuard(guard, { contentType: 'text/event-stream', status: 200, body: enc(text), placeholders });
        expect(ACTIONS).toContain(d.action);
        if (d.action === 'replace') {
          const before = parseSse(text)!;
          const after = parseSse(d.body)!;
          expect(after).not.toBeNull();
          expect(after.length).toBe(before.length);
          expect(after.map((e) => e.data === '[DONE]')).toEqual(before.map((e) => e.data === '[DONE]'));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('re-serializes any parsed stream to itself', () => {
    fc.assert(
      fc.property(streamish, (text) => {
        const events = parseSse(text);
        if (events !== null) expect(serializeSse(events)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('however an answer is split into deltas, they join to the redaction of the whole', () => {
    const words = fc.constantFrom('Hello ', 'mail ', FAKE.email, ' key ', FAKE.openai, ' at ', FAKE.phone, ' ', 'x', '\n', '[EMAIL_1]');
    const answer = fc.array(words, { minLength: 1, maxLength: 12 }).map((w) => w.join(' ')); // separated, so every value is detectable
    fc.assert(
      fc.property(
        answer.chain((text) => fc.tuple(fc.constant(text), fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, text.length - 1) }), { maxLength: 8 }))),
        fc.boolean(),
        ([text, cuts], crlf) => {
          const at = [...cuts].filter((c) => c < text.length).sort((a, b) => a - b);
          const deltas = [0, ...at].map((start, i) => text.slice(start, i < at.length ? at[i] : text.length));
          const stream = chatStream(deltas, { usage: true, eol: crlf ? '\r\n' : '\n' });
          const d = runResponseGuard(guard, { contentType: 'text/event-stream', status: 200, body: enc(stream), placeholders: null });
          const expected = compileRedactionPolicy({}).newSession().redact(text).text;
          const out = d.action === 'replace' ? d.body : stream;
          const outDeltas = contentDeltas(out);
          expect(outDeltas).toHaveLength(deltas.length + 1); // the role chunk's '' too
          expect(outDeltas.join('')).toBe(expected);
          for (const delta of outDeltas) {
            expect(delta.includes(FAKE.email) || delta.includes(FAKE.openai)).toBe(false);
          }
          expect(out.endsWith(crlf ? 'data: [DONE]\r\n\r\n' : 'data: [DONE]\n\n')).toBe(true);
          expect(d.usage?.total_tokens).toBe(21);
        },
      ),
      { numRuns: 300 },
    );
  });
});
