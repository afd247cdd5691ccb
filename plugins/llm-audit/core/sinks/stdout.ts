/**
 * The embedded default sink: JSON lines on standard output, one record a line, for
 * `docker logs` → Filebeat / Fluent Bit → ELK. One `write` per batch so the lines of
 * a batch are not interleaved with other output of the process; `send` resolves when
 * the stream has taken the data (after 'drain' when it pushes back), so a slow reader
 * slows the queue instead of growing the process's memory.
 */
import type { Writable } from 'stream';
import { SinkError, type AuditSink } from './sink';

export class StdoutSink implements AuditSink {
  readonly name: string;

  constructor(
    private readonly stream: Writable = process.stdout,
    name = 'stdout',
  ) {
    this.name = name;
  }

  send(batch: readonly string[]): Promise<void> {
    if (batch.length === 0) return Promise.resolve();
    const text = `${batch.join('\n')}\n`;
    return new Promise((resolve, reject) => {
      this.stream.write(text, 'utf8', (err) => (err ? reject(new SinkError(`${this.name}: write failed (${(err as NodeJS.ErrnoException).code ?? 'error'})`, true)) : resolve()));
    });
  }

  async close(): Promise<void> {
    // process.stdout is not ours to end; another stream is ended by its owner
  }
}
