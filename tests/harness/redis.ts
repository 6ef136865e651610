import { join } from 'node:path';
import { Redis } from 'ioredis';
import { findTool, freePort, isCI, tempDir, waitFor } from './env.ts';
import { type Spawned, spawnTracked } from './processes.ts';

export interface TestRedis {
  /** redis:// URL of the server (REDIS_URL, or a private one). */
  url: string;
  /** A key prefix private to this test: pass it to BullMQ as `prefix` and to ioredis as `keyPrefix`. */
  prefix: string;
  /** Removes every key under `prefix`. */
  cleanup(): Promise<void>;
}

let ownServer: Promise<{ url: string; server: Spawned }> | undefined;

export function redisSkipReason(): string | undefined {
  if (process.env.REDIS_URL || findTool('redis-server') || isCI) return undefined;
  return 'needs Redis: set REDIS_URL or install redis-server';
}

/** A Redis connection target with a private key prefix: REDIS_URL when set, else a private server. */
export async function createTestRedis(): Promise<TestRedis> {
  const url = process.env.REDIS_URL ?? (await startOwnServer()).url;
  const prefix = `bs-test:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
  return {
    url,
    prefix,
    async cleanup() {
      const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
      redis.on('error', () => {});
      try {
        await redis.connect();
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    },
  };
}

async function startOwnServer(): Promise<{ url: string; server: Spawned }> {
  ownServer ??= (async () => {
    const bin = findTool('redis-server');
    if (!bin) throw new Error('redis-server is not installed and REDIS_URL is not set');
    const dir = tempDir('blackstart-redis-');
    const port = await freePort();
    const server = spawnTracked(
      'redis-server',
      bin,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir.path],
      { logFile: join(dir.path, 'redis.log'), background: true },
    );
    const url = `redis://127.0.0.1:${port}`;
    await waitFor(
      async () => {
        const redis = new Redis(url, {
          maxRetriesPerRequest: 0,
          lazyConnect: true,
          retryStrategy: () => null,
        });
        redis.on('error', () => {}); // refused while the server starts: expected, and retried
        try {
          await redis.connect();
          return (await redis.ping()) === 'PONG';
        } finally {
          redis.disconnect();
        }
      },
      { timeoutMs: 10_000, intervalMs: 100, what: 'private Redis server' },
    );
    process.once('exit', () => dir.remove());
    return { url, server };
  })();
  return ownServer;
}
