/**
 * The worker pool behind llm-guard's offload: one job per worker at a time, a bounded
 * queue, replies never mixed up, a dying or stuck worker failing only its own job.
 */
import path = require('path');
import { GuardBusyError, GuardOffloadError, GuardWorkers } from '../../../plugins/llm-guard/core/offload';
import { REPO_ROOT } from '../../bridge/kong-settings';

const ECHO = path.join(REPO_ROOT, 'test', 'fixtures', 'workers', 'echo-worker.js');
const job = (text: string) => ({ configKey: 'k', config: {} as never, input: { endpoint: 'chat.completions' as const, body: Buffer.from(text) } });
const bodyOf = (d: unknown) => (d as { body: string }).body;

describe('GuardWorkers', () => {
  it('answers every queued job with its own result, in any order of completion', async () => {
    const pool = new GuardWorkers(ECHO, 2, 5000, 100);
    try {
      const texts = Array.from({ length: 30 }, (_, i) => `job${i}:${(i * 7) % 20}`);
      const results = await Promise.all(texts.map((t) => pool.run(job(t))));
      expect(results.map(bodyOf)).toEqual(texts);
    } finally {
      await pool.close();
    }
  });

  it('refuses new jobs when the queue is full, instead of checking them late', async () => {
    const pool = new GuardWorkers(ECHO, 1, 5000, 2);
    try {
      const running = pool.run(job('a:200'));
      const queued = [pool.run(job('b:0')), pool.run(job('c:0'))];
      await expect(pool.run(job('d:0'))).rejects.toBeInstanceOf(GuardBusyError);
      expect((await Promise.all([running, ...queued])).map(bodyOf)).toEqual(['a:200', 'b:0', 'c:0']);
    } finally {
      await pool.close();
    }
  });

  it('a worker that dies fails only its job; the queue goes on in a new worker', async () => {
    const pool = new GuardWorkers(ECHO, 1, 5000, 10);
    try {
      const dying = pool.run(job('exit'));
      const after = [pool.run(job('x:0')), pool.run(job('y:0'))];
      await expect(dying).rejects.toBeInstanceOf(GuardOffloadError);
      expect((await Promise.all(after)).map(bodyOf)).toEqual(['x:0', 'y:0']);
    } finally {
      await pool.close();
    }
  });

  it('times out only a running job, not the ones waiting behind it', async () => {
    const pool = new GuardWorkers(ECHO, 1, 300, 10);
    try {
      const stuck = pool.run(job('hang'));
      const waiting = Array.from({ length: 3 }, (_, i) => pool.run(job(`w${i}:150`)));
      await expect(stuck).rejects.toBeInstanceOf(GuardOffloadError);
      // 3 x 150 ms in the queue: past the 300 ms timeout in total, each within it when running
      expect((await Promise.all(waiting)).map(bodyOf)).toEqual(['w0:150', 'w1:150', 'w2:150']);
    } finally {
      await pool.close();
    }
  });
});
