/**
 * Echoes: a value identified as a secret in one place is a secret everywhere. The
 * labelled `aws_secret_access_key=X` or `postgres://u:X@h` reveals X; the same X pasted
 * again without its label ("the password is X") must not get through. This pass finds
 * every other occurrence of the known values with one Aho–Corasick automaton, so it is
 * linear in the text plus the total length of the values, however many there are.
 */

/** Values shorter than this are not swept: "pw" or "1234" would hit ordinary words. */
export const MIN_ECHO_LENGTH = 8;

/**
 * Calls `emit(start, end, value)` for occurrences of `values` in `text` whose characters
 * are not yet `taken`, marking them taken; the longest value ending at each position wins.
 */
export function findEchoes(
  text: string,
  values: Iterable<string>,
  taken: Uint8Array,
  emit: (start: number, end: number, value: string) => void,
): void {
  // Trie: per node, its transitions, failure link and the value ending there.
  const next: Map<number, number>[] = [new Map()];
  const word: (string | undefined)[] = [undefined];
  for (const v of values) {
    if (v.length < MIN_ECHO_LENGTH) continue;
    let node = 0;
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      let child = next[node].get(c);
      if (child === undefined) {
        child = next.length;
        next.push(new Map());
        word.push(undefined);
        next[node].set(c, child);
      }
      node = child;
    }
    word[node] = v;
  }
  if (next.length === 1) return;

  // Failure links in BFS order; `best` is the longest value ending at a node or its
  // failure chain (the dictionary suffix link), -1 if none.
  const fail = new Int32Array(next.length);
  const best = new Int32Array(next.length).fill(-1);
  const queue: number[] = [...next[0].values()];
  for (let q = 0; q < queue.length; q++) {
    const u = queue[q];
    best[u] = word[u] !== undefined ? u : best[fail[u]];
    for (const [c, v] of next[u]) {
      let f = fail[u];
      while (f !== 0 && !next[f].has(c)) f = fail[f];
      const g = next[f].get(c);
      fail[v] = g !== undefined && g !== v ? g : 0;
      queue.push(v);
    }
  }

  let node = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    while (node !== 0 && !next[node].has(c)) node = fail[node];
    node = next[node].get(c) ?? 0;
    const b = best[node];
    if (b < 0) continue;
    const value = word[b]!;
    const start = i + 1 - value.length;
    let free = true;
    for (let k = i; k >= start; k--) {
      if (taken[k] !== 0) {
        free = false;
        break;
      }
    }
    if (!free) continue;
    taken.fill(1, start, i + 1);
    emit(start, i + 1, value);
  }
}
