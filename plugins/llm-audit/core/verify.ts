/**
 * Checks sealed records (chain.ts) read back from a sink or an export, and says where
 * the chain was broken. Lines are JSON records in the order they were stored; several
 * chains may be interleaved (grouped by `chain.chain_id`).
 *
 * What is reported, each with the 1-based line and the seq concerned:
 * - `edited`: a mac does not verify, and the record stands where a seq is missing
 *   (between the seqs around it); `unknown_key` / `malformed` there mean the same
 *   place but a key id we hold no key for / a line that is not a sealed record;
 * - `inserted`: a record that does not verify and stands where no seq is missing, or a
 *   verified record repeated (a replayed copy);
 * - `dropped`: seqs absent from the chain (reported at the line of the next record);
 *   with `partial_start`, a chain may begin after seq 0 (older rotated files deleted);
 * - `reordered`: verified records not in seq order (those off the longest increasing
 *   run of seqs: one record of a swapped pair, each moved record of a shuffle);
 * - `link_mismatch`: a verified record whose `prev_mac` is not the mac of the seq
 *   before it, or a second verified record with the same seq (a fork: two writers
 *   sharing a chain id and key), or a `prev_chain` link (chain.ts) that names a record
 *   of its predecessor with another mac, names its own chain, or is not on seq 0;
 * - `truncated`: a chain's last records are missing up to the seq a successor chain's
 *   `prev_chain` links to (records cut off its end), reported at the linking record;
 * - `missing_chain`: a chain links to a predecessor none of whose records are in the
 *   lines (a whole chain removed, or its files not given); accepted with `partial_start`.
 * And as a note, not an issue (`ok` stays true): `after_link`, a predecessor's records
 * after the seq its successor links to. The successor linked to the state its
 * predecessor last saved (at most ~1 s old); records sealed after that save and before
 * the process died are in the files but behind the link: a crash, not tampering.
 * Not detectable from the lines alone: records cut off the end of the NEWEST chain (no
 * successor links to it yet: compare with its saved state or an anchor kept elsewhere),
 * the newest chain removed whole, and, before a crash, records sealed after the last
 * state save (up to ~1 s of them) cut along with the crash point.
 * Bounds: linear in the input plus O(n log n) for the order check; a line is parsed once.
 * Pure: no Kong, no I/O.
 */
import { timingSafeEqual } from 'crypto';
import { asChainRef, CHAIN_VERSION, macOf, type ChainRef } from './chain';
import { ANY_KEY_ID, type KeyRing } from './keys';
import { isObj } from './text';

export type IssueKind = 'edited' | 'inserted' | 'dropped' | 'reordered' | 'link_mismatch' | 'unknown_key' | 'malformed' | 'truncated' | 'missing_chain';

export interface ChainIssue {
  kind: IssueKind;
  /** 1-based index into the lines given. */
  line: number;
  /** The seq concerned (for `dropped`, the first missing); null when unknown. */
  seq: number | null;
  /** For `dropped`, `truncated`: the last missing seq. */
  seq_to?: number;
  chain_id: string | null;
  detail: string;
}

/** What is explained rather than tampering (see the file comment). */
export interface ChainNote {
  kind: 'after_link';
  /** 1-based line of the first record concerned. */
  line: number;
  /** First and last seq concerned. */
  seq: number;
  seq_to: number;
  /** The chain those records belong to. */
  chain_id: string;
  /** How many records. */
  count: number;
  detail: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Non-blank lines read. */
  records: number;
  /** Records whose mac verified. */
  verified: number;
  chains: number;
  issues: ChainIssue[];
  /** Chains that follow another one through a `prev_chain` link. */
  linked: number;
  notes: ChainNote[];
}

export interface VerifyOptions {
  /** Accept chains that begin after seq 0 and chains whose predecessor chain is not in
   * the lines (the oldest files were rotated away). */
  partial_start?: boolean;
}

type Status = 'valid' | 'bad_mac' | 'unknown_key' | 'malformed';

interface Entry {
  line: number;
  status: Status;
  chain_id: string | null;
  seq: number | null;
  mac: string | null;
  prev: string | null;
  /** `chain.prev_chain`, when the record has one. */
  link: ChainRef | null;
}

const HEX64 = /^[0-9a-f]{64}$/;

