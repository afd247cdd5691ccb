/**
 * File sink: JSON lines appended to one file, rotated by size.
 *
 * Rotation: before a batch that would take the file past `max_bytes`, the file becomes
 * `<path>.1`, `<path>.1` becomes `<path>.2`, ... and `<path>.<keep>` is overwritten (so
 * at most `keep` old files remain; keep 0: the old file is deleted). A batch is never
 * split across files, and a batch larger than `max_bytes` alone gets a file of its own.
 * Verify rotated files oldest first (scripts/audit-verify.ts).
 *
 * fsync policy (`fsync`):
 * - `batch` (default): `send` resolves after fdatasync, so an acknowledged record
 *   survives a power loss or a kernel crash;
 * - `never`: `send` resolves once the kernel has the data (survives a crash of this
 *   process, not of the machine); much cheaper on slow disks.
 * Rotation renames are not fsynced on the directory: after a power loss a rename may
 * be undone, never a record lost from the file it was acknowledged in.
 * One writer per path: two processes appending to one file would interleave chains
 * but never corrupt lines (O_APPEND), yet rotation would race. Use one file per server.
 */
import fs = require('fs');
import path = require('path');
import { batchBytes, SinkError, type AuditSink } from './sink';

export interface FileSinkOptions {
  path: string;
  /** Rotate before a batch would take the file past this many bytes. */
  max_bytes: number;
  /** Rotated files kept (`<path>.1` newest .. `<path>.<keep>` oldest). */
  keep: number;
  fsync?: 'batch' | 'never';
  name?: string;
}

export class FileSink implements AuditSink {
  readonly name: string;
  private handle: fs.promises.FileHandle | null = null;
  private size = 0;
  /** Sends run one at a time: rotation and size accounting assume it. */
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly opts: FileSinkOptions) {
    if (!(opts.max_bytes > 0) || !Number.isSafeInteger(opts.keep) || opts.keep < 0) throw new SinkError('file sink: max_bytes must be > 0 and keep >= 0', false);
    this.name = opts.name ?? 'file';
  }

  send(batch: readonly string[]): Promise<void> {
    const run = this.tail.then(() => this.write(batch));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async write(batch: readonly string[]): Promise<void> {
    if (batch.length === 0) return;
    const bytes = batchBytes(batch);
    try {
      await this.open();
      if (this.size > 0 && this.size + bytes > this.opts.max_bytes) await this.rotate();
      await this.handle!.appendFile(`${batch.join('\n')}\n`, 'utf8');
      this.size += bytes;
      if ((this.opts.fsync ?? 'batch') === 'batch') await this.handle!.datasync();
    } catch (e) {
      // a failed or partial write leaves the handle in doubt: reopen on the next send
      await this.dropHandle();
      throw new SinkError(`${this.name}: write failed (${(e as NodeJS.ErrnoException).code ?? 'error'})`, true);
    }
  }

  /** Owner-only (0600): the records are redacted, but still who asked what at what cost. */
  private async open(): Promise<void> {
    if (this.handle) return;
    // the default path is a folder of its own in the Kong prefix: made on first use
    await fs.promises.mkdir(path.dirname(this.opts.path), { recursive: true, mode: 0o700 });
    this.handle = await fs.promises.open(this.opts.path, 'a', 0o600);
    this.size = (await this.handle.stat()).size;
  }

  private async rotate(): Promise<void> {
    await this.dropHandle();
    const p = this.opts.path;
    if (this.opts.keep === 0) await fs.promises.rm(p, { force: true });
    else {
      for (let i = this.opts.keep - 1; i >= 1; i--) await renameIfExists(`${p}.${i}`, `${p}.${i + 1}`);
      await fs.promises.rename(p, `${p}.1`);
    }
    await this.open();
  }

  private async dropHandle(): Promise<void> {
    const h = this.handle;
    this.handle = null;
    this.size = 0;
    if (h) await h.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.tail;
    await this.dropHandle();
  }
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await fs.promises.rename(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
