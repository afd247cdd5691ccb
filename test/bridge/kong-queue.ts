/**
 * kong/tools/queue.lua (Kong 3.10) in TypeScript: the queue gateway-log.lua enqueues
 * its compact records into. One set of queues per nginx worker (the module's `queues`
 * table is per worker), each keyed by workspace id and name:
 *
 * - Queue.enqueue creates the queue when it does not exist, and with it (concurrency
 *   limit 1) ONE named timer that runs `process_once` while the queue has entries and
 *   then deletes the queue (the next enqueue makes a new one);
 * - `process_once` takes the first entry from the semaphore, then waits for more until
 *   `max_batch_size` entries or until less than COALESCE_MIN_TIME (0.05 s) of
 *   `max_coalescing_delay` is left (each wait at most COALESCE_POLL_TIME, 1 s), takes
 *   the batch off the queue and hands it to the handler: one handler call at a time;
 * - `handle`: the handler is pcall'ed; anything but `true` is a failure (warn log),
 *   retried after min(max_retry_delay, 2^n * initial_retry_delay) seconds, until more
 *   than `max_retry_time` has passed since the first try (err log, the batch is lost);
 * - enqueue on a queue holding `max_entries`: err log "queue full, dropping old
 *   entries until processing is successful again", the oldest entry is dropped
 *   (`drop_oldest_entry` asserts the semaphore still holds a count: when every
 *   waiting entry was already taken into the batch being coalesced, Lua's assert
 *   raises "assertion failed!", which the bridge raises too); at 80 % of max_entries
 *   a warn log once; max_bytes as queue.lua.
 *
 * Times are ngx.now() seconds (Date.now() / 1000), sleeps and semaphore waits real
 * timers. The counters are the bridge's, for tests.
 */

export interface QueueConf {
  name: string;
  log_tag?: string;
  max_batch_size: number;
  max_coalescing_delay: number;
  max_entries: number;
  max_bytes?: number | null;
  max_retry_time: number;
  initial_retry_delay: number;
  max_retry_delay: number;
  concurrency_limit: number;
}

/** The handler's return values as Lua gives them: `true`, or a falsy first value and an error. */
export type QueueHandler<T> = (conf: unknown, entries: T[]) => Promise<[unknown, unknown?]>;
export type QueueLog = (level: 'err' | 'warn' | 'info' | 'debug', message: string) => void;

export interface QueueCounters {
  /** Entries Queue.enqueue accepted. */
  enqueued: number;
  /** Handler calls (batches handed over, retries included). */
  handlerCalls: number;
  /** Batches the handler accepted (returned true). */
  batchesSent: number;
  /** Entries in accepted batches. */
  entriesSent: number;
  /** Handler calls that failed (each is followed by a retry or a give-up). */
  handlerFailures: number;
  /** Entries dropped because the queue was full (the oldest). */
  droppedFull: number;
  /** Entries lost when a batch exceeded max_retry_time. */
  droppedRetry: number;
}

export const CAPACITY_WARNING_THRESHOLD = 0.8;
const COALESCE_POLL_TIME = 1.0;
const COALESCE_MIN_TIME = 0.05;
/** workspaces.get_workspace_id() of the default workspace. */
const WORKSPACE_ID = '00000000-0000-4000-8000-000000000000';

const now = (): number => Date.now() / 1000;

/** ngx.semaphore: count() is resources minus waiters; wait(0) never yields. */
class Semaphore {
  private resources = 0;
  private readonly waiters: Array<(ok: boolean) => void> = [];

  count(): number {
    return this.resources - this.waiters.length;
  }

  post(): void {
    this.resources++;
    while (this.resources > 0 && this.waiters.length) {
      this.resources--;
      this.waiters.shift()!(true);
    }
  }

  /** wait(0): true when a resource was taken, false for "timeout". */
  tryWait(): boolean {
    if (this.resources > 0 && this.waiters.length === 0) {
      this.resources--;
      return true;
    }
    return false;
  }

  /** nginx exiting: every waiter times out now. */
  cancelWaiters(): void {
    for (const w of this.waiters.splice(0)) w(false);
  }

  wait(seconds: number): Promise<boolean> {
    if (this.tryWait()) return Promise.resolve(true);
    if (seconds <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter = (ok: boolean) => {
        clearTimeout(timer);
        resolve(ok);
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i !== -1) this.waiters.splice(i, 1);
        resolve(false);
      }, seconds * 1000);
      this.waiters.push(waiter);
    });
  }
}

class Queue<T> {
  readonly semaphore = new Semaphore();
  bytesQueued = 0;
  entries = new Map<number, T>();
  front = 1;
  back = 1;
  warned: boolean | undefined;
  alreadyDroppedEntries = false;

  constructor(
    readonly conf: QueueConf,
    readonly handler: QueueHandler<T>,
    public handlerConf: unknown,
    private readonly owner: KongQueues,
  ) {}

