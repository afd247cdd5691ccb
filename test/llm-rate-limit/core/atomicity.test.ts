/**
 * Two Node processes check the same key through RedisStore at once, many checks in
 * flight each: the script's atomicity is what keeps the total at the limit (a
 * read-then-write across round trips would let both read the same usage and both admit).
 */
import { fork, type ChildProcess } from 'child_process';
import path = require('path');
import type { Redis } from 'ioredis';
import type { LimitSpec } from '../../../plugins/llm-rate-limit/core/limits';
import { cleanup, connect, REDIS_PORT, uniquePrefix } from './support/redis';

const HAMMER = path.join(__dirname, 'fixtures', 'hammer.js');

let client: Redis;
let prefix: string;
beforeAll(() => {
  client = connect();
  prefix = uniquePrefix('atomic');
});
afterAll(async () => {
  await cleanup(client, prefix);
  client.disconnect();
});

function spawn(job: object): { child: ChildProcess; ready: Promise<void>; done: Promise<number> } {
  const child = fork(HAMMER, [JSON.stringify(job)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const done = new Promise<number>((resolve, reject) => {
    child.on('message', (m: { admitted?: number; error?: string; ready?: boolean }) => {
      if (m.error) reject(new Error(m.error));
      else if (m.ready) onReady();
      else if (typeof m.admitted === 'number') resolve(m.admitted);
    });
    child.on('exit', (code) => code !== 0 && reject(new Error(`hammer exited with ${code}`)));
  });
  return { child, ready, done };
}

async function hammer(limits: LimitSpec[], amounts: object, attempts: number): Promise<number[]> {
  const job = { port: REDIS_PORT, prefix, key: `shared-${Math.random()}`, limits, attempts, inFlight: 25, amounts };
  const kids = [spawn(job), spawn(job)];
  // Both load the core and connect before either starts.
  await Promise.race([Promise.all(kids.map((k) => k.ready)), Promise.all(kids.map((k) => k.done))]);
  for (const k of kids) k.child.send('go');
  return Promise.all(kids.map((k) => k.done));
}

describe('RedisStore atomicity across processes', () => {
  it('admits exactly the limit, never more, when two processes race on one key', async () => {
    const counts = await hammer(
      [
        { id: 'rpm', unit: 'requests', limit: 150, window_seconds: 60 },
        { id: 'tpm', unit: 'tokens', limit: 2000, window_seconds: 60 }, // 2000 / 16 = 125 requests
        { id: 'burst', algorithm: 'token_bucket', unit: 'requests', limit: 400, refill_per_second: 0.01 },
      ],
      { tokens: 16 },
      400,
    );
    expect(counts[0]).toBeGreaterThan(0);
    expect(counts[1]).toBeGreaterThan(0); // both really competed
    expect(counts[0] + counts[1]).toBe(125);
  });

  it('holds a token bucket at its capacity under the same race', async () => {
    const counts = await hammer([{ id: 'tb', algorithm: 'token_bucket', unit: 'requests', limit: 100, refill_per_second: 0.001 }], {}, 300);
    expect(counts[0] + counts[1]).toBe(100);
  });
});
