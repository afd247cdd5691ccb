/**
 * The gateway under test: the bridge with kong/kong.test.yml in front of the given
 * upstream mock, or, when KONG_PROXY_URL is set (docker-compose profile "test"), the
 * real Kong container, which runs the same kong.test.yml against the mock container.
 */
import path = require('path');
import { KongBridge, type BridgeOptions } from '../bridge/gateway';
import { REPO_ROOT } from '../bridge/kong-settings';
import type { UpstreamMock } from './upstream';

/** What kong.test.yml's {vault://env/openai-api-key} resolves to in tests and in docker-compose. */
export const UPSTREAM_OPENAI_KEY = process.env.OPENAI_API_KEY ?? 'sk-mock-upstream-only';
/** What kong.test.yml's {vault://env/llm-audit-key} resolves to in tests. */
export const TEST_AUDIT_KEY = process.env.LLM_AUDIT_KEY ?? `hex:${'ab'.repeat(32)}`;

export interface Gateway {
  url: string;
  /** null against a real Kong: tests that need the bridge's view are skipped there. */
  bridge: KongBridge | null;
  close(): Promise<void>;
}

export const REMOTE_KONG = process.env.KONG_PROXY_URL;

export async function startGateway(
  upstream: UpstreamMock,
  opts: Partial<BridgeOptions> = {},
): Promise<Gateway> {
  if (REMOTE_KONG) return { url: REMOTE_KONG, bridge: null, close: async () => undefined };
  const bridge = await KongBridge.start({
    kongYml: path.join(REPO_ROOT, 'kong', 'kong.test.yml'),
    serviceUrls: { openai: upstream.url, 'openai-gateway': upstream.url },
    ...opts,
    // kong.yml's llm-rate-limit keeps its counters in the Redis the tests use
    env: { OPENAI_API_KEY: UPSTREAM_OPENAI_KEY, LLM_REDIS_HOST: process.env.LLM_REDIS_HOST ?? '127.0.0.1', LLM_AUDIT_KEY: TEST_AUDIT_KEY, ...opts.env },
  });
  return { url: bridge.url, bridge, close: () => bridge.stop() };
}

/** `it` for tests that need the bridge (process control, PDK call traces). */
export const itWithBridge = REMOTE_KONG ? it.skip : it;

export function demoKey(name: 'alice' | 'bob' | 'ops-admin'): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const keys = require(path.join(REPO_ROOT, 'kong', 'demo-keys.json')) as Record<string, string>;
  return keys[name];
}
