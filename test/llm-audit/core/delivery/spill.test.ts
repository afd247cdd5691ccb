import fs = require('fs');
import os = require('os');
import path = require('path');
import { SpillBuffer } from '../../../../plugins/llm-audit/core/delivery/spill';

const rec = (i: number) => JSON.stringify({ i }); // 8 bytes with its newline for one digit

describe('SpillBuffer', () => {
  let dir: string;
  beforeEach(() => (dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'audit-spill-')), 'spill')));
  afterEach(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));
  const segments = () => fs.readdirSync(dir).filter((f) => f.startsWith('seg-')).sort();

  it('writes the prefix of a batch that fits under the cap and says how many it dropped', async () => {
    const b = await SpillBuffer.open({ dir, max_bytes: 40, segment_bytes: 1000 });
    expect(await b.append([1, 2, 3].map(rec))).toEqual({ written: 3, dropped: 0 });
    expect(await b.append([4, 5, 6].map(rec))).toEqual({ written: 2, dropped: 1 });
    expect(await b.append([7].map(rec))).toEqual({ written: 0, dropped: 1 });
    expect(b.records).toBe(5);
    expect(b.bytes).toBe(40);
  });

  it('rolls segments, reads oldest first, deletes what was consumed and frees its bytes', async () => {
    const b = await SpillBuffer.open({ dir, max_bytes: 1000, segment_bytes: 20 });
    for (const i of [1, 2, 3, 4, 5]) await b.append([rec(i)]);
    expect(segments()).toEqual(['seg-000000000001.ndjson', 'seg-000000000002.ndjson', 'seg-000000000003.ndjson']);
    expect(await b.peek(10, 1000)).toEqual([rec(1), rec(2)]); // a peek stays in the head segment
    await b.consume(2);
    expect(segments()).toEqual(['seg-000000000002.ndjson', 'seg-000000000003.ndjson']);
    expect(await b.peek(1, 1000)).toEqual([rec(3)]);
    await b.consume(1);
    expect(await b.peek(10, 1)).toEqual([rec(4)]); // at least one record, whatever maxBytes
    await b.consume(1);
    await b.consume((await b.peek(10, 1000)).length);
    expect(b.records).toBe(0);
    expect(b.bytes).toBe(0);
    expect(segments()).toEqual([]);
  });

  it('consumes what peek returned even when records were appended to the same segment in between', async () => {
    const b = await SpillBuffer.open({ dir, max_bytes: 1000, segment_bytes: 1000 });
    await b.append(['a', 'b', 'c']);
    expect(await b.peek(3, 1000)).toEqual(['a', 'b', 'c']);
    await b.append(['d', 'e']); // the same segment: its cached head is read again
    await b.consume(3);
    expect(b.records).toBe(2);
    expect(await b.peek(10, 1000)).toEqual(['d', 'e']);
    // and after a restart, the cursor says the same
    expect(await (await SpillBuffer.open({ dir, max_bytes: 1000, segment_bytes: 1000 })).peek(10, 1000)).toEqual(['d', 'e']);
  });

  it('skips a torn last line left by a crash and appends to a fresh segment after reopening', async () => {
    const b = await SpillBuffer.open({ dir, max_bytes: 1000, segment_bytes: 1000 });
    await b.append([rec(1), rec(2)]);
    fs.appendFileSync(path.join(dir, segments()[0]), '{"i":3');
    const again = await SpillBuffer.open({ dir, max_bytes: 1000, segment_bytes: 1000 });
    expect(again.records).toBe(2);
    await again.append([rec(4)]);
    expect(segments()).toHaveLength(2);
    const all: string[] = [];
    for (let batch = await again.peek(10, 1000); batch.length > 0; batch = await again.peek(10, 1000)) {
      all.push(...batch);
      await again.consume(batch.length);
    }
    expect(all).toEqual([rec(1), rec(2), rec(4)]);
    expect(segments()).toEqual([]);
  });
});
