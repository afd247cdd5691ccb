/**
 * Chains across plugin-server restarts: the persisted state (chain-store.ts), the
 * `prev_chain` link on a successor's seq 0 (chain.ts) and what the verifier makes of
 * clean restarts, crashes, cut ends and removed chains (verify.ts).
 */
import fs = require('fs');
import os = require('os');
import path = require('path');
import fc from 'fast-check';
import { decodeState, encodeState, linkOf, PersistentChain, stateFile, type StoreEvents } from '../../../plugins/llm-audit/chain-store';
import { AuditChain, type ChainRef } from '../../../plugins/llm-audit/core/chain';
import { AuditKeyError } from '../../../plugins/llm-audit/core/keys';
import { buildAuditRecord } from '../../../plugins/llm-audit/core/record';
import { verifyChain } from '../../../plugins/llm-audit/core/verify';
import { schemaCheck } from './audit-schema';
import { fullInputs, settings } from './record-fixtures';

const KEY = Buffer.alloc(32, 7);
const RING = new Map([['k1', KEY]]);

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-chain-restart-'));
  // the state timers run only when a test advances them: a chain left armed at the end
  // of a test (a simulated crash) never writes into a removed directory
  jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
});
afterEach(() => {
  jest.useRealTimers();
  fs.rmSync(dir, { recursive: true, force: true });
});

function events(): StoreEvents & { errors: string[]; successors: string[] } {
  const errors: string[] = [];
  const successors: string[] = [];
  return { errors, successors, error: (c: string) => void errors.push(c), superseded: (s: string) => void successors.push(s) };
}

/** A process's chain on the state file of KEY in `dir` (what runtime.chainFor makes). */
function start(ev = events(), intervalMs = 1000): PersistentChain {
  return new PersistentChain(stateFile(dir, 'k1', KEY), KEY, 'k1', ev, intervalMs);
}

function seal(chain: AuditChain, n: number, tag: string): string[] {
  return Array.from({ length: n }, (_, i) => JSON.stringify(chain.seal({ request_id: `${tag}-${i}` })));
}

const chainOf = (line: string): { chain_id: string; seq: number; prev_chain?: ChainRef } => JSON.parse(line).chain;

describe('PersistentChain', () => {
  it('starts unlinked without a state, saves at the first seal, and links the next process to its last record on shutdown', async () => {
    const p1 = start();
    expect(p1.loaded).toBeNull();
    const a = seal(p1.chain, 5, 'a');
    expect(chainOf(a[0]).prev_chain).toBeUndefined();
    // written synchronously at the first seal, before that record reaches any sink
    const first = decodeState(fs.readFileSync(stateFile(dir, 'k1', KEY), 'utf8'), 'k1', KEY);
    expect(first).toMatchObject({ ok: true, state: { chain_id: chainOf(a[0]).chain_id, next_seq: 1 } });
    await p1.flush(); // shutdown
    const p2 = start();
    const b = seal(p2.chain, 3, 'b');
    expect(chainOf(b[0]).prev_chain).toEqual({ chain_id: chainOf(a[0]).chain_id, last_seq: 4, last_mac: JSON.parse(a[4]).chain.mac });
    expect(chainOf(b[1]).prev_chain).toBeUndefined();
    expect(chainOf(b[0]).chain_id).not.toBe(chainOf(a[0]).chain_id);
    await p2.flush();
  });

  it('writes at most once per interval while records are sealed, atomically, and the file never holds the key', async () => {
    const file = stateFile(dir, 'k1', KEY);
    const p = start(events(), 1000);
    seal(p.chain, 1, 'a');
    const rename = jest.spyOn(fs.promises, 'rename');
    try {
      seal(p.chain, 50, 'b');
      await jest.advanceTimersByTimeAsync(999);
      expect(rename).not.toHaveBeenCalled(); // neither the log phase nor the timer before its interval
      await jest.advanceTimersByTimeAsync(1);
      await p.flush(); // waits for the write the timer started; nothing new to write after it
      expect(rename).toHaveBeenCalledTimes(1);
      const text = fs.readFileSync(file, 'utf8');
      expect(JSON.parse(text)).toMatchObject({ v: 1, key_id: 'k1', next_seq: 51 });
      expect(text).not.toContain(KEY.toString('hex'));
      expect(text).not.toContain(KEY.toString('base64'));
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      seal(p.chain, 1, 'c');
      await p.flush(); // shutdown: the last record's state, written now
      expect(rename).toHaveBeenCalledTimes(2);
      expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toMatchObject({ next_seq: 52 });
    } finally {
      rename.mockRestore();
    }
  });

  it('does not link to a state that was edited or written with another key, and says why', async () => {
    const p1 = start();
    seal(p1.chain, 3, 'a');
    await p1.flush();
    const file = stateFile(dir, 'k1', KEY);
    const s = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(s.next_seq).toBe(3);
    fs.writeFileSync(file, JSON.stringify({ ...s, next_seq: 1 })); // to hide records 1..2 behind the link
    const p2 = start();
    expect(p2.loaded).toEqual({ ok: false, reason: expect.stringMatching(/mac does not verify/) });
    expect(p2.chain.previous()).toBeNull();
    // another key under the same id has its own file: nothing is overwritten
    expect(stateFile(dir, 'k1', Buffer.alloc(32, 8))).not.toBe(file);
  });

  it('stops writing once a newer process has saved a successor chain (a reload overlapping the old process)', async () => {
    const ev1 = events();
    const p1 = start(ev1);
    seal(p1.chain, 2, 'a');
    const p2 = start(); // the new process starts while the old one still seals
    seal(p2.chain, 1, 'b');
    seal(p1.chain, 2, 'a2');
    await p1.flush();
    expect(ev1.successors).toEqual([p2.chain.state().chain_id]);
    const kept = decodeState(fs.readFileSync(stateFile(dir, 'k1', KEY), 'utf8'), 'k1', KEY);
    expect(kept).toMatchObject({ ok: true, state: { chain_id: p2.chain.state().chain_id } });
  });

  it('reports a state it cannot write without throwing into the log phase', () => {
    const ev = events();
    fs.writeFileSync(path.join(dir, 'blocked'), 'a file where the directory should be');
    const p = new PersistentChain(stateFile(path.join(dir, 'blocked'), 'k1', KEY), KEY, 'k1', ev);
    expect(() => seal(p.chain, 2, 'a')).not.toThrow();
    expect(ev.errors.length).toBeGreaterThan(0);
  });
});

