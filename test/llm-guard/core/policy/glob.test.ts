import { compileGlob } from '../../../../plugins/llm-guard/core/policy/glob';

describe('compileGlob', () => {
  it.each([
    ['gpt-4o', 'gpt-4o', true],
    ['gpt-4o', 'gpt-4o-mini', false],
    ['gpt-4o*', 'gpt-4o-mini', true],
    ['gpt-4o*', 'gpt-4', false],
    ['*-mini', 'o4-mini', true],
    ['gpt-*-mini*', 'gpt-4.1-mini-2025-04-14', true],
    ['gpt-*-mini*', 'gpt-4.1-nano', false],
    ['a*a', 'a', false],
    ['a*a', 'aa', true],
    ['*', '', true],
    ['**x**', 'yxy', true],
    ['gpt-4o*', 'GPT-4O-MINI', true],
    ['o1?', 'o1x', false],
  ])('%s against %s is %s', (pattern, name, expected) => {
    expect(compileGlob(pattern).matches(name)).toBe(expected);
  });

  it('matches hostile patterns and names in linear time', () => {
    const g = compileGlob('*a'.repeat(50) + '*b');
    const t0 = Date.now();
    expect(g.matches('a'.repeat(100_000))).toBe(false);
    expect(Date.now() - t0).toBeLessThan(500);
  });
});
