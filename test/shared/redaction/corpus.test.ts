/**
 * Precision and recall of the built-in detectors on realistic prompts with planted PII
 * and (obviously fake, well-formed) secrets, and on clean look-alikes. A finding counts
 * only when its type and exact span match a planted value.
 */
import fs = require('fs');
import path = require('path');
import { compileRedactionPolicy, scanText, SECRET_TYPES, type Span } from '../../../plugins/shared/redaction';

interface Case {
  id: string;
  text: string;
  expect: { type: string; value: string }[];
}

const CORPUS_DIR = path.join(__dirname, 'corpus');
const files = fs.readdirSync(CORPUS_DIR).filter((f) => f.endsWith('.json')).sort();
const corpus: { file: string; case: Case }[] = files.flatMap((file) =>
  (JSON.parse(fs.readFileSync(path.join(CORPUS_DIR, file), 'utf8')) as Case[]).map((c) => ({ file, case: c })),
);

/** Every occurrence of each planted value, as spans. */
function planted(c: Case): Span[] {
  const spans: Span[] = [];
  for (const { type, value } of c.expect) {
    for (let i = c.text.indexOf(value); i >= 0; i = c.text.indexOf(value, i + 1)) {
      spans.push({ type: type as Span['type'], start: i, end: i + value.length });
    }
  }
  return spans;
}

const key = (s: Span): string => `${s.type}@${s.start}-${s.end}`;

describe('redaction corpus', () => {
  const policy = compileRedactionPolicy({});
  const stats = new Map<string, { tp: number; fp: number; fn: number }>();
  const misses: string[] = [];
  const falsePositives: { file: string; id: string; type: string }[] = [];
  const stat = (t: string) => stats.get(t) ?? stats.set(t, { tp: 0, fp: 0, fn: 0 }).get(t)!;

  for (const { file, case: c } of corpus) {
    const want = new Set(planted(c).map(key));
    const got = scanText(policy, c.text);
    const gotKeys = new Set(got.map(key));
    for (const s of got) {
      if (want.has(key(s))) stat(s.type).tp++;
      else {
        stat(s.type).fp++;
        falsePositives.push({ file, id: c.id, type: s.type });
      }
    }
    for (const s of planted(c)) {
      if (!gotKeys.has(key(s))) {
        stat(s.type).fn++;
        misses.push(`${c.id}: ${s.type}`);
      }
    }
  }

  const ratio = (a: number, b: number): number => (b === 0 ? 1 : a / b);

  it('prints precision and recall per entity type', () => {
    const rows = [...stats.entries()].sort(([a], [b]) => a.localeCompare(b));
    const total = rows.reduce((acc, [, s]) => ({ tp: acc.tp + s.tp, fp: acc.fp + s.fp, fn: acc.fn + s.fn }), { tp: 0, fp: 0, fn: 0 });
    const line = (name: string, s: { tp: number; fp: number; fn: number }) =>
      `${name.padEnd(16)} ${String(s.tp).padStart(4)} ${String(s.fp).padStart(4)} ${String(s.fn).padStart(4)}  ${ratio(s.tp, s.tp + s.fp).toFixed(3)}  ${ratio(s.tp, s.tp + s.fn).toFixed(3)}`;
    console.log(
      [
        `redaction corpus: ${corpus.length} cases from ${files.join(', ')}`,
        `${'type'.padEnd(16)}   TP   FP   FN  prec.  recall`,
        ...rows.map(([t, s]) => line(t, s)),
        line('OVERALL', total),
        misses.length ? `missed: ${misses.join('; ')}` : 'missed: none',
      ].join('\n'),
    );
    expect(total.tp).toBeGreaterThan(50);
  });

  it('finds every planted secret (recall 1.0 on secret types)', () => {
    for (const t of SECRET_TYPES) {
      const s = stats.get(t);
      expect({ type: t, planted: (s?.tp ?? 0) + (s?.fn ?? 0) > 0, fn: s?.fn ?? 0 }).toEqual({ type: t, planted: true, fn: 0 });
    }
  });

  it('reports nothing in the clean look-alikes', () => {
    expect(falsePositives.filter((f) => f.file === 'lookalikes.json')).toEqual([]);
  });

  it('has no false positives anywhere in the corpus', () => {
    expect(falsePositives).toEqual([]);
  });

  it('misses only the documented bare-digit phone number among planted PII', () => {
    expect(misses).toEqual(['phone-bare-digits-known-miss: phone']);
  });
});