function safeEqualHex(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** One line read and its mac checked. */
function readLine(text: string, line: number, keys: KeyRing): Entry {
  const bad: Entry = { line, status: 'malformed', chain_id: null, seq: null, mac: null, prev: null, link: null };
  let rec: unknown;
  try {
    rec = JSON.parse(text);
  } catch {
    return bad;
  }
  if (!isObj(rec) || !isObj(rec.chain)) return bad;
  const c = rec.chain;
  const seq = typeof c.seq === 'number' && Number.isSafeInteger(c.seq) && c.seq >= 0 ? c.seq : null;
  const chainId = typeof c.chain_id === 'string' ? c.chain_id.slice(0, 64) : null;
  const prevOk = c.prev_mac === null || (typeof c.prev_mac === 'string' && HEX64.test(c.prev_mac));
  const link = c.prev_chain === undefined ? null : asChainRef(c.prev_chain);
  const linkOk = c.prev_chain === undefined || link !== null;
  if (c.v !== CHAIN_VERSION || seq === null || chainId === null || !prevOk || !linkOk || typeof c.mac !== 'string' || !HEX64.test(c.mac) || typeof c.key_id !== 'string') {
    return { ...bad, chain_id: chainId, seq };
  }
  const entry: Entry = { line, status: 'bad_mac', chain_id: chainId, seq, mac: c.mac, prev: c.prev_mac as string | null, link };
  const key = keys.get(c.key_id) ?? keys.get(ANY_KEY_ID);
  if (!key) return { ...entry, status: 'unknown_key' };
  const { mac, ...unsealedChain } = c;
  let expected: string;
  try {
    expected = macOf(key, { ...rec, chain: unsealedChain });
  } catch {
    return { ...entry, status: 'malformed' };
  }
  return safeEqualHex(expected, mac as string) ? { ...entry, status: 'valid' } : entry;
}

/** Indexes (into `seqs`) of one longest strictly increasing subsequence. */
function longestIncreasing(seqs: readonly number[]): Set<number> {
  const tails: number[] = [];
  const prev = new Array<number>(seqs.length).fill(-1);
  for (let i = 0; i < seqs.length; i++) {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seqs[tails[mid]] < seqs[i]) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[i] = tails[lo - 1];
    tails[lo] = i;
  }
  const keep = new Set<number>();
  for (let i = tails.length ? tails[tails.length - 1] : -1; i !== -1; i = prev[i]) keep.add(i);
  return keep;
}

const INVALID_KIND: Record<Exclude<Status, 'valid'>, { placed: IssueKind; loose: IssueKind; what: string }> = {
  bad_mac: { placed: 'edited', loose: 'inserted', what: 'mac does not verify' },
  unknown_key: { placed: 'unknown_key', loose: 'unknown_key', what: 'no key for its key id' },
  malformed: { placed: 'malformed', loose: 'malformed', what: 'not a sealed record' },
};

/** What the links between chains are checked against: one chain's kept records. */
interface ChainSummary {
  /** The verified record kept for each seq. */
  bySeq: Map<number, Entry>;
  /** Seqs an unverified record stands for (already reported where it stands). */
  claimed: Map<number, number>;
  /** Highest seq present or claimed; -1 when none. */
  maxSeq: number;
}

