/**
 * Runs big guard checks off the plugin server's event loop.
 *
 * One Node process serves every nginx worker's requests for a plugin: a 512 KiB
 * prompt scanned on the main thread would hold every other request of the node for
 * the length of the scan. Bodies above `offload_bytes` go to a worker thread that
 * runs the same `runGuard` with the same config (compiled once per config in each
 * worker), and the main thread keeps answering small requests meanwhile.
 *
 * A worker that dies fails its jobs (the handler then answers 500, fail closed) and
 * is replaced on the next job; a job past JOB_TIMEOUT_MS fails the same way, and the
 * worker that holds it is ended, since it may be stuck.
 */
import os = require('os');
import path = require('path');
import { Worker } from 'node:worker_threads';
import type { GuardDecision, GuardInput } from './guard';
import type { LlmGuardConfig } from '../schema';

/** Far past any linear scan of a 2 MiB body on a slow core. */
const JOB_TIMEOUT_MS = 10_000;

export interface GuardJob {
  /** Identifies the config (sharedPerConfig's fingerprint): workers compile each once. */
  configKey: string;
  config: LlmGuardConfig;
  input: GuardInput;
}

type Reply = { id: number; ok: true; decision: GuardDecision } | { id: number; ok: false; error: string };

export class GuardOffloadError extends Error {
  override name = 'GuardOffloadError';
}

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (d: GuardDecision) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>;
}

export class GuardWorkers {
  private readonly slots: Array<Slot | null>;
  private next = 0;
  private seq = 0;

  /** @param size worker threads; one core stays for the main thread by default */
  constructor(
    private readonly script = path.join(__dirname, 'guard-worker.js'),
    size = Math.max(1, Math.min(2, os.availableParallelism() - 1)),
  ) {
    this.slots = Array.from({ length: size }, () => null);
  }

  run(job: GuardJob): Promise<GuardDecision> {
    const index = this.next++ % this.slots.length;
    const slot = this.slots[index] ?? this.spawn(index);
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        // a job this late may be stuck: end its worker, which fails its other jobs too
        void slot.worker.terminate();
      }, JOB_TIMEOUT_MS);
      slot.pending.set(id, { resolve, reject, timer });
      slot.worker.postMessage({ id, ...job });
    });
  }

  /** Ends every worker (tests; the plugin server itself never closes). */
  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s?.worker.terminate()));
  }

  private spawn(index: number): Slot {
    const worker = new Worker(this.script);
    // the plugin server must exit even if a worker is idle
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    this.slots[index] = slot;
    worker.on('message', (reply: Reply) => {
      const job = slot.pending.get(reply.id);
      if (!job) return;
      slot.pending.delete(reply.id);
      clearTimeout(job.timer);
      if (reply.ok) job.resolve(reply.decision);
      else job.reject(new GuardOffloadError(reply.error));
    });
    const fail = (why: string) => {
      if (this.slots[index] === slot) this.slots[index] = null;
      for (const job of slot.pending.values()) {
        clearTimeout(job.timer);
        job.reject(new GuardOffloadError(why));
      }
      slot.pending.clear();
    };
    worker.on('error', () => fail('guard worker failed'));
    worker.on('exit', () => fail('guard worker exited'));
    return slot;
  }
}
