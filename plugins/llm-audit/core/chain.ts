/**
 * Tamper evidence: each node seals its records into a hash chain. A sealed record
 * carries `chain: { v, chain_id, seq, prev_mac, key_id, mac }` where
 *   mac = HMAC-SHA256(key[key_id], canonicalJson(record without chain.mac)), hex;
 * `seq` counts from 0 in one chain and `prev_mac` is the mac of seq − 1 (null at 0).
 * Editing a record breaks its mac; dropping, inserting or reordering breaks the seq
 * order or a prev_mac link (verify.ts). Forging needs the key, which is referenced
 * by id and never written.
 *
 * A chain is one writer's sequence: a plugin server process (or its persisted state,
 * `state()`/`ChainState`, so a restart can continue the same chain). A new chain gets
 * a random 128-bit `chain_id`; records of several chains (nodes, restarts) can be mixed
 * in one file and are told apart by it. Seal in the order records are written: the
 * sink keeps that order (delivery/queue.ts).
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
  mac: string;
}

/** Where a chain stands: the next record gets `next_seq` and links to `prev_mac`. */
export interface ChainState {
  chain_id: string;
  next_seq: number;
  prev_mac: string | null;
}

const CHAIN_ID = /^[0-9a-f]{32}$/;
const MAC = /^[0-9a-f]{64}$/;

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

  /** @throws AuditKeyError on a short key, a bad key id or a state that is not one */
  constructor(opts: { key: Buffer; key_id: string; state?: ChainState | null }) {
    this.key = AuditChain.checkKey(opts.key);
    this.keyId = checkKeyId(opts.key_id);
    const s = opts.state;
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
    const unsealed = { ...record, chain: { v: CHAIN_VERSION, chain_id: this.chainId, seq: this.nextSeq, prev_mac: this.prevMac, key_id: this.keyId } };
    const mac = macOf(this.key, unsealed);
    this.nextSeq += 1;
    this.prevMac = mac;
    return { ...unsealed, chain: { ...unsealed.chain, mac } } as T & { chain: ChainLink };
  }

  /** To persist, so a restarted writer continues this chain instead of starting one. */
  state(): ChainState {
    return { chain_id: this.chainId, next_seq: this.nextSeq, prev_mac: this.prevMac };
  }
}
