/**
 * MessagePack decoding for the plugin-server RPC, as Kong's values arrive.
 *
 * Why not @msgpack/msgpack's Decoder (which kong-pdk's Listener uses): it throws on
 * a map key "__proto__" ("The key __proto__ is not allowed"), and that throw escapes
 * kong-pdk's socket `data` handler and exits Node. Kong sends such keys whenever a
 * client does: `GET /v1/models?__proto__=x` reaches a plugin as a query map with the
 * key "__proto__", and so can a header where nginx passes underscores. msgpackr
 * renames the key (`__proto_`) and msgpack-lite assigns it, which sets the object's
 * prototype; neither is the value Kong sent. Lua tables have no prototype: every key
 * is a plain key. So here every map becomes an ordinary object whose keys are all
 * own data properties, "__proto__" included (defined, never assigned), and the
 * prototype of every object stays Object.prototype.
 *
 * Scope: the types lua-MessagePack emits (nil, booleans, integers up to 64 bits,
 * floats, str, bin, arrays, maps with string or number keys). Ext types, other key
 * types and nesting past MAX_DEPTH are errors: Kong never sends them.
 */

/** Malformed input: the connection that sent it cannot be trusted to stay in frame. */
export class MsgpackDecodeError extends Error {
  override name = 'MsgpackDecodeError';
}

/** Not enough bytes yet for a whole value: wait for the next chunk. */
class Incomplete extends Error {}
const INCOMPLETE = new Incomplete('incomplete');

/** Deeper than any value Kong builds; a bound keeps hostile input off the stack limit. */
const MAX_DEPTH = 512;

export type Decoded = null | boolean | number | string | Uint8Array | Decoded[] | { [key: string]: Decoded };

/** Adds a key as an own data property: "__proto__" must not reach the setter. */
function setKey(obj: Record<string, Decoded>, key: string, value: Decoded): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

class Reader {
  pos: number;
  /** On INCOMPLETE: the buffer length the failed read needed (at least). */
  required = 0;
  constructor(private readonly buf: Buffer, start: number) {
    this.pos = start;
  }

  private need(n: number): number {
    const at = this.pos;
    if (at + n > this.buf.length) {
      this.required = at + n;
      throw INCOMPLETE;
    }
    this.pos = at + n;
    return at;
  }

