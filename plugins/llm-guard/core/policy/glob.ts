/**
 * Model-name globs: `*` matches any run of characters (including none), every other
 * character is itself. Compiled once into literal pieces and matched without a
 * regex: the first piece must start the name, the last end it, the middle ones are
 * found left to right with `indexOf`. Greedy leftmost search is exact for `*`-only
 * globs (a piece found later could never leave more room for the rest), so a match
 * costs at most O(name × pattern) with no backtracking blow-up.
 *
 * Matching ignores case: model names are lowercase at OpenAI, and a deny list must
 * not be sidestepped by `GPT-4o`.
 */

export interface Glob {
  readonly source: string;
  matches(name: string): boolean;
}

export function compileGlob(pattern: string): Glob {
  const pieces = pattern.toLowerCase().split('*');
  if (pieces.length === 1) {
    const exact = pieces[0];
    return { source: pattern, matches: (name) => name.toLowerCase() === exact };
  }
  const first = pieces[0];
  const last = pieces[pieces.length - 1];
  const middle = pieces.slice(1, -1).filter((p) => p !== '');
  const minLength = first.length + last.length + middle.reduce((n, p) => n + p.length, 0);
  return {
    source: pattern,
    matches(raw) {
      const name = raw.toLowerCase();
      if (name.length < minLength || !name.startsWith(first) || !name.endsWith(last)) return false;
      let at = first.length;
      const end = name.length - last.length;
      for (const p of middle) {
        const i = name.indexOf(p, at);
        if (i < 0 || i + p.length > end) return false;
        at = i + p.length;
      }
      return true;
    },
  };
}
