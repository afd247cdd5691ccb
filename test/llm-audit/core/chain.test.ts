import { createHmac } from 'crypto';
import fc from 'fast-check';
import { canonicalJson, CanonicalJsonError } from '../../../plugins/llm-audit/core/canonical';
import { AuditChain } from '../../../plugins/llm-audit/core/chain';
import { AuditKeyError, decodeKey, parseKeyFile } from '../../../plugins/llm-audit/core/keys';
import { verifyChain } from '../../../plugins/llm-audit/core/verify';

const KEY = Buffer.alloc(32, 7);
const KEY2 = Buffer.alloc(32, 9);
const RING = new Map([['k1', KEY], ['k2', KEY2]]);

function sealedLines(n: number, chain = new AuditChain({ key: KEY, key_id: 'k1' })): string[] {
  return Array.from({ length: n }, (_, i) => JSON.stringify(chain.seal({ request_id: `r${i}`, n: i, nested: { b: [1, 'x'], a: null } })));
}

describe('canonicalJson', () => {
  it('sorts keys, drops whitespace and is the same whatever the key order or spacing', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'é'], c: { z: 1.5, y: -0 } })).toBe('{"a":[true,null,"é"],"b":1,"c":{"y":0,"z":1.5}}');
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(canonicalJson(JSON.parse(JSON.stringify(v, null, 2)))).toBe(canonicalJson(v));
      }),
    );
  });

  it('refuses values with no JSON form', () => {
    expect(() => canonicalJson({ a: NaN })).toThrow(CanonicalJsonError);
    expect(() => canonicalJson([1n])).toThrow(CanonicalJsonError);
  });
});

describe('AuditChain', () => {
  it('seals with seq, the previous mac and an HMAC-SHA256 over the canonical record without its mac', () => {
    const chain = new AuditChain({ key: KEY, key_id: 'k1' });
    const a = chain.seal({ x: 1 });
    const b = chain.seal({ x: 2 });
    expect(a.chain).toMatchObject({ v: 1, seq: 0, prev_mac: null, key_id: 'k1' });
    expect(b.chain).toMatchObject({ seq: 1, prev_mac: a.chain.mac, chain_id: a.chain.chain_id });
    const { mac, ...rest } = b.chain;
    const expected = createHmac('sha256', KEY).update(canonicalJson({ x: 2, chain: rest })).digest('hex');
    expect(mac).toBe(expected);
    expect(JSON.stringify(b)).not.toContain(KEY.toString('hex'));
  });

  it('continues a chain from its saved state and across a key rotation', () => {
    const first = new AuditChain({ key: KEY, key_id: 'k1' });
    const lines = sealedLines(3, first);
    const resumed = new AuditChain({ key: KEY, key_id: 'k1', state: first.state() });
    resumed.rotate(KEY2, 'k2');
    lines.push(...sealedLines(3, resumed));
    expect(verifyChain(lines, RING)).toMatchObject({ ok: true, records: 6, verified: 6, chains: 1 });
    expect(verifyChain(lines, new Map([['k1', KEY]])).issues.map((i) => i.kind)).toEqual(['unknown_key', 'unknown_key', 'unknown_key']);
  });

  it('refuses short keys, bad key ids and a forged state', () => {
    expect(() => new AuditChain({ key: Buffer.alloc(31), key_id: 'k' })).toThrow(AuditKeyError);
    expect(() => new AuditChain({ key: KEY, key_id: 'bad id' })).toThrow(AuditKeyError);
    expect(() => new AuditChain({ key: KEY, key_id: 'k', state: { chain_id: 'x', next_seq: 1, prev_mac: null } })).toThrow(AuditKeyError);
  });
});

