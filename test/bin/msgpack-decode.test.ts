import { decode as referenceDecode, encode } from '@msgpack/msgpack';
import { decodeMsgpack, MsgpackDecodeError, MsgpackStream } from '../../bin/msgpack-decode';

/** Values shaped like what Kong sends: maps of lists, numbers of every width, binaries. */
function randomValue(depth: number, rnd: () => number): unknown {
  const pick = Math.floor(rnd() * (depth > 3 ? 6 : 9));
  switch (pick) {
    case 0: return null;
    case 1: return rnd() < 0.5;
    case 2: return Math.floor((rnd() - 0.5) * 2 ** [7, 8, 16, 32, 52][Math.floor(rnd() * 5)]);
    case 3: return (rnd() - 0.5) * 1e6;
    case 4: return 'x'.repeat(Math.floor(rnd() * 300)) + 'é✓';
    case 5: return new Uint8Array(Math.floor(rnd() < 0.05 ? 70000 : rnd() * 300)).fill(0xab);
    case 6: return Array.from({ length: Math.floor(rnd() * 6) }, () => randomValue(depth + 1, rnd));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rnd() * 6); i > 0; i--) o[`k${Math.floor(rnd() * 1000)}`] = randomValue(depth + 1, rnd);
      return o;
    }
  }
}

/** mulberry32: a small seeded generator, so a failure reproduces. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('decodeMsgpack', () => {
  it('decodes what @msgpack/msgpack decodes, for 500 random Kong-shaped values', () => {
    const rnd = seeded(7);
    for (let i = 0; i < 500; i++) {
      const bytes = Buffer.from(encode(randomValue(0, rnd)));
      expect(decodeMsgpack(bytes)).toEqual(referenceDecode(bytes));
    }
  });

  it('keeps "__proto__" as a plain own key, and no object gains a prototype from the input', () => {
    // JSON.parse makes "__proto__" an own key, as a Lua table holds it
    const fromKong = JSON.parse('{"__proto__":["x"],"constructor":["y"],"authorization":["Bearer k"]}');
    const bytes = Buffer.from(encode([0, 1, 'plugin.Step', [{ EventId: 1, Data: fromKong }]]));
    expect(() => referenceDecode(bytes)).toThrow(/__proto__/); // what kong-pdk's Listener does
    const decoded = decodeMsgpack(bytes) as [number, number, string, [{ Data: Record<string, unknown> }]];
    const data = decoded[3][0].Data;
    expect(Object.keys(data)).toEqual(['__proto__', 'constructor', 'authorization']);
    expect(Object.getOwnPropertyDescriptor(data, '__proto__')?.value).toEqual(['x']);
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(JSON.stringify(data)).toBe('{"__proto__":["x"],"constructor":["y"],"authorization":["Bearer k"]}');
  });

  it('reads number map keys as strings (a Lua array with holes arrives keyed by index)', () => {
    const bytes = Buffer.from([0x82, 0x01, 0xa1, 0x61, 0x03, 0xa1, 0x62]);
    expect(decodeMsgpack(bytes)).toEqual({ 1: 'a', 3: 'b' });
  });

  it.each([
    ['the never-used type byte', [0xc1]],
    ['an ext type', [0xd4, 0x01, 0x00]],
    ['a map key that is a map', [0x81, 0x80, 0xc0]],
    ['a map key that is nil', [0x81, 0xc0, 0xc0]],
    ['trailing bytes', [0xc0, 0xc0]],
    ['a truncated string', [0xa5, 0x61]],
  ])('refuses %s with MsgpackDecodeError', (_name, bytes) => {
    expect(() => decodeMsgpack(Buffer.from(bytes))).toThrow(MsgpackDecodeError);
  });

  it('refuses nesting past its bound instead of overflowing the stack', () => {
    const deep = Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0xc0])]);
    expect(() => decodeMsgpack(deep)).toThrow(/nesting/);
  });
});

describe('MsgpackStream', () => {
  it('waits for a value split across chunks and returns every value of a chunk', () => {
    const a = Buffer.from(encode([0, 1, 'plugin.HandleEvent', [{ InstanceId: 3, EventName: 'access' }]]));
    const b = Buffer.from(encode([0, 2, 'plugin.Step', [{ EventId: 9, Data: 'x'.repeat(70000) }]]));
    const all = Buffer.concat([a, b, a]);
    const stream = new MsgpackStream(1 << 20);
    const out: unknown[] = [];
    for (let i = 0; i < all.length; i += 1000) out.push(...stream.push(all.subarray(i, i + 1000)));
    expect(out).toEqual([referenceDecode(a), referenceDecode(b), referenceDecode(a)]);
    expect(stream.pending).toBe(0);
  });

  it('holds a hostile length only as bytes arrive, and refuses past its cap', () => {
    const stream = new MsgpackStream(1024);
    // str32 announcing 4 GiB: nothing is allocated for it
    expect(stream.push(Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff]))).toEqual([]);
    expect(() => stream.push(Buffer.alloc(2000, 0x61))).toThrow(/larger than 1024/);
  });

  it('takes a large body in 64 KiB chunks in linear time (no copy or decode per chunk)', () => {
    const time = (bytes: number) => {
      const frame = Buffer.from(encode([1, 7, null, { EventId: 1, Data: new Uint8Array(bytes).fill(0x61) }]));
      let best = Infinity;
      for (let run = 0; run < 3; run++) {
        const stream = new MsgpackStream(1 << 30);
        const t = process.hrtime.bigint();
        let out: unknown[] = [];
        for (let i = 0; i < frame.length; i += 65536) out = out.concat(stream.push(frame.subarray(i, i + 65536)));
        best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e6);
        expect(out).toHaveLength(1);
      }
      return best;
    };
    const small = time(4 * 1024 * 1024);
    const big = time(32 * 1024 * 1024);
    // 8x the bytes: linear is ~8x; re-joining the chunks per chunk was ~64x (27.9 s at 63 MiB)
    expect(big).toBeLessThan(Math.max(20 * small, 500));
  });

  it('does not preallocate an array from its announced length', () => {
    const stream = new MsgpackStream(1024);
    expect(stream.push(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]))).toEqual([]);
  });
});
