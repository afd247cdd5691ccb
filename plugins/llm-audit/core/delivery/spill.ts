/**
 * The on-disk buffer a delivery queue spills to while its sink is down: records as
 * JSON lines in append-only segment files `seg-<12 digits>.ndjson` in one directory
 * (one directory per sink), read back oldest first, from a persisted cursor.
 *
 * Bounds and guarantees:
 * - `max_bytes` caps the segment files' total size; an append that does not fit
 *   writes what fits (a prefix of the batch, in order) and returns how many records it
 *   dropped: the caller counts and reports them, nothing is dropped silently;
 * - a segment grows to at most `segment_bytes` (or one batch, if larger); the head
 *   segment is read whole, so it bounds the memory a replay needs;
 * - the cursor (`cursor.json`: segment and byte offset of the next record) is written
 *   by rename after each `consume`; a crash between a send and the cursor write
 *   replays that batch once more (at least once), never skips it;
 * - each process appends to a fresh segment, so a line torn by a crash (no final
 *   newline) is never continued; torn tails are skipped on read;
 * - `fsync` (default true): an append resolves after fdatasync.
 * `open` reads every segment once to count its records (at most `max_bytes`).
 * One process per directory: two would interleave segments and race on the cursor.
 */
import fs = require('fs');
import path = require('path');

export interface SpillOptions {
  dir: string;
  max_bytes: number;
  segment_bytes: number;
  fsync?: boolean;
}

const SEGMENT = /^seg-(\d{12})\.ndjson$/;
const CURSOR = 'cursor.json';
const segName = (n: number) => `seg-${String(n).padStart(12, '0')}.ndjson`;

interface Head {
  segment: number;
  /** Records not yet consumed, from the cursor on, and their sizes with newline. */
  lines: string[];
  bytes: number[];
}

/** Complete lines of `text` (a torn last line, without newline, is left out). */
function completeLines(text: string): string[] {
  const parts = text.split('\n');
  parts.pop();
  return parts;
}

export class SpillBuffer {
  private segments: number[] = [];
  private sizes = new Map<number, number>();
  private cursor = { segment: 0, offset: 0 };
  private tail: number | null = null;
  private head: Head | null = null;
  private pending = 0;

  private constructor(private readonly opts: SpillOptions) {}

  /** Opens (creating) the directory and finds what an earlier process left in it. */
  static async open(opts: SpillOptions): Promise<SpillBuffer> {
    if (!(opts.max_bytes > 0) || !(opts.segment_bytes > 0)) throw new Error('spill: max_bytes and segment_bytes must be > 0');
    const b = new SpillBuffer(opts);
    await fs.promises.mkdir(opts.dir, { recursive: true, mode: 0o700 });
    for (const f of await fs.promises.readdir(opts.dir)) {
      const m = SEGMENT.exec(f);
      if (m) b.segments.push(Number(m[1]));
    }
    b.segments.sort((x, y) => x - y);
    for (const s of b.segments) b.sizes.set(s, (await fs.promises.stat(b.file(s))).size);
    try {
      const c = JSON.parse(await fs.promises.readFile(path.join(opts.dir, CURSOR), 'utf8'));
      if (Number.isSafeInteger(c.segment) && Number.isSafeInteger(c.offset) && c.offset >= 0) b.cursor = c;
    } catch {
      // no cursor: nothing consumed yet
    }
    // segments before the cursor were consumed (a crash before their deletion)
    for (const s of b.segments.filter((s) => s < b.cursor.segment)) await b.remove(s);
    if (b.segments.length > 0 && b.cursor.segment < b.segments[0]) b.cursor = { segment: b.segments[0], offset: 0 };
    for (const s of b.segments) {
      const text = await fs.promises.readFile(b.file(s), 'utf8');
      const from = s === b.cursor.segment ? b.cursor.offset : 0;
      b.pending += completeLines(Buffer.from(text, 'utf8').subarray(from).toString('utf8')).length;
    }
    return b;
  }

  private file(segment: number): string {
    return path.join(this.opts.dir, segName(segment));
  }

  /** Records spilled and not yet consumed. */
  get records(): number {
    return this.pending;
  }

  /** Bytes the segment files take on disk. */
  get bytes(): number {
    let n = 0;
    for (const v of this.sizes.values()) n += v;
    return n;
  }