describe('keys', () => {
  it('reads base64, hex and raw keys of at least 32 bytes, and never echoes one in an error', () => {
    expect(decodeKey(`base64:${KEY.toString('base64')}`)).toEqual(KEY);
    expect(decodeKey(`hex:${KEY.toString('hex')}`)).toEqual(KEY);
    expect(decodeKey('a'.repeat(32))).toEqual(Buffer.from('a'.repeat(32)));
    const short = 'hunter2-short-secret';
    expect(() => decodeKey(short)).toThrow(AuditKeyError);
    try {
      decodeKey(short);
    } catch (e) {
      expect((e as Error).message).not.toContain(short);
    }
  });

  it('reads a key file of one key or a JSON map of key id to key', () => {
    expect([...parseKeyFile(`hex:${KEY.toString('hex')}\n`, 'k1').keys()]).toEqual(['k1']);
    expect([...parseKeyFile(`hex:${KEY.toString('hex')}`).keys()]).toEqual(['*']);
    const json = JSON.stringify({ k1: `hex:${KEY.toString('hex')}`, k2: `base64:${KEY2.toString('base64')}` });
    expect([...parseKeyFile(json).keys()]).toEqual(['k1', 'k2']);
    expect([...parseKeyFile(json, 'k2').keys()]).toEqual(['k2']);
    expect(() => parseKeyFile(json, 'k3')).toThrow(/no key k3/);
    expect(() => parseKeyFile(JSON.stringify({ k1: 'short' }))).toThrow(/^key k1: /);
  });
});

describe('verifyChain', () => {
  it('accepts an untouched chain, interleaved with another chain, blank lines skipped', () => {
    const a = sealedLines(4);
    const b = sealedLines(4, new AuditChain({ key: KEY2, key_id: 'k2' }));
    const mixed = [a[0], b[0], a[1], '', a[2], b[1], b[2], a[3], b[3]];
    expect(verifyChain(mixed, RING)).toEqual({ ok: true, records: 8, verified: 8, chains: 2, issues: [], linked: 0, notes: [] });
  });

  it('reports an edited, a dropped, an inserted and a swapped record at their lines', () => {
    const lines = sealedLines(10);
    const edited = [...lines];
    edited[3] = edited[3].replace('"r3"', '"r3-changed"');
    expect(verifyChain(edited, RING).issues).toEqual([expect.objectContaining({ kind: 'edited', line: 4, seq: 3 })]);

    const dropped = lines.filter((_, i) => i !== 5);
    expect(verifyChain(dropped, RING).issues).toEqual([expect.objectContaining({ kind: 'dropped', line: 6, seq: 5, seq_to: 5 })]);

    const forged = JSON.parse(lines[2]);
    forged.request_id = 'forged';
    const inserted = [...lines.slice(0, 6), JSON.stringify(forged), ...lines.slice(6)];
    expect(verifyChain(inserted, RING).issues).toEqual([expect.objectContaining({ kind: 'inserted', line: 7 })]);

    const replayed = [...lines.slice(0, 6), lines[2], ...lines.slice(6)];
    expect(verifyChain(replayed, RING).issues).toEqual([expect.objectContaining({ kind: 'inserted', line: 7, seq: 2, detail: 'a copy of line 3' })]);

    const swapped = [...lines];
    [swapped[4], swapped[5]] = [swapped[5], swapped[4]];
    const issues = verifyChain(swapped, RING).issues;
    expect(issues).toHaveLength(1);
    expect(issues[0].kind).toBe('reordered');
    expect([5, 6]).toContain(issues[0].line);
  });

  it('reports a chain that starts after seq 0 unless partial starts are allowed', () => {
    const lines = sealedLines(5).slice(2);
    expect(verifyChain(lines, RING).issues).toEqual([expect.objectContaining({ kind: 'dropped', line: 1, seq: 0, seq_to: 1 })]);
    expect(verifyChain(lines, RING, { partial_start: true }).ok).toBe(true);
  });

  it('reports a record sealed with another key as edited where it stands', () => {
    const lines = sealedLines(4);
    const other = new AuditChain({ key: KEY2, key_id: 'k1', state: { ...JSON.parse(lines[2]).chain, next_seq: 2, prev_mac: JSON.parse(lines[1]).chain.mac } });
    const rec = JSON.parse(lines[2]);
    delete rec.chain;
    lines[2] = JSON.stringify(other.seal(rec));
    expect(verifyChain(lines, RING).issues).toEqual([expect.objectContaining({ kind: 'edited', line: 3, seq: 2 })]);
  });

  it('never throws on garbage and reports every garbage line', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.json(), fc.constant('{"chain":{"v":1,"seq":0}}'))), (garbage) => {
        const r = verifyChain(garbage, RING);
        const nonBlank = garbage.filter((g) => g.trim() !== '').length;
        expect(r.issues.length).toBe(nonBlank);
        expect(r.ok).toBe(nonBlank === 0);
      }),
    );
  });
});

