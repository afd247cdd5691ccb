/** Real Redis for the limiter tests: a unique key prefix per run, removed afterwards. */
import crypto = require('crypto');
import { Redis } from 'ioredis';

export const REDIS_PORT = Number(process.env.REDIS_PORT ?? 6379);

export function uniquePrefix(name: string): string {
  return `test:llm-rl:${name}:${process.pid}:${crypto.randomBytes(4).toString('hex')}:`;
}

export function connect(port = REDIS_PORT): Redis {
  return new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, lazyConnect: false });
}

/** Deletes every key under `prefix`. */
export async function cleanup(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (keys.length > 0) await client.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
