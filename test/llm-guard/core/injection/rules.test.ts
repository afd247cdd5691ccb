import { RE2JS } from 're2js';
import { BUILTIN_RULES, INJECTION_CATEGORIES, compileInjectionPolicy } from '../../../../plugins/llm-guard/core/injection';
import { BUILTIN_RULE_DEFS } from '../../../../plugins/llm-guard/core/injection/rules';
import attacks from './corpus/attacks.json';

describe('BUILTIN_RULES', () => {
  it('lists each rule once with a dotted id, a known category and a description', () => {
    const ids = BUILTIN_RULES.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of BUILTIN_RULES) {
      expect(r.id).toMatch(/^[a-z0-9]+\.[a-z0-9_]+$/);
      expect(INJECTION_CATEGORIES).toContain(r.category);
      expect(r.description.length).toBeGreaterThan(20);
      expect(Object.keys(r).sort()).toEqual(['category', 'description', 'id']);
    }
  });

  it('covers every category', () => {
    expect(new Set(BUILTIN_RULES.map((r) => r.category))).toEqual(new Set(INJECTION_CATEGORIES));
  });

  it('is frozen metadata: patterns are not part of it', () => {
    expect(Object.isFrozen(BUILTIN_RULES)).toBe(true);
    expect(Object.isFrozen(BUILTIN_RULES[0])).toBe(true);
  });

  it('has patterns that compile alone in RE2 and never match empty text', () => {
    for (const r of BUILTIN_RULE_DEFS) {
      if (r.kind !== 'text') continue;
      const re = RE2JS.compile(r.pattern);
      expect([r.id, re.test('')]).toEqual([r.id, false]);
    }
  });

  it('has every rule exercised by at least one corpus attack', () => {
    const policy = compileInjectionPolicy();
    const hit = new Set(attacks.flatMap((a) => policy.scan(a.text).map((f) => f.rule_id)));
    expect(BUILTIN_RULES.map((r) => r.id).filter((id) => !hit.has(id))).toEqual([]);
  });
});
