import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createTestRedis, redisSkipReason, waitFor } from '@blackstart/tests';
import { BullQueue, InProcessQueue, type JobQueue } from '../src/jobs/queue.ts';
import { createLogger } from '../src/logger.ts';

const log = createLogger({ level: 'silent' });

/** The contract both queues keep: retries with backoff, de-duplication by job id. */
function contract(
  name: string,
  make: () => Promise<{ queue: JobQueue; cleanup(): Promise<void> }>,
  skip?: string,
) {
  describe(`${name} job queue`, { skip }, () => {
    const cleanups: Array<() => Promise<void>> = [];
    after(async () => {
      for (const c of cleanups) await c();
    });

    test('retries a failing job until it succeeds', async () => {
      const { queue, cleanup } = await make();
      cleanups.push(cleanup);
      let calls = 0;
      const seen: unknown[] = [];
      queue.register('flaky', async (data) => {
        calls++;
        if (calls < 3) throw new Error(`failure ${calls}`);
        seen.push(data);
      });
      await queue.add('flaky', { host: 'nas' }, { attempts: 3, backoffMs: 20 });
      await waitFor(() => seen.length === 1, { timeoutMs: 10_000, what: 'the third attempt' });
      assert.equal(calls, 3);
      assert.deepEqual(seen, [{ host: 'nas' }]);
    });

    test('runs a job once per id while it is pending', async () => {
      const { queue, cleanup } = await make();
      cleanups.push(cleanup);
      let runs = 0;
      queue.register('once', async () => {
        runs++;
      });
      await Promise.all([1, 2, 3].map(() => queue.add('once', {}, { jobId: 'same', delayMs: 200 })));
      await waitFor(() => runs >= 1, { timeoutMs: 10_000, what: 'the job' });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(runs, 1);
    });
  });
}

contract('in-process', async () => {
  const queue = new InProcessQueue(log);
  return { queue, cleanup: () => queue.close() };
});

contract(
  'BullMQ',
  async () => {
    const redis = await createTestRedis();
    const queue = new BullQueue(redis.url, log, { prefix: redis.prefix });
    return {
      queue,
      cleanup: async () => {
        await queue.close();
        await redis.cleanup();
      },
    };
  },
  redisSkipReason(),
);

describe('BullMQ queue without Redis', () => {
  test('runs jobs in-process at once instead of waiting for Redis', async () => {
    // Nothing listens on port 1: the producer fails fast and the job still runs.
    const queue = new BullQueue('redis://127.0.0.1:1', log);
    const ran: unknown[] = [];
    queue.register('notify', async (data) => {
      ran.push(data);
    });
    const started = Date.now();
    await queue.add('notify', { event: 'on-battery' });
    await waitFor(() => ran.length === 1, { timeoutMs: 10_000, what: 'the fallback run' });
    assert.deepEqual(ran, [{ event: 'on-battery' }]);
    assert.ok(Date.now() - started < 8000, 'fell back without waiting on Redis reconnects');
    await queue.close();
  });
});