  count(): number {
    return this.back - this.front;
  }

  log(level: 'err' | 'warn' | 'info' | 'debug', message: string): void {
    this.owner.log(level, `[${this.conf.log_tag ?? ''}] queue ${this.conf.name}: ${message}`);
  }

  remaining(): [number, number | undefined] {
    const entries = this.conf.max_entries - this.count();
    if (entries < 0) throw new Error('queue should not be over capacity');
    if (typeof this.conf.max_bytes !== 'number') return [entries, undefined];
    const bytes = this.conf.max_bytes - this.bytesQueued;
    if (bytes < 0) throw new Error('queue should not be over capacity');
    return [entries, bytes];
  }

  isReachingMaxEntries(): boolean {
    return this.remaining()[0] === 0;
  }

  private entryBytes(entry: T): number | undefined {
    return typeof entry === 'string' ? Buffer.byteLength(entry) : undefined;
  }

  isEntryTooLarge(entry: T): boolean {
    const n = this.entryBytes(entry);
    return typeof this.conf.max_bytes === 'number' && n !== undefined && n > this.conf.max_bytes;
  }

  willExceedMaxBytes(entry: T): boolean {
    const n = this.entryBytes(entry);
    if (typeof this.conf.max_bytes !== 'number' || n === undefined) return false;
    return n > this.remaining()[1]!;
  }

  isFull(): boolean {
    return this.isReachingMaxEntries() || (typeof this.conf.max_bytes === 'number' && this.remaining()[1] === 0);
  }

  canEnqueue(entry: T): boolean {
    return !(this.isFull() || this.isEntryTooLarge(entry) || this.remaining()[0] - 1 < 0 || this.willExceedMaxBytes(entry));
  }

  deleteFrontmostEntry(): void {
    if (typeof this.conf.max_bytes === 'number') this.bytesQueued -= this.entryBytes(this.entries.get(this.front) as T) ?? 0;
    this.entries.delete(this.front);
    this.front++;
    if (this.front === this.back) {
      this.front = 1;
      this.back = 1;
    }
  }

  dropOldestEntry(): void {
    // assert(self.semaphore:count() > 0)
    if (!(this.semaphore.count() > 0)) throw new Error('assertion failed!');
    this.semaphore.tryWait();
    this.deleteFrontmostEntry();
    this.owner.counters.droppedFull++;
  }

  async processOnce(): Promise<void> {
    if (!this.semaphore.tryWait()) return;
    const dataStarted = now();
    let entryCount = 1;
    while (!this.owner.stopped && entryCount < this.conf.max_batch_size && this.conf.max_coalescing_delay - (now() - dataStarted) >= COALESCE_MIN_TIME) {
      const waitTime = Math.min(this.conf.max_coalescing_delay - (now() - dataStarted), COALESCE_POLL_TIME);
      if (await this.semaphore.wait(waitTime)) entryCount++;
    }
    // {unpack(self.entries, front, front + entry_count - 1)}
    const batch: T[] = [];
    for (let i = this.front; i < this.front + entryCount; i++) if (this.entries.has(i)) batch.push(this.entries.get(i)!);
    for (let i = 0; i < entryCount; i++) this.deleteFrontmostEntry();
    if (this.alreadyDroppedEntries) {
      this.log('info', 'queue resumed processing');
      this.alreadyDroppedEntries = false;
    }
    await this.handle(batch);
  }

  private async handle(entries: T[]): Promise<void> {
    const c = this.owner.counters;
    const startTime = now();
    let retryCount = 0;
    for (;;) {
      let ok: unknown;
      let err: unknown;
      c.handlerCalls++;
      try {
        [ok, err] = await this.handler(this.handlerConf, entries);
      } catch (e) {
        // pcall: status false, the error is the message
        ok = false;
        err = (e as Error).message;
      }
      if (ok === true) {
        c.batchesSent++;
        c.entriesSent += entries.length;
        return;
      }
      c.handlerFailures++;
      this.log('warn', `handler could not process entries: ${err === null || err === undefined || err === false ? 'no error details returned by handler' : String(err)}`);
      if (err === null || err === undefined || err === false) this.log('err', 'handler returned falsy value but no error information');
      if (now() - startTime > this.conf.max_retry_time || this.owner.stopped) {
        this.log('err', `could not send entries due to max_retry_time exceeded. ${entries.length} queue entries were lost`);
        c.droppedRetry += entries.length;
        return;
      }
      await this.owner.sleep(Math.min(this.conf.max_retry_delay, 2 ** retryCount * this.conf.initial_retry_delay));
      retryCount++;
    }
  }