  value(depth: number): Decoded {
    if (depth > MAX_DEPTH) throw new MsgpackDecodeError(`nesting deeper than ${MAX_DEPTH}`);
    const b = this.buf;
    const type = b[this.need(1)];
    if (type <= 0x7f) return type;
    if (type >= 0xe0) return type - 0x100;
    if (type >= 0xa0 && type <= 0xbf) return this.str(type & 0x1f);
    if (type >= 0x90 && type <= 0x9f) return this.array(type & 0x0f, depth);
    if (type >= 0x80 && type <= 0x8f) return this.map(type & 0x0f, depth);
    switch (type) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: return this.bin(b.readUInt8(this.need(1)));
      case 0xc5: return this.bin(b.readUInt16BE(this.need(2)));
      case 0xc6: return this.bin(b.readUInt32BE(this.need(4)));
      case 0xca: return b.readFloatBE(this.need(4));
      case 0xcb: return b.readDoubleBE(this.need(8));
      case 0xcc: return b.readUInt8(this.need(1));
      case 0xcd: return b.readUInt16BE(this.need(2));
      case 0xce: return b.readUInt32BE(this.need(4));
      // Lua numbers are doubles: a 64-bit integer is read as the nearest double
      case 0xcf: return Number(b.readBigUInt64BE(this.need(8)));
      case 0xd0: return b.readInt8(this.need(1));
      case 0xd1: return b.readInt16BE(this.need(2));
      case 0xd2: return b.readInt32BE(this.need(4));
      case 0xd3: return Number(b.readBigInt64BE(this.need(8)));
      case 0xd9: return this.str(b.readUInt8(this.need(1)));
      case 0xda: return this.str(b.readUInt16BE(this.need(2)));
      case 0xdb: return this.str(b.readUInt32BE(this.need(4)));
      case 0xdc: return this.array(b.readUInt16BE(this.need(2)), depth);
      case 0xdd: return this.array(b.readUInt32BE(this.need(4)), depth);
      case 0xde: return this.map(b.readUInt16BE(this.need(2)), depth);
      case 0xdf: return this.map(b.readUInt32BE(this.need(4)), depth);
      default:
        throw new MsgpackDecodeError(`unsupported type byte 0x${type.toString(16)}`);
    }
  }

  private str(len: number): string {
    const at = this.need(len);
    return this.buf.toString('utf8', at, at + len);
  }

  private bin(len: number): Uint8Array {
    const at = this.need(len);
    // a copy: a view would pin the whole socket chunk for as long as the plugin holds it
    return new Uint8Array(this.buf.subarray(at, at + len));
  }

  private array(len: number, depth: number): Decoded[] {
    // no preallocation: a hostile length must cost bytes that actually arrived
    const out: Decoded[] = [];
    for (let i = 0; i < len; i++) out.push(this.value(depth + 1));
    return out;
  }

  private map(len: number, depth: number): Record<string, Decoded> {
    const out: Record<string, Decoded> = {};
    for (let i = 0; i < len; i++) {
      const key = this.value(depth + 1);
      if (typeof key !== 'string' && typeof key !== 'number') throw new MsgpackDecodeError(`map key of type ${key === null ? 'nil' : typeof key}`);
      setKey(out, String(key), this.value(depth + 1));
    }
    return out;
  }
}

/** Decodes one whole value; throws MsgpackDecodeError on malformed or truncated input. */
export function decodeMsgpack(buf: Buffer): Decoded {
  const stream = new MsgpackStream(Infinity);
  const values = stream.push(buf);
  if (values.length !== 1 || stream.pending !== 0) throw new MsgpackDecodeError('expected exactly one value');
  return values[0];
}

/**
 * Frames a byte stream into values: a value split across chunks waits for the rest,
 * several values in one chunk all come out. Throws MsgpackDecodeError on malformed
 * input or when an unfinished value passes `maxPendingBytes`.
 */
export class MsgpackStream {
  /** Chunks of a value not complete yet, joined only once enough has arrived. */
  private chunks: Buffer[] = [];
  private held = 0;
  /** Bytes the unfinished value needs before another decode can get further. */
  private wanted = 0;

  constructor(private readonly maxPendingBytes: number) {}

  /** Bytes held for a value not complete yet. */
  get pending(): number {
    return this.held;
  }

  /**
   * Linear in the bytes received: a large value (a raw body of megabytes arrives in
   * 64 KiB socket chunks) is neither copied nor re-decoded per chunk; a decode is
   * tried again only once the bytes its last attempt ran out at have arrived.
   */
  push(chunk: Buffer): Decoded[] {
    this.chunks.push(chunk);
    this.held += chunk.length;
    if (this.held > this.maxPendingBytes) throw new MsgpackDecodeError(`message larger than ${this.maxPendingBytes} bytes`);
    if (this.held < this.wanted) return [];
    const buf = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.held);
    const out: Decoded[] = [];
    let start = 0;
    this.wanted = 0;
    while (start < buf.length) {
      const reader = new Reader(buf, start);
      try {
        out.push(reader.value(0));
      } catch (err) {
        if (err !== INCOMPLETE) throw err instanceof MsgpackDecodeError ? err : new MsgpackDecodeError((err as Error).message);
        this.wanted = reader.required - start;
        break;
      }
      start = reader.pos;
    }
    const rest = start === buf.length ? null : Buffer.from(buf.subarray(start));
    this.chunks = rest ? [rest] : [];
    this.held = rest ? rest.length : 0;
    return out;
  }
}
