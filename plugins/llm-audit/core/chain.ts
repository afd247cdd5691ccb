/**
 * Tamper evidence: each node seals its records into a hash chain. A sealed record
 * carries `chain: { v, chain_id, seq, prev_mac, key_id, mac }` where
 *   mac = HMAC-SHA256(key[key_id], canonicalJson(record without chain.mac)), hex;
 * `seq` counts from 0 in one chain and `prev_mac` is the mac of seq − 1 (null at 0).
 * Editing a record breaks its mac; dropping, inserting or reordering breaks the seq
 * order or a prev_mac link (verify.ts). Forging needs the key, which is referenced
 * by id and never written.
 *
 * A chain is one writer's sequence: a plugin server process. A new chain gets a random
 * 128-bit `chain_id`; records of several chains (nodes, restarts) can be mixed in one
 * file and are told apart by it. Seal in the order records are written: the sink keeps
 * that order (delivery/queue.ts).
 *
 * Restarts: a chain that follows another one (the same signing key's chain of the
 * previous process, from its persisted state, chain-store.ts) carries on its seq 0
 *   chain.prev_chain = { chain_id, last_seq, last_mac }
 * naming the last record that process had sealed when it last saved its state. The
 * link is under the mac like every other chain member, so it cannot be moved without
 * the key. The verifier follows it: the predecessor's records after `last_seq` were
 * sealed after its last state write (a crash), records missing up to `last_seq` were
 * cut off its end, and a predecessor absent from the files was removed whole.
 * Pure: no Kong, no I/O (the random chain id comes from node:crypto).
 */
import { createHmac, randomBytes } from 'crypto';
import { canonicalJson } from './canonical';
import { checkKeyId, MIN_KEY_BYTES, AuditKeyError } from './keys';

export const CHAIN_VERSION = 1;

export interface ChainLink {
  v: typeof CHAIN_VERSION;
  chain_id: string;
  seq: number;
  prev_mac: string | null;
  key_id: string;
  /** On seq 0 only, when this chain follows another one (see the file comment). */
  prev_chain?: ChainRef;
  mac: string;
}

/** A point in another chain: its record `last_seq`, whose mac is `last_mac`. */
export interface ChainRef {
  chain_id: string;
  last_seq: number;
  last_mac: string;
}

/** Where a chain stands: the next record gets `next_seq` and links to `prev_mac`. */
export interface ChainState {
  chain_id: string;
  next_seq: number;
  prev_mac: string | null;
}

export const CHAIN_ID = /^[0-9a-f]{32}$/;
export const MAC = /^[0-9a-f]{64}$/;

/** `v` when it is a well-formed ChainRef (exactly its three members), else null. */
export function asChainRef(v: unknown): ChainRef | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const r = v as Record<string, unknown>;
  if (Object.keys(r).length !== 3) return null;
  const ok = typeof r.chain_id === 'string' && CHAIN_ID.test(r.chain_id) && typeof r.last_seq === 'number' && Number.isSafeInteger(r.last_seq) &&
    r.last_seq >= 0 && typeof r.last_mac === 'string' && MAC.test(r.last_mac);
  return ok ? { chain_id: r.chain_id as string, last_seq: r.last_seq as number, last_mac: r.last_mac as string } : null;
}

/** The mac of `unsealed` (a record whose `chain` has every member but `mac`). */
export function macOf(key: Buffer, unsealed: unknown): string {
  return createHmac('sha256', key).update(canonicalJson(unsealed), 'utf8').digest('hex');
}

/** One writer's chain. Not shared between processes. */
export class AuditChain {
  private key: Buffer;
  private keyId: string;
  private readonly chainId: string;
  private nextSeq: number;
  private prevMac: string | null;
  private readonly prevChain: ChainRef | null;
  private readonly onSeal: (() => void) | null;

  /**
   * `state`: continue that chain (same chain_id, from its next_seq). `prev_chain`: a new
   * chain whose seq 0 links to that point of another chain. `on_seal`: called after each
   * seal (the runtime schedules its state write there; it must not throw).
   * @throws AuditKeyError on a short key, a bad key id, a state or link that is not one
   */
  constructor(opts: { key: Buffer; key_id: string; state?: ChainState | null; prev_chain?: ChainRef | null; on_seal?: () => void }) {
    this.key = AuditChain.checkKey(opts.key);
    this.keyId = checkKeyId(opts.key_id);
    this.onSeal = opts.on_seal ?? null;
    const s = opts.state;
    if (s && opts.prev_chain) throw new AuditKeyError('a chain either continues a state or links to a previous chain, not both');
    if (opts.prev_chain && !asChainRef(opts.prev_chain)) throw new AuditKeyError('the previous chain link is not one a chain wrote');
    this.prevChain = opts.prev_chain ? asChainRef(opts.prev_chain) : null;
    if (s) {
      const ok = CHAIN_ID.test(s.chain_id) && Number.isSafeInteger(s.next_seq) && s.next_seq >= 0 &&
        (s.next_seq === 0 ? s.prev_mac === null : typeof s.prev_mac === 'string' && MAC.test(s.prev_mac));
      if (!ok) throw new AuditKeyError('the chain state is not one this chain wrote');
      this.chainId = s.chain_id;
      this.nextSeq = s.next_seq;
      this.prevMac = s.prev_mac;
    } else {
      this.chainId = randomBytes(16).toString('hex');
      this.nextSeq = 0;
      this.prevMac = null;
    }
  }

  private static checkKey(key: Buffer): Buffer {
    if (!Buffer.isBuffer(key) || key.length < MIN_KEY_BYTES) throw new AuditKeyError(`a key must be at least ${MIN_KEY_BYTES} bytes`);
    return Buffer.from(key);
  }

  /** Later records are sealed with this key; the chain goes on (the verifier needs both ids). */
  rotate(key: Buffer, keyId: string): void {
    this.key = AuditChain.checkKey(key);
    this.keyId = checkKeyId(keyId);
  }

  /** `record` with its `chain` link; advances the chain. `record` must not have one. */
  seal<T extends object>(record: T): T & { chain: ChainLink } {
    const link: Omit<ChainLink, 'mac'> = { v: CHAIN_VERSION, chain_id: this.chainId, seq: this.nextSeq, prev_mac: this.prevMac, key_id: this.keyId };
    // only the first record carries the link: one place to check, nothing to repeat
    if (this.nextSeq === 0 && this.prevChain) link.prev_chain = this.prevChain;
    const unsealed = { ...record, chain: link };
    const mac = macOf(this.key, unsealed);
    this.nextSeq += 1;
    this.prevMac = mac;
    this.onSeal?.();
    return { ...unsealed, chain: { ...unsealed.chain, mac } } as T & { chain: ChainLink };
  }

  /** Where this chain stands (persisted by the runtime; a successor links to it). */
  state(): ChainState {
    return { chain_id: this.chainId, next_seq: this.nextSeq, prev_mac: this.prevMac };
  }

  /** The link this chain's seq 0 carries, if any. */
  previous(): ChainRef | null {
    return this.prevChain;
  }
}
