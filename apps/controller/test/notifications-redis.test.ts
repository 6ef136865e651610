// Redis stops in the middle of an outage: notifications go on in-process, a delivery whose retry was
// waiting in Redis is taken over, and when Redis comes back with that job nothing is sent twice.
// The test runs its own redis-server (with an append-only file, so the waiting job survives).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { EngineAction } from '@blackstart/policy';
import {
  freePort,
  needs,
  requireTool,
  type Spawned,
  spawnTracked,
  tempDir,
  waitFor,
} from '@blackstart/tests';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import Value from 'typebox/value';
import { BullQueue } from '../src/jobs/queue.ts';
import { createLogger } from '../src/logger.ts';
import {
  type Delivery,
  type NotificationsConfig,
  NotificationsSchema,
  Notifier,
  prepareNotifications,
} from '../src/notifications/index.ts';
import { HttpReceiver } from './notifications-receivers.ts';

const log = createLogger({ level: 'silent' });
const PREFIX = 'bs-notify-redis-test';

async function ping(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

async function jobCounts(url: string): Promise<Record<string, number>> {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const queue = new Queue('blackstart-jobs', { connection, prefix: PREFIX });
  try {
    return await queue.getJobCounts('delayed', 'waiting', 'active', 'completed');
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

describe('Redis stopped mid-outage', needs('redis-server'), () => {
  const dir = tempDir('blackstart-notify-redis-');
  let server: Spawned | undefined;
  after(async () => {
    await server?.kill('SIGKILL');
    dir.remove();
  });

  test('deliveries go on in-process, a retry stranded in Redis is taken over, and none arrives twice', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const startRedis = async () => {
      server = spawnTracked(
        'redis-server',
        requireTool('redis-server'),
        // An append-only file fsync'd on every write: what was queued survives the kill.
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir.path,
          '--save',
          '',
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
        ],
        { logFile: join(dir.path, 'redis.log') },
      );
      await waitFor(() => ping(url), { timeoutMs: 10_000, what: 'the private redis-server' });
    };
    await startRedis();

    const receiver = await HttpReceiver.start();
    // The stage notice fails once, so its retry waits in Redis as a delayed job.
    let stageFailures = 0;
    receiver.respond = (r) =>
      (r.json as { event?: string }).event === 'stage-started' && stageFailures++ === 0
        ? { status: 500, body: 'try later' }
        : undefined;
    const config = Value.Default(
      NotificationsSchema,
      prepareNotifications(
        {
          quietPeriod: 0,
          timeout: 1,
          retry: { attempts: 5, backoff: 1 },
          channels: [{ id: 'ops', type: 'webhook', url: receiver.url('/ops') }],
        },
        () => undefined,
      ),
    ) as NotificationsConfig;
    const queue = new BullQueue(url, log, { prefix: PREFIX });
    const notifier = new Notifier({ config, queue, log, sweepIntervalMs: 100, strandedAfterMs: 300 });
    const delivered: Delivery[] = [];
    notifier.on('delivered', (d) => delivered.push(d));
    notifier.start();
    await waitFor(() => queue.connected, { what: 'the job queue on Redis' });
    const outage = 'outage-redis';
    const act = (action: EngineAction) => notifier.actions([action]);

    try {
      act({ type: 'outage-started', outage, sources: ['ups'] });
      await receiver.waitForAccepted(1);
      act({ type: 'host-triggered', outage, host: 'nas', trigger: 'ups on battery for 60 s' });
      await waitFor(() => stageFailures === 1, { what: 'the failed stage notice' });
      // Its retry is a delayed BullMQ job.
      await waitFor(async () => (await jobCounts(url)).delayed === 1, { what: 'the retry waiting in Redis' });

      await server!.kill('SIGKILL');
      await waitFor(async () => !(await ping(url)), { what: 'Redis gone' });
      act({ type: 'host-down', outage, host: 'nas', how: 'acknowledged' });
      act({ type: 'power-off-ups', outage, source: 'ups', delaySeconds: 60 });
      // Delivered without Redis, the stranded stage notice included.
      await receiver.waitForAccepted(4, '/ops', 15_000);

      await startRedis();
      // The stage notice's job is back with Redis; the worker runs it, and it finds the work done.
      await waitFor(
        async () => {
          const counts = await jobCounts(url);
          return (
            counts.delayed === 0 &&
            counts.waiting === 0 &&
            counts.active === 0 &&
            (counts.completed ?? 0) >= 2
          );
        },
        { timeoutMs: 30_000, intervalMs: 200, what: 'the job left in Redis to be processed' },
      );
      // And new notices use Redis again.
      act({ type: 'mains-returned', outage });
      await receiver.waitForAccepted(5, '/ops', 15_000);
    } finally {
      await queue.close();
      await notifier.close();
      await receiver.close();
    }

    const events = receiver.accepted('/ops').map((r) => r.json as { id: string; event: string });
    assert.deepEqual(events.map((e) => e.event).sort(), [
      'host-down',
      'mains-returned',
      'on-battery',
      'stage-started',
      'ups-powered-off',
    ]);
    assert.equal(new Set(events.map((e) => e.id)).size, 5, 'no notification arrived twice');
    assert.equal(receiver.requests.length, 6, 'five deliveries and the one failed attempt');
    assert.equal(delivered.find((d) => d.notification.kind === 'stage-started')?.attempts, 2);
  });
});
