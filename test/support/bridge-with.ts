/**
 * A bridge on a kong.yml written for one test file, in front of a fresh mock
 * upstream: the setup the plugin adapter tests share.
 */
import fs = require('fs');
import os = require('os');
import path = require('path');
import { KongBridge, type BridgeOptions } from '../bridge/gateway';
import { MockOpenAI } from '../mock-openai/server';

export interface BridgeWith {
  bridge: KongBridge;
  mock: MockOpenAI;
  close(): Promise<void>;
}

/** `yml`'s service named `openai` points at the mock. */
export async function bridgeWithYml(yml: string, opts: Partial<BridgeOptions> = {}): Promise<BridgeWith> {
  const mock = new MockOpenAI();
  await mock.start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bridge-with-'));
  fs.writeFileSync(path.join(dir, 'kong.yml'), yml);
  let bridge: KongBridge;
  try {
    bridge = await KongBridge.start({ kongYml: path.join(dir, 'kong.yml'), serviceUrls: { openai: mock.url }, ...opts });
  } catch (err) {
    await mock.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    bridge,
    mock,
    close: async () => {
      await bridge.stop();
      await mock.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
