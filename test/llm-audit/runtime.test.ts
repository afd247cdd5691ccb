/** llm-audit's process-wide outputs: one queue per destination and disk-buffer folder. */
import fs = require('fs');
import os = require('os');
import path = require('path');
import { outputFor } from '../../plugins/llm-audit/runtime';
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