  enqueue(entry: T): [true] | [null, string] {
    if (entry === null || entry === undefined) return [null, 'entry must be a non-nil Lua value'];
    if (this.conf.concurrency_limit === -1) {
      setTimeout(() => void this.handle([entry]), 0);
      this.owner.counters.enqueued++;
      return [true];
    }
    if (this.count() >= this.conf.max_entries * CAPACITY_WARNING_THRESHOLD) {
      if (!this.warned) {
        this.log('warn', `queue at ${CAPACITY_WARNING_THRESHOLD * 100}% capacity`);
        this.warned = true;
      }
    } else {
      this.warned = undefined;
    }
    if (this.isReachingMaxEntries()) {
      this.log('err', 'queue full, dropping old entries until processing is successful again');
      this.dropOldestEntry();
      this.alreadyDroppedEntries = true;
    }
    if (this.isEntryTooLarge(entry)) {
      const msg = `string to be queued is longer (${this.entryBytes(entry)} bytes) than the queue's max_bytes (${this.conf.max_bytes} bytes)`;
      this.log('err', msg);
      return [null, msg];
    }
    if (this.willExceedMaxBytes(entry)) {
      let dropped = 0;
      do {
        this.dropOldestEntry();
        dropped++;
        this.alreadyDroppedEntries = true;
      } while (this.willExceedMaxBytes(entry));
      this.log('err', `byte capacity exceeded, ${dropped} queue entries were dropped`);
    }
    if (!this.canEnqueue(entry)) throw new Error('queue should not be full after dropping entries');
    if (typeof this.conf.max_bytes === 'number') this.bytesQueued += this.entryBytes(entry) ?? 0;
    this.entries.set(this.back, entry);
    this.back++;
    this.semaphore.post();
    this.owner.counters.enqueued++;
    return [true];
  }
}

const NUMBER_FIELDS = ['max_batch_size', 'max_coalescing_delay', 'max_entries', 'max_retry_time', 'initial_retry_delay', 'max_retry_delay', 'concurrency_limit'] as const;

/** The queues of one nginx worker (queue.lua's module-level `queues`). */
export class KongQueues {
  private readonly queues = new Map<string, Queue<unknown>>();
  private readonly running = new Set<Promise<void>>();
  /** The bridge stopped: queue timers end at their next step (nginx exiting). */
  stopped = false;

  constructor(
    readonly counters: QueueCounters,
    readonly log: QueueLog,
  ) {}

  /** Queue.enqueue(queue_conf, handler, handler_conf, value); raises as queue.lua's asserts do. */
  enqueue<T>(conf: QueueConf, handler: QueueHandler<T>, handlerConf: unknown, value: T): [true] | [null, string] {
    if (typeof conf !== 'object' || conf === null) throw new Error('arg #1 (queue_conf) must be a table');
    if (typeof handler !== 'function') throw new Error('arg #2 (handler) must be a function');
    if (typeof conf.name !== 'string') throw new Error('arg #1 (queue_conf) must include a name');
    for (const f of NUMBER_FIELDS) if (typeof conf[f] !== 'number') throw new Error(`arg #1 (queue_conf) ${f} must be a number`);
    const key = `${WORKSPACE_ID}.${conf.name}`;
    let queue = this.queues.get(key) as Queue<T> | undefined;
    if (queue) {
      queue.handlerConf = handlerConf;
    } else {
      queue = new Queue<T>({ ...conf }, handler, handlerConf, this);
      if (conf.concurrency_limit === 1) {
        const q = queue;
        this.queues.set(key, q as Queue<unknown>);
        // kong.timer:named_at("queue " .. key, 0, ...): process while entries, then forget the queue
        const run = (async () => {
          await new Promise((r) => setTimeout(r, 0));
          while (q.count() > 0 && !this.stopped) {
            const before = q.count();
            await q.processOnce();
            // an entry counted but not in the semaphore would spin in Lua; yield here instead
            if (q.count() === before) await new Promise((r) => setTimeout(r, 1));
          }
          this.queues.delete(key);
        })();
        this.running.add(run);
        void run.finally(() => this.running.delete(run));
      }
    }
    return queue.enqueue(value);
  }

  private readonly sleeps = new Set<() => void>();

  /** ngx.sleep; cut short when the bridge stops. */
  sleep(seconds: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.sleeps.delete(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, seconds * 1000));
      this.sleeps.add(done);
    });
  }

  /** The bridge stops: no more retries or coalescing waits; the timers end. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const done of [...this.sleeps]) done();
    for (const q of this.queues.values()) q.semaphore.cancelWaiters();
    await this.idle();
  }

  /** A queue timer is running (entries waiting or a batch in the handler). */
  get busy(): boolean {
    return this.running.size > 0;
  }

  /** Resolves when every queue timer has ended (all entries handled or lost). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.all([...this.running]);
  }
}

export function newQueueCounters(): QueueCounters {
  return { enqueued: 0, handlerCalls: 0, batchesSent: 0, entriesSent: 0, handlerFailures: 0, droppedFull: 0, droppedRetry: 0 };
}
