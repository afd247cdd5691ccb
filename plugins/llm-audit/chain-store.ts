/**
 * The persisted state of a signing key's chain, so the chain of the next plugin-server
 * process can link back to it (core/chain.ts `prev_chain`) instead of starting an
 * unconnected chain whose predecessor's end could be cut off unseen.
 *
 * Why a new linked chain and not the same chain continued from `next_seq`: the state on
 * disk is up to `intervalMs` old after a crash, so continuing would reuse seqs the dead
 * process had already sealed (a fork the verifier must call tampering), and a clean stop
 * would need a second, different rule. A new chain whose seq 0 names the state's point
 * is one rule for both: records after that point are explained as sealed after the last
 * state write, records missing before it were cut, and each restart is visible in the
 * records themselves.
 *
 * File: `<dir>/llm-audit-chain.<key id>.<tag>.json`, tag = 16 hex of HMAC(key, a fixed
 * label), so two keys configured under one id do not overwrite each other's state and
 * the name reveals nothing usable about the key. Content:
 *   { v: 1, key_id, chain_id, next_seq, prev_mac, written_at, mac }
 * where mac = HMAC-SHA256(key, canonical JSON of the rest): without the key nobody can
 * make a state point at an earlier record (hiding a cut) and have it accepted. A state
 * that does not verify is not linked to, and that is logged.
 *
 * Written atomically (temp file, fsync, rename): once synchronously at the first seal
 * (before that record can reach any sink, so two processes never both link to one
 * state), then at most every `intervalMs` while records are sealed (a timer; the log
 * phase only sets a flag), and on shutdown. A writer whose state file already names a
 * successor of its chain (a newer process started before it stopped, e.g. a reload)
 * stops writing: it must not make the next process link behind that successor.
 */
import { createHmac } from 'crypto';
import fs = require('fs');
import path = require('path');
import { asChainRef, AuditChain, CHAIN_ID, MAC, type ChainRef, type ChainState } from './core/chain';
import { canonicalJson } from './core/canonical';
import { isObj } from './core/text';

export const STATE_VERSION = 1;
/** How often, at most, a chain's state is written while records are sealed. */
export const STATE_INTERVAL_MS = 1000;

export interface PersistedState extends ChainState {
  v: typeof STATE_VERSION;
  key_id: string;
  written_at: string;
  /** HMAC-SHA256 with the signing key over the canonical JSON of the other members. */
  mac: string;
}

function hmac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

/** The state file of key `keyId`/`key` in `dir`. */
export function stateFile(dir: string, keyId: string, key: Buffer): string {
  return path.join(dir, `llm-audit-chain.${keyId}.${hmac(key, 'llm-audit chain state file').slice(0, 16)}.json`);
}

/** The file's text for `state`. */
export function encodeState(state: ChainState, keyId: string, key: Buffer, now = new Date()): string {
  const body = { v: STATE_VERSION, key_id: keyId, chain_id: state.chain_id, next_seq: state.next_seq, prev_mac: state.prev_mac, written_at: now.toISOString() };
  return `${JSON.stringify({ ...body, mac: hmac(key, canonicalJson(body)) })}\n`;
}

export type LoadedState = { ok: true; state: PersistedState } | { ok: false; reason: string };

/** `text` read back and checked with `key`; a reason (no content, no key) when it is not usable. */
export function decodeState(text: string, keyId: string, key: Buffer): LoadedState {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!isObj(v) || v.v !== STATE_VERSION || v.key_id !== keyId || typeof v.mac !== 'string' || !MAC.test(v.mac)) return { ok: false, reason: 'not a chain state of this key id' };
  const { mac, ...body } = v;
  const expected = hmac(key, canonicalJson(body));
  if (expected !== mac) return { ok: false, reason: 'its mac does not verify with this key (another key, or edited)' };
  const ok = typeof v.chain_id === 'string' && CHAIN_ID.test(v.chain_id) && typeof v.next_seq === 'number' && Number.isSafeInteger(v.next_seq) &&
    v.next_seq >= 1 && typeof v.prev_mac === 'string' && MAC.test(v.prev_mac) && typeof v.written_at === 'string';
  if (!ok) return { ok: false, reason: 'malformed members' };
  return { ok: true, state: v as unknown as PersistedState };
}

