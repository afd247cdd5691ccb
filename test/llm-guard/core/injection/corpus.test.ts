/**
 * The labelled corpus: every attack must be caught by a rule of its category, no
 * benign look-alike may be flagged. Precision and recall are printed for the record.
 */
import { compileInjectionPolicy } from '../../../../plugins/llm-guard/core/injection';
import attacks from './corpus/attacks.json';
import benign from './corpus/benign.json';

const policy = compileInjectionPolicy();

describe('injection corpus', () => {
  const attackResults = attacks.map((a) => ({ ...a, findings: policy.scan(a.text) }));
  const benignResults = benign.map((b) => ({ ...b, findings: policy.scan(b.text) }));

  afterAll(() => {
    const tp = attackResults.filter((r) => r.findings.length > 0).length;
    const fp = benignResults.filter((r) => r.findings.length > 0).length;
    const fn = attackResults.length - tp;
    const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
    const recall = tp / (tp + fn);
    const byCategory = [...new Set(attacks.map((a) => a.category))].map((c) => {
      const of = attackResults.filter((r) => r.category === c);
      const caught = of.filter((r) => r.findings.some((f) => f.category === c)).length;
      return `${c} ${caught}/${of.length}`;
    });
    console.log(
      `injection corpus: ${attacks.length} attacks, ${benign.length} benign; ` +
        `precision ${precision.toFixed(3)}, recall ${recall.toFixed(3)} (tp ${tp}, fp ${fp}, fn ${fn}); ` +
        `by category: ${byCategory.join(', ')}`,
    );
  });

  it.each(attackResults.map((r) => [r.note, r] as const))('catches attack: %s', (_note, r) => {
    expect(r.findings.map((f) => f.category)).toContain(r.category);
  });

  it.each(benignResults.map((r) => [r.note, r] as const))('passes benign text: %s', (_note, r) => {
    expect(r.findings).toEqual([]);
  });
});