  /**
   * Appends `lines` in order, as many as fit under `max_bytes`; the rest (a suffix) is
   * not written. Returns how many were written and dropped.
   * @throws the fs error when the disk refuses the write (nothing of it counted written)
   */
  async append(lines: readonly string[]): Promise<{ written: number; dropped: number }> {
    let room = this.opts.max_bytes - this.bytes;
    let fit = 0;
    let size = 0;
    for (const l of lines) {
      const b = Buffer.byteLength(l, 'utf8') + 1;
      if (b > room) break;
      room -= b;
      size += b;
      fit++;
    }
    if (fit === 0) return { written: 0, dropped: lines.length };
    if (this.tail === null || (this.sizes.get(this.tail) ?? 0) + size > this.opts.segment_bytes) {
      if (this.tail === null || (this.sizes.get(this.tail) ?? 0) > 0) {
        this.tail = (this.segments[this.segments.length - 1] ?? this.cursor.segment) + 1;
        this.segments.push(this.tail);
        this.sizes.set(this.tail, 0);
        if (this.segments.length === 1) this.cursor = { segment: this.tail, offset: 0 };
      }
    }
    const fh = await fs.promises.open(this.file(this.tail), 'a', 0o600);
    try {
      await fh.appendFile(`${lines.slice(0, fit).join('\n')}\n`, 'utf8');
      if (this.opts.fsync ?? true) await fh.datasync();
    } finally {
      await fh.close();
      this.sizes.set(this.tail, (await fs.promises.stat(this.file(this.tail))).size);
    }
    if (this.head?.segment === this.tail) this.head = null; // re-read with the new lines
    this.pending += fit;
    return { written: fit, dropped: lines.length - fit };
  }

  /** Up to `maxRecords` oldest records (within `maxBytes`, at least one), not consumed. */
  async peek(maxRecords: number, maxBytes: number): Promise<string[]> {
    const head = await this.loadHead();
    if (head === null) {
      this.pending = 0; // nothing complete is left to read, whatever the count said
      return [];
    }
    const out: string[] = [];
    let bytes = 0;
    for (let i = 0; i < head.lines.length && out.length < maxRecords; i++) {
      if (out.length > 0 && bytes + head.bytes[i] > maxBytes) break;
      bytes += head.bytes[i];
      out.push(head.lines[i]);
    }
    return out;
  }

  /** Marks the `n` records `peek` returned as delivered: the cursor moves past them. */
  async consume(n: number): Promise<void> {
    if (n <= 0) return;
    // an append to the head segment since `peek` dropped the cached head: read it again
    // from the cursor (unmoved, so the same records come first), or the consume would be
    // lost and the batch replayed twice
    const head = this.head ?? (await this.loadHead());
    if (head === null) return;
    const take = Math.min(n, head.lines.length);
    this.cursor = { segment: head.segment, offset: this.cursor.offset + head.bytes.slice(0, take).reduce((a, b) => a + b, 0) };
    head.lines.splice(0, take);
    head.bytes.splice(0, take);
    this.pending -= take;
    if (head.lines.length === 0 && this.cursor.offset >= (this.sizes.get(head.segment) ?? 0)) {
      // the head segment is done: move to the next one (or reset when it was the last)
      const next = this.segments.find((s) => s > head.segment);
      this.head = null;
      this.cursor = { segment: next ?? head.segment + 1, offset: 0 };
      await this.writeCursor();
      await this.remove(head.segment);
      if (this.tail === head.segment) this.tail = null;
      return;
    }
    await this.writeCursor();
  }

  private async loadHead(): Promise<Head | null> {
    while (this.head === null || this.head.lines.length === 0) {
      const seg = this.segments.find((s) => s >= this.cursor.segment);
      if (seg === undefined) return null;
      if (seg !== this.cursor.segment) this.cursor = { segment: seg, offset: 0 };
      const buf = await fs.promises.readFile(this.file(seg));
      const lines = completeLines(buf.subarray(this.cursor.offset).toString('utf8'));
      if (lines.length === 0) {
        if (seg === this.tail) return null;
        // a consumed or torn-only segment: skip it
        this.cursor = { segment: seg + 1, offset: 0 };
        await this.remove(seg);
        continue;
      }
      this.head = { segment: seg, lines, bytes: lines.map((l) => Buffer.byteLength(l, 'utf8') + 1) };
    }
    return this.head;
  }

  private async writeCursor(): Promise<void> {
    const tmp = path.join(this.opts.dir, `${CURSOR}.tmp`);
    await fs.promises.writeFile(tmp, JSON.stringify(this.cursor), { mode: 0o600 });
    await fs.promises.rename(tmp, path.join(this.opts.dir, CURSOR));
  }

  private async remove(segment: number): Promise<void> {
    await fs.promises.rm(this.file(segment), { force: true });
    this.segments = this.segments.filter((s) => s !== segment);
    this.sizes.delete(segment);
  }
}