/** The point a successor links to: the last record the state's chain had sealed. */
export function linkOf(state: ChainState): ChainRef | null {
  return state.next_seq >= 1 && state.prev_mac ? asChainRef({ chain_id: state.chain_id, last_seq: state.next_seq - 1, last_mac: state.prev_mac }) : null;
}

/** Reads the state file: null when there is none; a reason when there is one we cannot use. */
export function readStateFile(file: string, keyId: string, key: Buffer): LoadedState | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { ok: false, reason: `unreadable (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  return decodeState(text, keyId, key);
}

function tempOf(file: string): string {
  // per process: two processes saving at once must not write into one temp file
  return `${file}.${process.pid}.tmp`;
}

function writeSync(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = tempOf(file);
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

async function writeAsync(file: string, text: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true });
  const tmp = tempOf(file);
  const h = await fs.promises.open(tmp, 'w', 0o600);
  try {
    await h.writeFile(text);
    await h.datasync();
  } finally {
    await h.close();
  }
  await fs.promises.rename(tmp, file);
}

export interface StoreEvents {
  /** A state could not be written (the next one is tried at the next interval). */
  error(code: string): void;
  /** A newer process's chain already follows this one: this writer stopped. */
  superseded(successor: string): void;
}

/**
 * A chain whose state is saved in `file`, linked to the state found there when made.
 * `chain.seal` only marks the state dirty and arms a timer; the writes happen off the
 * log phase except the first one (see the file comment).
 */
export class PersistentChain {
  readonly chain: AuditChain;
  /** What was found in the file when the chain was made (for the runtime's log line). */
  readonly loaded: LoadedState | null;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private written = false;
  private dirty = false;
  private lastWrite = -Infinity;
  private stopped = false;

  constructor(
    private readonly file: string,
    private readonly key: Buffer,
    private readonly keyId: string,
    private readonly events: StoreEvents,
    private readonly intervalMs = STATE_INTERVAL_MS,
  ) {
    this.loaded = readStateFile(file, keyId, key);
    const prev = this.loaded?.ok ? linkOf(this.loaded.state) : null;
    this.chain = new AuditChain({ key, key_id: keyId, prev_chain: prev, on_seal: () => this.sealed() });
  }

  private sealed(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (!this.written) {
      // the first record of this chain: save now, before it can reach a sink, so a
      // process started after a crash links here and not to our predecessor too
      this.written = true;
      this.dirty = false;
      this.lastWrite = Date.now();
      try {
        writeSync(this.file, encodeState(this.chain.state(), this.keyId, this.key));
      } catch (e) {
        this.dirty = true;
        this.events.error((e as NodeJS.ErrnoException).code ?? 'error');
        this.arm();
      }
      return;
    }
    this.arm();
  }

  private arm(): void {
    if (this.timer || this.writing || this.stopped) return;
    const wait = Math.max(0, this.lastWrite + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.writing = this.save().finally(() => {
        this.writing = null;
        if (this.dirty) this.arm();
      });
    }, wait);
    this.timer.unref();
  }

  /** Writes the current state if records were sealed since the last write. Never rejects. */
  private async save(): Promise<void> {
    if (!this.dirty || this.stopped) return;
    this.dirty = false;
    this.lastWrite = Date.now();
    const state = this.chain.state();
    try {
      const successor = await this.successor(state.chain_id);
      if (successor) {
        this.stopped = true;
        this.events.superseded(successor);
        return;
      }
      await writeAsync(this.file, encodeState(state, this.keyId, this.key));
    } catch (e) {
      this.dirty = true;
      this.events.error((e as NodeJS.ErrnoException).code ?? 'error');
    }
  }

  /** The chain id of a newer state in the file, when that state is not ours. */
  private async successor(ours: string): Promise<string | null> {
    let text: string;
    try {
      text = await fs.promises.readFile(this.file, 'utf8');
    } catch {
      return null;
    }
    const s = decodeState(text, this.keyId, this.key);
    // the file only ever holds our own state or our predecessor's until a newer process
    // writes its first one: anything else verified under this key is a successor
    if (!s.ok || s.state.chain_id === ours) return null;
    const pred = this.chain.previous();
    return pred && pred.chain_id === s.state.chain_id ? null : s.state.chain_id;
  }

  /** On shutdown: the last state, written now. Never rejects. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    await this.writing;
    await this.save();
  }
}
