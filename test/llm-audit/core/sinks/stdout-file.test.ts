import fs = require('fs');
import os = require('os');
import path = require('path');
import { PassThrough, Writable } from 'stream';
import { FileSink } from '../../../../plugins/llm-audit/core/sinks/file';
import { SinkError } from '../../../../plugins/llm-audit/core/sinks/sink';
import { StdoutSink } from '../../../../plugins/llm-audit/core/sinks/stdout';

const rec = (i: number, pad = 0) => JSON.stringify({ i, pad: 'x'.repeat(pad) });

describe('StdoutSink', () => {
  it('writes a batch as JSON lines in one write', async () => {
    const out = new PassThrough();
    const writes: string[] = [];
    out.on('data', (c: Buffer) => writes.push(c.toString()));
    const sink = new StdoutSink(out);
    await sink.send([rec(1), rec(2)]);
    await sink.send([]);
    expect(writes).toEqual(['{"i":1,"pad":""}\n{"i":2,"pad":""}\n']);
  });

  it('rejects with a retriable SinkError when the stream fails', async () => {
    const broken = new Writable({ write: (_c, _e, cb) => cb(Object.assign(new Error('x'), { code: 'EPIPE' })) });
    broken.on('error', () => undefined);
    await expect(new StdoutSink(broken).send([rec(1)])).rejects.toMatchObject({ name: 'SinkError', retriable: true, message: 'stdout: write failed (EPIPE)' });
  });
});

describe('FileSink', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-file-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  const read = (p: string) => fs.readFileSync(p, 'utf8');

  it('appends JSON lines to an existing file, owner-only for a new one', async () => {
    const p = path.join(dir, 'audit.log');
    const sink = new FileSink({ path: p, max_bytes: 1 << 20, keep: 2 });
    await sink.send([rec(1)]);
    await sink.close();
    const again = new FileSink({ path: p, max_bytes: 1 << 20, keep: 2, fsync: 'never' });
    await again.send([rec(2), rec(3)]);
    await again.close();
    expect(read(p)).toBe(`${rec(1)}\n${rec(2)}\n${rec(3)}\n`);
    expect(fs.statSync(p).mode & 0o777).toBe(0o600);
  });

  it('rotates by size before a batch would pass max_bytes, keeping N files and never splitting a batch', async () => {
    const p = path.join(dir, 'audit.log');
    const line = rec(0, 83); // 100 bytes with its newline
    expect(Buffer.byteLength(line) + 1).toBe(100);
    const sink = new FileSink({ path: p, max_bytes: 250, keep: 2 });
    const batches = [[rec(1, 83), rec(2, 83)], [rec(3, 83)], [rec(4, 83), rec(5, 83)], [rec(6, 83)], [rec(7, 83), rec(8, 83), rec(9, 83)]];
    for (const b of batches) await sink.send(b);
    await sink.close();
    // 1,2 (200) + 3 would be 300 > 250: rotate; 3 + 4,5 -> 300: rotate; 4,5 + 6 -> 300: rotate; 6 + 7,8,9: rotate; 7,8,9 alone (300 > max, own file)
    expect(read(p)).toBe([7, 8, 9].map((i) => `${rec(i, 83)}\n`).join(''));
    expect(read(`${p}.1`)).toBe(`${rec(6, 83)}\n`);
    expect(read(`${p}.2`)).toBe(`${rec(4, 83)}\n${rec(5, 83)}\n`);
    expect(fs.existsSync(`${p}.3`)).toBe(false);
  });

  it('with keep 0 starts a fresh file on rotation', async () => {
    const p = path.join(dir, 'audit.log');
    const sink = new FileSink({ path: p, max_bytes: 150, keep: 0 });
    await sink.send([rec(1, 83)]);
    await sink.send([rec(2, 83)]);
    await sink.close();
    expect(fs.readdirSync(dir)).toEqual(['audit.log']);
    expect(read(p)).toBe(`${rec(2, 83)}\n`);
  });

  it('fails retriably when the file cannot be written, and writes again once it can', async () => {
    // its folder is made on first use; a file in the folder's place cannot be worked around
    const sub = path.join(dir, 'blocked');
    fs.writeFileSync(sub, 'not a folder');
    const p = path.join(sub, 'audit.log');
    const sink = new FileSink({ path: p, max_bytes: 1000, keep: 1 });
    await expect(sink.send([rec(1)])).rejects.toMatchObject({ retriable: true, message: expect.stringMatching(/^file: write failed \((EEXIST|ENOTDIR)\)$/) });
    fs.rmSync(sub);
    await sink.send([rec(2)]);
    await sink.close();
    expect(read(p)).toBe(`${rec(2)}\n`);
  });

  it('makes the folder of its path', async () => {
    const p = path.join(dir, 'a', 'b', 'audit.log');
    const sink = new FileSink({ path: p, max_bytes: 1000, keep: 1 });
    await sink.send([rec(1)]);
    await sink.close();
    expect(read(p)).toBe(`${rec(1)}\n`);
  });

  it('refuses a config with no size bound', () => {
    expect(() => new FileSink({ path: 'x', max_bytes: 0, keep: 1 })).toThrow(SinkError);
  });
});