describe('AuditChain prev_chain', () => {
  it('puts the link on seq 0 only, under the mac, and a sealed record with it validates against the record schema', () => {
    const link = { chain_id: 'a'.repeat(32), last_seq: 9, last_mac: 'b'.repeat(64) };
    const chain = new AuditChain({ key: KEY, key_id: 'k1', prev_chain: link });
    const [r0, r1] = [0, 1].map(() => JSON.parse(JSON.stringify(chain.seal(buildAuditRecord(fullInputs(), settings())))));
    expect(r0.chain.prev_chain).toEqual(link);
    expect(r1.chain.prev_chain).toBeUndefined();
    expect(schemaCheck(r0)).toBe(true);
    const moved = { ...r0, chain: { ...r0.chain, prev_chain: { ...link, last_seq: 5 } } };
    expect(verifyChain([JSON.stringify(moved), JSON.stringify(r1)], RING).issues).toEqual([expect.objectContaining({ kind: 'edited', line: 1, seq: 0 })]);
  });

  it('refuses a malformed link, and a link together with a continued state', () => {
    expect(() => new AuditChain({ key: KEY, key_id: 'k1', prev_chain: { chain_id: 'x', last_seq: 1, last_mac: 'b'.repeat(64) } })).toThrow(AuditKeyError);
    expect(() => new AuditChain({ key: KEY, key_id: 'k1', prev_chain: { chain_id: 'a'.repeat(32), last_seq: 0, last_mac: 'b'.repeat(64) }, state: { chain_id: 'a'.repeat(32), next_seq: 0, prev_mac: null } })).toThrow(AuditKeyError);
  });
});

