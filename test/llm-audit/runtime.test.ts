/** llm-audit's process-wide outputs: one queue per destination and disk-buffer folder. */
import fs = require('fs');
import os = require('os');
import path = require('path');
import { decodeState, stateFile } from '../../plugins/llm-audit/chain-store';
import { chainFor, chainStateDir, outputFor } from '../../plugins/llm-audit/runtime';
import { runShutdownHooks } from '../../plugins/shared/shutdown';
import type { LlmAuditConfig, SinkConfig } from '../../plugins/llm-audit/schema';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-runtime-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const config = (over: Partial<LlmAuditConfig> = {}) => ({ spill_dir: path.join(dir, 'spill'), spill_max_bytes: 1 << 20, batch_max_records: 10, batch_max_wait_ms: 10, ...over }) as LlmAuditConfig;
const http = (over: Partial<SinkConfig> = {}) => ({ type: 'http', url: 'http://127.0.0.1:9/ingest', preset: 'json_array', timeout_ms: 1000, ...over }) as SinkConfig;

describe('outputFor', () => {
  it('gives a second config of the same destination the same queue, whatever its other settings (a reload, a rotated credential)', () => {
    const a = outputFor(http(), config(), 'sinks[0]');
    const b = outputFor(http({ timeout_ms: 5000, auth_value: 'Bearer rotated' }), config(), 'sinks[0]');
    expect(b).toBe(a);
  });

  it('refuses one name for two destinations (they would share a disk-buffer folder)', () => {
    outputFor(http({ name: 'siem' }), config(), 'sinks[0]');
    expect(() => outputFor(http({ name: 'siem', url: 'http://127.0.0.1:9/other' }), config(), 'sinks[1]')).toThrow(/sink name siem is already used for another destination/);
  });

  it('gives different destinations their own queues and folders', () => {
    const a = outputFor(http({ url: 'http://127.0.0.1:9/one' }), config(), 'sinks[0]');
    const b = outputFor(http({ url: 'http://127.0.0.1:9/two' }), config(), 'sinks[0]');
    expect(b).not.toBe(a);
    expect(b.name).not.toBe(a.name);
  });
});

describe('chainFor', () => {
  const KEY = Buffer.alloc(32, 5);

  it('keeps the chain state beside the disk buffers and writes the last one on shutdown', async () => {
    const stateDir = chainStateDir(config());
    expect(stateDir).toBe(dir); // the parent of spill_dir
    const chain = chainFor('k-rt', KEY, stateDir);
    expect(chainFor('k-rt', KEY, stateDir)).toBe(chain); // one per process and key
    for (let i = 0; i < 3; i++) chain.seal({ request_id: `r${i}` });
    await runShutdownHooks(4000);
    const saved = decodeState(fs.readFileSync(stateFile(dir, 'k-rt', KEY), 'utf8'), 'k-rt', KEY);
    expect(saved).toMatchObject({ ok: true, state: { chain_id: chain.state().chain_id, next_seq: 3 } });
  });
});
