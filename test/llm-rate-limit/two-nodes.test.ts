/**
 * Two Kong nodes (two bridges, each with its own llm-rate-limit plugin server) on one
 * Redis, under concurrent load through the openai SDK: together they never admit more
 * than the limit, because each check is one atomic script in Redis.
 */
import crypto = require('crypto');
import OpenAI from 'openai';
import { bridgeWithYml, type BridgeWith } from '../support/bridge-with';
import { sparePort, TestRedisServer } from './core/support/redis-server';

const LIMIT = 20;
const PER_NODE = 40;

function yml(redisPort: number, namespace: string): string {
  return `_format_version: "3.0"
services:
  - name: openai
    url: http://127.0.0.1:1/v1
    routes:
      - name: limited
        paths: [/v1]
        strip_path: true
        plugins:
          - name: llm-rate-limit
            config:
              namespace: ${namespace}
              key_by: header
              header_name: x-team
              policy: redis
              fault_tolerant: false
              redis: { port: ${redisPort}, timeout_ms: 2000 }
              limits:
                - { id: rpm, unit: requests, limit: ${LIMIT}, window_seconds: 60 }
`;
}

describe('llm-rate-limit on two nodes sharing Redis', () => {
  let redis: TestRedisServer;
  let nodes: BridgeWith[] = [];

  beforeAll(async () => {
    redis = new TestRedisServer(await sparePort());
    await redis.start();
    const config = yml(redis.port, `two-nodes-${crypto.randomBytes(4).toString('hex')}`);
    nodes = [await bridgeWithYml(config), await bridgeWithYml(config)];
  });
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.close()));
    await redis?.stop();
  });

  it(`admits exactly ${LIMIT} of ${2 * PER_NODE} concurrent requests across both nodes`, async () => {
    const outcomes = await Promise.all(
      nodes.flatMap((n) => {
        const sdk = new OpenAI({ apiKey: 'sk-client', baseURL: `${n.bridge.url}/v1`, maxRetries: 0, defaultHeaders: { 'x-team': 'shared' } });
        return Array.from({ length: PER_NODE }, (_, i) =>
          sdk.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `n${i}` }] }).then(
            () => 'admitted',
            (e) => (e instanceof OpenAI.RateLimitError ? 'limited' : `error ${e.status}`),
          ),
        );
      }),
    );
    const count = (k: string) => outcomes.filter((o) => o === k).length;
    expect(outcomes.filter((o) => o.startsWith('error'))).toEqual([]);
    expect(count('admitted')).toBe(LIMIT);
    expect(count('limited')).toBe(2 * PER_NODE - LIMIT);
    // both nodes took part, and upstream saw exactly the admitted ones
    expect(nodes.reduce((n, x) => n + x.mock.requests.length, 0)).toBe(LIMIT);
  });
});
