import fs = require('fs');
import os = require('os');
import path = require('path');
import { AuditChain } from '../../plugins/llm-audit/core/chain';
import { EXIT_OK, EXIT_TAMPERED, EXIT_USAGE, runAuditVerify } from '../../scripts/audit-verify';

const KEY = Buffer.alloc(32, 3);

describe('audit-verify CLI', () => {
  let dir: string;
  let keyFile: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-verify-'));
    keyFile = path.join(dir, 'key');
    fs.writeFileSync(keyFile, `hex:${KEY.toString('hex')}\n`);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function run(args: string[]): { code: number; out: string[]; err: string[] } {
    const out: string[] = [];
    const err: string[] = [];
    const code = runAuditVerify(args, (l) => out.push(l), (l) => err.push(l));
    return { code, out, err };
  }

  /** Two rotated files of one chain: 3 records, then 3. */
  function writeFiles(): [string, string] {
    const chain = new AuditChain({ key: KEY, key_id: 'k1' });
    const line = (i: number) => JSON.stringify(chain.seal({ request_id: `r${i}`, prompt: `secret-prompt-${i}` }));
    const older = path.join(dir, 'audit.log.1');
    const newer = path.join(dir, 'audit.log');
    fs.writeFileSync(older, [0, 1, 2].map(line).join('\n') + '\n');
    fs.writeFileSync(newer, [3, 4, 5].map(line).join('\n') + '\n');
    return [older, newer];
  }

  it('exits 0 for untouched files read oldest first', () => {
    const files = writeFiles();
    const r = run(['--key-file', keyFile, '--key-id', 'k1', ...files]);
    expect(r).toEqual({ code: EXIT_OK, out: ['OK: 6 records, 6 verified, 1 chains, 0 issues'], err: [] });
  });

  it('exits 1 naming the file, line and seq of an edited and a dropped record, never their contents', () => {
    const [older, newer] = writeFiles();
    const a = fs.readFileSync(older, 'utf8').split('\n');
    a[1] = a[1].replace('r1', 'rX');
    fs.writeFileSync(older, a.join('\n'));
    const b = fs.readFileSync(newer, 'utf8').split('\n');
    fs.writeFileSync(newer, [b[0], b[2]].join('\n'));
    const r = run(['--key-file', keyFile, older, newer]);
    expect(r.code).toBe(EXIT_TAMPERED);
    expect(r.out[0]).toMatch(new RegExp(`^${older.replace(/[.]/g, '\\.')}:2 edited seq=1 chain=[0-9a-f]{32}: `));
    expect(r.out[1]).toMatch(new RegExp(`^${newer.replace(/[.]/g, '\\.')}:2 dropped seq=4 chain=`));
    expect(r.out[2]).toBe('TAMPERED: 5 records, 4 verified, 1 chains, 2 issues');
    expect(r.out.join('\n')).not.toContain('secret-prompt');
  });

  it('follows a restart: a crash tail is a note (exit 0), records cut off before the link exit 1', () => {
    const c1 = new AuditChain({ key: KEY, key_id: 'k1' });
    const a = [0, 1, 2, 3].map((i) => JSON.stringify(c1.seal({ request_id: `a${i}` })));
    const saved = c1.state(); // what the crashed process had last saved: seq 3
    a.push(JSON.stringify(c1.seal({ request_id: 'a4' })));
    const c2 = new AuditChain({ key: KEY, key_id: 'k1', prev_chain: { chain_id: saved.chain_id, last_seq: saved.next_seq - 1, last_mac: saved.prev_mac! } });
    const b = [0, 1].map((i) => JSON.stringify(c2.seal({ request_id: `b${i}` })));
    const older = path.join(dir, 'audit.log.1');
    const newer = path.join(dir, 'audit.log');
    fs.writeFileSync(older, a.join('\n') + '\n');
    fs.writeFileSync(newer, b.join('\n') + '\n');
    const crash = run(['--key-file', keyFile, older, newer]);
    expect(crash.code).toBe(EXIT_OK);
    expect(crash.out).toEqual([
      expect.stringMatching(new RegExp(`^${older.replace(/[.]/g, '\\.')}:5 note after_link seq=4 chain=${saved.chain_id}: 1 records after seq 3, `)),
      'OK: 7 records, 7 verified, 2 chains, 0 issues, 1 linked, 1 notes',
    ]);
    fs.writeFileSync(older, a.slice(0, 2).join('\n') + '\n');
    const cut = run(['--key-file', keyFile, older, newer]);
    expect(cut.code).toBe(EXIT_TAMPERED);
    expect(cut.out[0]).toMatch(new RegExp(`^${newer.replace(/[.]/g, '\\.')}:1 truncated seq=2..3 chain=${saved.chain_id}: `));
    expect(cut.out[1]).toBe('TAMPERED: 4 records, 4 verified, 2 chains, 1 issues, 1 linked, 0 notes');
    // the older file not given: its chain is missing, unless partial starts are accepted
    expect(run(['--key-file', keyFile, newer]).out[0]).toMatch(/:1 missing_chain seq=3 /);
    expect(run(['--key-file', keyFile, '--partial-start', newer]).code).toBe(EXIT_OK);
  });

  it('exits 1 when the key does not match', () => {
    const files = writeFiles();
    fs.writeFileSync(keyFile, `hex:${Buffer.alloc(32, 4).toString('hex')}`);
    expect(run(['--key-file', keyFile, ...files]).code).toBe(EXIT_TAMPERED);
  });

  it('exits 2 on a usage error, an unreadable file or a bad key file, without echoing the key', () => {
    const files = writeFiles();
    expect(run(files).code).toBe(EXIT_USAGE);
    expect(run(['--key-file', keyFile]).code).toBe(EXIT_USAGE);
    expect(run(['--key-file', keyFile, '--bogus', ...files]).code).toBe(EXIT_USAGE);
    expect(run(['--key-file', keyFile, path.join(dir, 'missing')]).code).toBe(EXIT_USAGE);
    fs.writeFileSync(keyFile, 'too-short-key-material');
    const r = run(['--key-file', keyFile, ...files]);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.err.join('\n')).not.toContain('too-short-key-material');
  });
});