/** Issues of one chain's entries (in line order), and what cross-chain checks need. */
function checkChain(chainId: string, entries: Entry[], opts: VerifyOptions): { issues: ChainIssue[]; summary: ChainSummary } {
  const issues: ChainIssue[] = [];
  const issue = (kind: IssueKind, e: Entry, seq: number | null, detail: string) => issues.push({ kind, line: e.line, seq, chain_id: chainId, detail });

  // 1. verified records: repeats and forks. Of several records with one seq, the one
  // whose neighbours fit (seq - 1 before it or seq + 1 after it) is taken as the original
  const validByLine = entries.filter((e) => e.status === 'valid');
  const sameSeq = new Map<number, number[]>();
  validByLine.forEach((e, i) => (sameSeq.get(e.seq!) ?? sameSeq.set(e.seq!, []).get(e.seq!)!).push(i));
  const fits = (i: number): boolean => validByLine[i - 1]?.seq === validByLine[i].seq! - 1 || validByLine[i + 1]?.seq === validByLine[i].seq! + 1;
  const bySeq = new Map<number, Entry>();
  const extra = new Set<Entry>();
  for (const [seq, at] of sameSeq) {
    const kept = validByLine[at.find(fits) ?? at[0]];
    bySeq.set(seq, kept);
    for (const e of at.map((i) => validByLine[i]).filter((e) => e !== kept)) {
      extra.add(e);
      if (e.mac === kept.mac) issue('inserted', e, seq, `a copy of line ${kept.line}`);
      else issue('link_mismatch', e, seq, `a second record with seq ${seq} (line ${kept.line}): two writers share this chain`);
    }
  }
  const valid = validByLine.filter((e) => !extra.has(e));
  // 2. order
  const inOrder = longestIncreasing(valid.map((e) => e.seq!));
  valid.forEach((e, i) => {
    if (!inOrder.has(i)) issue('reordered', e, e.seq, 'out of seq order');
  });
  // 3. links
  for (const e of valid) {
    const before = bySeq.get(e.seq! - 1);
    if (e.seq === 0 && e.prev !== null) issue('link_mismatch', e, 0, 'seq 0 must have no prev_mac');
    else if (before && before.mac !== e.prev) issue('link_mismatch', e, e.seq, `prev_mac is not the mac of seq ${e.seq! - 1} (line ${before.line})`);
    if (e.link && e.seq !== 0) issue('link_mismatch', e, e.seq, 'prev_chain is only valid on seq 0');
    else if (e.link && e.link.chain_id === chainId) issue('link_mismatch', e, e.seq, 'prev_chain names this same chain');
  }
  // 4. records that did not verify: where a seq is missing, an edit; elsewhere, an insertion
  const present = new Set(bySeq.keys());
  /** seq an unverified record stands for → its line */
  const claimed = new Map<number, number>();
  // the verified records just before and just after each line (one pass each way)
  const beforeOf = new Array<Entry | undefined>(entries.length);
  const afterOf = new Array<Entry | undefined>(entries.length);
  for (let i = 0, last: Entry | undefined; i < entries.length; i++) {
    beforeOf[i] = last;
    if (entries[i].status === 'valid') last = entries[i];
  }
  for (let i = entries.length - 1, next: Entry | undefined; i >= 0; i--) {
    afterOf[i] = next;
    if (entries[i].status === 'valid') next = entries[i];
  }
  entries.forEach((e, i) => {
    if (e.status === 'valid') return;
    const before = beforeOf[i];
    const after = afterOf[i];
    const around = [before ? before.seq! + 1 : -1, after ? after.seq! - 1 : -1];
    const candidates = e.seq !== null && around.includes(e.seq) ? [e.seq, ...around] : around;
    const seq = candidates.find((s) => s >= 0 && !present.has(s) && !claimed.has(s));
    const k = INVALID_KIND[e.status];
    if (seq !== undefined) {
      claimed.set(seq, e.line);
      issue(k.placed, e, seq, `${k.what}; stands for seq ${seq}`);
    } else issue(k.loose, e, e.seq, `${k.what}; no seq is missing here`);
  });
  // 5. gaps
  const all = [...present, ...claimed.keys()].sort((a, b) => a - b);
  const summary: ChainSummary = { bySeq, claimed, maxSeq: all.length ? all[all.length - 1] : -1 };
  if (all.length === 0) return { issues, summary };
  const lineOf = (s: number): number => bySeq.get(s)?.line ?? claimed.get(s) ?? entries[0].line;
  let expect = opts.partial_start ? all[0] : 0;
  for (const s of all) {
    if (s > expect) {
      issues.push({ kind: 'dropped', line: lineOf(s), seq: expect, seq_to: s - 1, chain_id: chainId, detail: `seq ${expect}..${s - 1} missing before this line` });
    }
    expect = s + 1;
  }
  return { issues, summary };
}

/**
 * Follows each chain's `prev_chain` link to its predecessor (see the file comment):
 * the linked record must be there with that mac, a predecessor ending before it was
 * cut, a predecessor absent was removed, and records after the furthest link are noted.
 */
