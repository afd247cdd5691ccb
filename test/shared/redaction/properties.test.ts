/**
 * Properties over arbitrary text (full Unicode, lone surrogates, control characters,
 * large inputs) mixed with planted PII and secrets.
 */
import fc from 'fast-check';
import { compileRedactionPolicy, BUILTIN_TYPES, scanText, type Action, type BuiltinEntityType } from '../../../plugins/shared/redaction';
import { FAKE } from './fixtures';

const redactAll = compileRedactionPolicy({
  actions: Object.fromEntries(BUILTIN_TYPES.map((t) => [t, 'redact'])) as Record<BuiltinEntityType, Action>,
  custom_patterns: [{ name: 'emp', pattern: 'EMP-[0-9]{6}', action: 'redact' }],
});
const mixed = compileRedactionPolicy({
  actions: { email: 'mask', ipv4: 'allow', openai_key: 'block', phone: 'mask', jwt: 'block' },
  custom_patterns: [{ name: 'emp', pattern: '(?i)emp-[0-9]{6}', action: 'mask' }],
});

const planted = fc.constantFrom(
  ...Object.values(FAKE),
  `aws_secret_access_key=${FAKE.awsSecret}`,
  'EMP-123456',
  '[EMAIL_1]',
  '[PHONE_2]',
  '[',
  ']',
);
/** Any code units, including lone surrogates and control characters. */
const noise = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom('1', '2', '-', ' ', '.', ':', '@', 'a', 'A', '+', '(', ')', '\n', '\0', '_', '/'), maxLength: 60 }),
);
/** Arbitrary text with planted values at token boundaries. */
const textWithPlanted = fc
  .array(fc.oneof(noise, planted), { maxLength: 12 })
  .map((parts) => parts.join(' '));
const anyText = fc.oneof(noise, textWithPlanted, fc.string({ unit: 'binary', maxLength: 4000 }));

describe('redaction properties', () => {
  it('never throws and is deterministic across sessions', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        for (const policy of [redactAll, mixed]) {
          const a = policy.newSession().redact(text);
          const b = policy.newSession().redact(text);
          expect(b).toEqual(a);
          expect(a.changed).toBe(a.text !== text);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('restore(redact(x)) === x when every action is redact', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const s = redactAll.newSession();
        expect(s.restore(s.redact(text).text)).toBe(text);
      }),
      { numRuns: 400 },
    );
  });

  it('restores across several messages of one session', () => {
    fc.assert(
      fc.property(fc.array(textWithPlanted, { minLength: 1, maxLength: 4 }), (messages) => {
        const s = redactAll.newSession();
        const redacted = messages.map((m) => s.redact(m).text);
        // A message may legitimately contain a literal placeholder handed out for an
        // earlier message; only check messages free of placeholder-like text.
        redacted.forEach((r, i) => {
          if (!/\[[A-Z]/.test(messages[i])) expect(s.restore(r)).toBe(messages[i]);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('leaves no matched value in the output when the action is redact', () => {
    fc.assert(
      fc.property(textWithPlanted, (text) => {
        const values = new Set(scanText(redactAll, text).map((sp) => text.slice(sp.start, sp.end)));
        const out = redactAll.newSession().redact(text).text;
        for (const v of values) expect(out.includes(v) ? v : null).toBeNull();
      }),
      { numRuns: 400 },
    );
  });

  it('never reports a span outside the text or overlapping another', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const spans = scanText(mixed, text);
        let last = 0;
        for (const sp of spans) {
          expect(sp.start).toBeGreaterThanOrEqual(last);
          expect(sp.end).toBeGreaterThan(sp.start);
          expect(sp.end).toBeLessThanOrEqual(text.length);
          last = sp.end;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('handles huge inputs (1 MiB of arbitrary code units) without throwing', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 64, maxLength: 256 }), fc.integer({ min: 1, max: 4096 }), (unit, times) => {
        const text = unit.repeat(times).slice(0, 1 << 20);
        const s = redactAll.newSession();
        expect(s.restore(s.redact(text).text)).toBe(text);
      }),
      { numRuns: 10 },
    );
  });
});
