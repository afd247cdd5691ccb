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

/** Far past any linear scan of a 2 MiB body on a slow core; counted from when a job starts running. */
const JOB_TIMEOUT_MS = 10_000;
/** Jobs waiting for a worker, all workers together; past it new jobs are refused (busy). */
const MAX_QUEUED = 32;

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

/** Every worker is busy and the queue is full: the caller answers 503, nothing is checked late. */
export class GuardBusyError extends Error {
  override name = 'GuardBusyError';
}

interface Job {
  id: number;
  job: GuardJob;
  resolve: (d: GuardDecision) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  /** The one job this worker runs now, with its timer. */
  running: { job: Job; timer: NodeJS.Timeout } | null;
}

/**
 * A small pool: each worker runs one job at a time, the rest wait in one bounded
 * queue. The timeout counts only a running job: a long queue cannot time out the
 * jobs in it, and a stuck job ends only its own worker (the queue goes on in a new one).
 */
export class GuardWorkers {
  private readonly slots: Array<Slot | null>;
  private readonly queue: Job[] = [];
  private seq = 0;

  /** @param size worker threads; one core stays for the main thread by default */
  constructor(
    private readonly script = path.join(__dirname, 'guard-worker.js'),
    size = Math.max(1, Math.min(2, os.availableParallelism() - 1)),
    private readonly timeoutMs = JOB_TIMEOUT_MS,
    private readonly maxQueued = MAX_QUEUED,
  ) {
    this.slots = Array.from({ length: size }, () => null);
  }

  run(job: GuardJob): Promise<GuardDecision> {
    if (this.queue.length >= this.maxQueued) return Promise.reject(new GuardBusyError('guard workers busy'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: ++this.seq, job, resolve, reject });
      this.dispatch();
    });
  }

  /** Ends every worker (tests; the plugin server itself never closes). */
  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s?.worker.terminate()));
  }

  /** Hands queued jobs to idle workers, starting workers as needed. */
  private dispatch(): void {
    for (let i = 0; i < this.slots.length && this.queue.length > 0; i++) {
      const slot = this.slots[i] ?? this.spawn(i);
      if (slot.running) continue;
      const next = this.queue.shift()!;
      const timer = setTimeout(() => void slot.worker.terminate(), this.timeoutMs);
      slot.running = { job: next, timer };
      slot.worker.postMessage({ id: next.id, ...next.job });
    }
  }

  private spawn(index: number): Slot {
    const worker = new Worker(this.script);
    // the plugin server must exit even if a worker is idle
    worker.unref();
    const slot: Slot = { worker, running: null };
    this.slots[index] = slot;
    worker.on('message', (reply: Reply) => {
      const current = slot.running;
      if (!current || current.job.id !== reply.id) return;
      clearTimeout(current.timer);
      slot.running = null;
      if (reply.ok) current.job.resolve(reply.decision);
      else current.job.reject(new GuardOffloadError(reply.error));
      this.dispatch();
    });
    const fail = (why: string) => {
      if (this.slots[index] !== slot) return;
      this.slots[index] = null;
      const current = slot.running;
      slot.running = null;
      if (current) {
        clearTimeout(current.timer);
        current.job.reject(new GuardOffloadError(why));
      }
      // the queue goes on in a new worker
      this.dispatch();
    };
    worker.on('error', () => fail('guard worker failed'));
    worker.on('exit', () => fail('guard worker exited'));
    return slot;
  }
}