describe('verifyChain across restarts', () => {
  it('clean restart (state saved on shutdown): both chains verify, linked, no note', async () => {
    const p1 = start();
    const a = seal(p1.chain, 4, 'a');
    await p1.flush();
    const p2 = start();
    const b = seal(p2.chain, 3, 'b');
    await p2.flush();
    expect(verifyChain([...a, ...b], RING)).toEqual({ ok: true, records: 7, verified: 7, chains: 2, issues: [], linked: 1, notes: [] });
  });

  it('crash with a state 1 s stale: the records after the linked point are explained, not tampering', async () => {
    const p1 = start(events(), 1000);
    const a = seal(p1.chain, 4, 'a'); // state saved at seq 0 (first seal), then nothing for 1 s
    // the process dies here: no timer fires, no shutdown; its 4 records are in the file
    const p2 = start();
    const b = seal(p2.chain, 2, 'b');
    expect(chainOf(b[0]).prev_chain).toMatchObject({ last_seq: 0 });
    const r = verifyChain([...a, ...b], RING);
    expect(r).toMatchObject({ ok: true, issues: [], linked: 1 });
    expect(r.notes).toEqual([
      { kind: 'after_link', line: 2, seq: 1, seq_to: 3, count: 3, chain_id: chainOf(a[0]).chain_id, detail: expect.stringMatching(/^3 records after seq 0, the point chain [0-9a-f]{32} links to: .*crash/) },
    ]);
  });

  it('records deleted from the end of chain 1 are detected through chain 2\'s link', async () => {
    const p1 = start();
    const a = seal(p1.chain, 6, 'a');
    await p1.flush();
    const b = seal(start().chain, 2, 'b');
    const r = verifyChain([...a.slice(0, 4), ...b], RING);
    expect(r.ok).toBe(false);
    expect(r.issues).toEqual([
      expect.objectContaining({ kind: 'truncated', line: 5, seq: 4, seq_to: 5, chain_id: chainOf(a[0]).chain_id }),
    ]);
  });

  it('a whole chain deleted between chain 1 and chain 3 is detected; --partial-start accepts a missing oldest chain', async () => {
    const lines: string[][] = [];
    for (const tag of ['a', 'b', 'c']) {
      const p = start();
      lines.push(seal(p.chain, 3, tag));
      await p.flush();
    }
    expect(verifyChain(lines.flat(), RING)).toMatchObject({ ok: true, linked: 2, chains: 3 });
    const r = verifyChain([...lines[0], ...lines[2]], RING);
    expect(r.issues).toEqual([expect.objectContaining({ kind: 'missing_chain', line: 4, seq: 2, chain_id: chainOf(lines[1][0]).chain_id })]);
    expect(verifyChain([...lines[1], ...lines[2]], RING, { partial_start: true }).ok).toBe(true);
    expect(verifyChain([...lines[1], ...lines[2]], RING).issues.map((i) => i.kind)).toEqual(['missing_chain']);
  });

  it('a link naming a record with another mac is a link mismatch', () => {
    const a = seal(new AuditChain({ key: KEY, key_id: 'k1' }), 3, 'a');
    const link = { chain_id: chainOf(a[0]).chain_id, last_seq: 2, last_mac: 'c'.repeat(64) };
    const b = seal(new AuditChain({ key: KEY, key_id: 'k1', prev_chain: link }), 1, 'b');
    expect(verifyChain([...a, ...b], RING).issues).toEqual([expect.objectContaining({ kind: 'link_mismatch', line: 4, seq: 2 })]);
  });

  it('property: for any chain length, stale window and cut, a cut within the stale window is a crash note and a deeper one is reported', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 15 }), fc.integer({ min: 1, max: 5 }), (saved, stale, cut, n2) => {
        const c1 = new AuditChain({ key: KEY, key_id: 'k1' });
        const a = seal(c1, saved, 'a');
        const state = c1.state(); // the last save, `stale` records before the crash
        a.push(...seal(c1, stale, 'a-late'));
        const b = seal(new AuditChain({ key: KEY, key_id: 'k1', prev_chain: linkOf(state) }), n2, 'b');
        const kept = a.slice(0, Math.max(0, a.length - cut));
        fc.pre(kept.length > 0); // a chain cut whole is the missing_chain case
        const r = verifyChain([...kept, ...b], RING);
        const remainingAfterLink = kept.length - saved;
        if (remainingAfterLink >= 0) {
          expect(r.ok).toBe(true);
          expect(r.notes).toEqual(remainingAfterLink === 0 ? [] : [expect.objectContaining({ kind: 'after_link', seq: saved, seq_to: saved + remainingAfterLink - 1, count: remainingAfterLink })]);
        } else {
          expect(r.issues).toEqual([expect.objectContaining({ kind: 'truncated', line: kept.length + 1, seq: kept.length, seq_to: saved - 1 })]);
          expect(r.notes).toEqual([]);
        }
      }),
    );
  });

  it('state files round-trip and refuse a state with nothing sealed', () => {
    const c = new AuditChain({ key: KEY, key_id: 'k1' });
    seal(c, 2, 'a');
    expect(decodeState(encodeState(c.state(), 'k1', KEY), 'k1', KEY)).toMatchObject({ ok: true, state: c.state() });
    expect(decodeState(encodeState(c.state(), 'k1', KEY), 'k2', KEY)).toMatchObject({ ok: false });
    const empty = new AuditChain({ key: KEY, key_id: 'k1' }).state();
    expect(decodeState(encodeState(empty, 'k1', KEY), 'k1', KEY)).toMatchObject({ ok: false, reason: 'malformed members' });
    expect(linkOf(empty)).toBeNull();
  });
});