function checkLinks(summaries: ReadonlyMap<string, ChainSummary>, opts: VerifyOptions, issues: ChainIssue[], notes: ChainNote[]): number {
  let linked = 0;
  /** predecessor id → the furthest seq a successor links to, and that successor */
  const furthest = new Map<string, { seq: number; by: string }>();
  for (const [id, c] of summaries) {
    const first = c.bySeq.get(0);
    const link = first?.link;
    if (!first || !link || link.chain_id === id) continue;
    linked++;
    const pred = summaries.get(link.chain_id);
    const at = { line: first.line, chain_id: link.chain_id };
    if (!pred || pred.bySeq.size === 0) {
      if (!opts.partial_start) {
        issues.push({ ...at, kind: 'missing_chain', seq: link.last_seq, detail: `chain ${id} follows this chain (up to its seq ${link.last_seq}), none of whose records are here: a whole chain removed, or its files not given` });
      }
      continue;
    }
    const target = pred.bySeq.get(link.last_seq);
    if (target) {
      if (target.mac !== link.last_mac) issues.push({ ...at, kind: 'link_mismatch', seq: link.last_seq, detail: `chain ${id} links to seq ${link.last_seq} (line ${target.line}) with another mac` });
    } else if (link.last_seq > pred.maxSeq) {
      issues.push({
        ...at,
        kind: 'truncated',
        seq: pred.maxSeq + 1,
        seq_to: link.last_seq,
        detail: `seq ${pred.maxSeq + 1}..${link.last_seq} cut off the end of this chain: chain ${id} (this line) links to seq ${link.last_seq}`,
      });
    } // else: a gap inside the predecessor, already reported as dropped or edited
    const f = furthest.get(link.chain_id);
    if (!f || link.last_seq > f.seq) furthest.set(link.chain_id, { seq: link.last_seq, by: id });
  }
  for (const [predId, f] of furthest) {
    const after = [...summaries.get(predId)!.bySeq.values()].filter((e) => e.seq! > f.seq).sort((a, b) => a.seq! - b.seq!);
    if (after.length === 0) continue;
    const firstLine = Math.min(...after.map((e) => e.line));
    notes.push({
      kind: 'after_link',
      line: firstLine,
      seq: after[0].seq!,
      seq_to: after[after.length - 1].seq!,
      chain_id: predId,
      count: after.length,
      detail: `${after.length} records after seq ${f.seq}, the point chain ${f.by} links to: sealed after this chain's last state save, before its process stopped (a crash), not tampering`,
    });
  }
  return linked;
}

/**
 * Verifies the sealed records in `lines` (JSON text, blank lines skipped) with `keys`.
 * Never throws on any input; see the file comment for what is reported.
 */
export function verifyChain(lines: readonly string[], keys: KeyRing, opts: VerifyOptions = {}): VerifyResult {
  const entries: Entry[] = [];
  lines.forEach((text, i) => {
    if (text.trim() !== '') entries.push(readLine(text, i + 1, keys));
  });
  // a record that does not verify may carry a made-up chain id: it joins the chain it
  // stands in (the verified record before it, else after it) unless its id is a real one
  const realIds = new Set(entries.filter((e) => e.status === 'valid').map((e) => e.chain_id!));
  const groups = new Map<string, Entry[]>();
  let lastValidId: string | null = null;
  const pending: Entry[] = [];
  const add = (id: string, e: Entry) => (groups.get(id) ?? groups.set(id, []).get(id)!).push(e);
  for (const e of entries) {
    if (e.status === 'valid') {
      lastValidId = e.chain_id!;
      for (const p of pending.splice(0)) add(lastValidId, p);
      add(lastValidId, e);
    } else if (e.chain_id !== null && realIds.has(e.chain_id)) add(e.chain_id, e);
    else if (lastValidId !== null) add(lastValidId, e);
    else pending.push(e);
  }
  for (const p of pending) add(p.chain_id ?? '(none)', p);
  const issues: ChainIssue[] = [];
  const summaries = new Map<string, ChainSummary>();
  for (const [id, group] of groups) {
    group.sort((a, b) => a.line - b.line);
    const r = checkChain(id, group, opts);
    issues.push(...r.issues);
    if (realIds.has(id)) summaries.set(id, r.summary);
  }
  const notes: ChainNote[] = [];
  const linked = checkLinks(summaries, opts, issues, notes);
  issues.sort((a, b) => a.line - b.line);
  notes.sort((a, b) => a.line - b.line);
  return { ok: issues.length === 0, records: entries.length, verified: entries.filter((e) => e.status === 'valid').length, chains: realIds.size, issues, linked, notes };
}
