/**
 * llm-gateway's adapter and its Lua companion through the bridge, on what the
 * differential test's corpus does not reach: failing closed when its decision cannot be
 * applied whole, a broken stage config answered and logged at once (not held back
 * behind refusals), the pre-function missing, and a batch Kong sends again while the
 * first is still being handled.
 */
import crypto = require('crypto');
import fs = require('fs');
import os = require('os');
import path = require('path');
import { postFunctionConfig, preFunctionConfig, readLuaSources } from '../../scripts/gen-kong-lua';
import { bridgeWithYml, type BridgeWith } from '../support/bridge-with';

const KEY = 'sk-handler-alice-0123456789abcdefghijklmnopqrstuvwx';
const sha256 = (x: string) => 'sha256:' + crypto.createHash('sha256').update(x).digest('hex');

function route(name: string, gateway: string, opts: { pre?: boolean } = {}): string {
  const lua = readLuaSources();
  return `
      - name: ${name}
        paths: [/${name}]
        strip_path: true
        plugins:${opts.pre === false ? '' : `
          - name: pre-function
${preFunctionConfig(lua, '            ').join('\n')}`}
          - name: llm-gateway
            config:
${gateway}
          - name: post-function
${postFunctionConfig(lua, ['llm_gateway'], '            ').join('\n')}`;
}

const auth = (apiKey: string) => `              auth: { openai_api_key: ${JSON.stringify(apiKey)}, api_keys: [ { id: alice-key, key_hash: "${sha256(KEY)}", consumer: alice } ] }`;

const post = (base: string, p: string) =>
  fetch(`${base}/${p}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });

describe('llm-gateway through the bridge', () => {
  let env: BridgeWith;
  let dir: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-handler-'));
    const yml = `_format_version: "3.0"
consumers:
  - username: alice
services:
  - name: openai
    url: http://127.0.0.1:1
    routes:${route('newline-key', `${auth('sk-company-key-with-a-newline\n')}`)}${route('broken-stage', `${auth('sk-company')}
              rate_limit: { key_by: header, limits: [ { id: rpm, unit: requests, limit: 10, window_seconds: 60 } ] }`)}${route('no-pack', auth('sk-company'), { pre: false })}
`;
    env = await bridgeWithYml(yml, { workers: 1 });
  });
  afterAll(async () => {
    await env?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('answers 500 rather than forward a decision it could not apply whole (a company key with a newline)', async () => {
    const before = env.mock.requests.length;
    const res = await post(env.bridge.url, 'newline-key');
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('llm_gateway_decision_not_applied');
    // nothing reached the upstream: not the client's key, not a request without the company's
    expect(env.mock.requests.length).toBe(before);
    expect(env.bridge.logs.some((l) => l.message.includes('upstream header skipped: authorization'))).toBe(true);
    expect(JSON.stringify(env.bridge.logs)).not.toContain(KEY);
  });

  it('answers a broken stage config with 500 and writes why to Kong\'s log with that very request', async () => {
    const res = await post(env.bridge.url, 'broken-stage');
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('llm_rate_limit_misconfigured');
    const trace = env.bridge.traces.at(-1)!;
    // (a first request also loads alice into llm-auth's consumer cache)
    expect(trace.pdkCalls.map((c) => c.method).filter((m) => m !== 'kong.client.load_consumer')).toEqual(['kong.ctx.shared.get', 'kong.log.err', 'kong.response.exit']);
    expect(env.bridge.logs.some((l) => l.level === 'err' && l.plugin === 'llm-gateway' && l.message.includes('invalid_config') && l.message.includes('header_name'))).toBe(true);
  });

  it('answers 500 (llm_gateway_not_packed) on a route without its pre-function', async () => {
    const before = env.mock.requests.length;
    const res = await post(env.bridge.url, 'no-pack');
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('llm_gateway_not_packed');
    expect(env.mock.requests.length).toBe(before);
    expect(env.bridge.logs.some((l) => l.level === 'err' && l.plugin === 'llm-gateway' && l.message.includes('not_packed'))).toBe(true);
  });
});