describe('verifyChain, properties', () => {
  const N = fc.integer({ min: 3, max: 25 });
  const editRecord = (line: string, field: string, value: unknown): string => {
    const rec = JSON.parse(line);
    if (field === 'chain.seq') rec.chain.seq += 1;
    else if (field === 'chain.mac') rec.chain.mac = rec.chain.mac.replace(/^./, (c: string) => (c === '0' ? '1' : '0'));
    else if (field === 'chain.prev_mac') rec.chain.prev_mac = 'f'.repeat(64);
    else rec[field] = value;
    return JSON.stringify(rec);
  };

  it('locates any single edit', () => {
    fc.assert(
      fc.property(N, fc.nat(), fc.constantFrom('request_id', 'n', 'nested', 'extra', 'chain.seq', 'chain.mac', 'chain.prev_mac'), fc.jsonValue(), (n, at, field, value) => {
        const lines = sealedLines(n);
        const i = at % n;
        const edited = editRecord(lines[i], field, value);
        fc.pre(edited !== lines[i] && canonicalJson(JSON.parse(edited)) !== canonicalJson(JSON.parse(lines[i])));
        lines[i] = edited;
        const r = verifyChain(lines, RING);
        expect(r.ok).toBe(false);
        expect(r.issues).toEqual([expect.objectContaining({ kind: 'edited', line: i + 1, seq: i })]);
      }),
    );
  });

  it('locates any single dropped record but the last (tail cuts need an anchor)', () => {
    fc.assert(
      fc.property(N, fc.nat(), (n, at) => {
        const i = at % (n - 1);
        const lines = sealedLines(n).filter((_, j) => j !== i);
        expect(verifyChain(lines, RING).issues).toEqual([expect.objectContaining({ kind: 'dropped', line: i + 1, seq: i, seq_to: i })]);
      }),
    );
  });

  it('locates any single inserted line: a forged record, a replayed copy or junk', () => {
    fc.assert(
      fc.property(N, fc.nat(), fc.nat(), fc.constantFrom('forged', 'copy', 'junk'), (n, at, from, how) => {
        const lines = sealedLines(n);
        const i = at % (n + 1);
        const src = lines[from % n];
        const line = how === 'copy' ? src : how === 'forged' ? editRecord(src, 'request_id', 'forged') : 'not json';
        lines.splice(i, 0, line);
        const r = verifyChain(lines, RING);
        expect(r.ok).toBe(false);
        // a forged record appended after the last one stands where seq n would be: an edit there
        const kind = how === 'junk' ? 'malformed' : i === n && how === 'forged' ? 'edited' : 'inserted';
        expect(r.issues).toHaveLength(1);
        expect(r.issues[0].kind).toBe(kind);
        // a copy next to its original: either of the two identical lines is the insertion
        const where = [i + 1, ...(lines[i + 1] === line ? [i + 2] : []), ...(i > 0 && lines[i - 1] === line ? [i] : [])];
        expect(where).toContain(r.issues[0].line);
      }),
    );
  });

  it('locates any swap of two records', () => {
    fc.assert(
      fc.property(N, fc.nat(), fc.nat(), (n, a, b) => {
        const i = a % n;
        const j = b % n;
        fc.pre(i !== j);
        const lines = sealedLines(n);
        [lines[i], lines[j]] = [lines[j], lines[i]];
        const r = verifyChain(lines, RING);
        expect(r.ok).toBe(false);
        expect(r.issues.length).toBeGreaterThan(0);
        for (const x of r.issues) {
          expect(x.kind).toBe('reordered');
          // only the swapped pair and the records between them can be off the increasing run
          expect(x.line).toBeGreaterThanOrEqual(Math.min(i, j) + 1);
          expect(x.line).toBeLessThanOrEqual(Math.max(i, j) + 1);
        }
        expect(r.issues.some((x) => x.line === i + 1 || x.line === j + 1)).toBe(true);
      }),
    );
  });
});
