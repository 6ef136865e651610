import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';

/** Runs one try of a job; `attempt` counts from 1. Throwing schedules the next try, if any remain. */
export type JobHandler = (data: unknown, context: { attempt: number }) => Promise<void>;

export interface JobOptions {
  /** Jobs with the same id are de-duplicated while one is waiting or running. */
  jobId?: string;
  delayMs?: number;
  /** Total tries, the first included. */
  attempts?: number;
  /** First retry delay; doubles each time unless `backoff` is `fixed`. */
  backoffMs?: number;
  backoff?: 'exponential' | 'fixed';
  /** The retry delay stops doubling at this. */
  maxBackoffMs?: number;
}

/**
 * Side-effect jobs (notifications, Wake-on-LAN retries, bookkeeping) with retries and backoff:
 * on BullMQ when Redis is configured, in-process otherwise. `add` never blocks for long and never
 * throws: when Redis is unreachable the job runs in-process instead, so an outage is not delayed.
 */
export interface JobQueue {
  readonly kind: 'bullmq' | 'in-process';
  register(name: string, handler: JobHandler): void;
  add(name: string, data: unknown, options?: JobOptions): Promise<void>;
  close(): Promise<void>;
}

export class InProcessQueue implements JobQueue {
  readonly kind = 'in-process';
  private readonly handlers = new Map<string, JobHandler>();
  private readonly active = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly log: Logger) {}

  register(name: string, handler: JobHandler): void {
    this.handlers.set(name, handler);
  }

  async add(name: string, data: unknown, options: JobOptions = {}): Promise<void> {
    const handler = this.handlers.get(name);
    if (!handler) throw new Error(`no handler for job '${name}'`);
    const key = options.jobId ? `${name}:${options.jobId}` : undefined;
    if (key && this.active.has(key)) return;
    if (key) this.active.add(key);
    const attempts = options.attempts ?? 1;
    const run = (attempt: number) => {
      if (this.closed) return;
      const p = handler(data, { attempt })
        .then(() => {
          if (key) this.active.delete(key);
        })
        .catch((error: unknown) => {
          if (attempt >= attempts) {
            if (key) this.active.delete(key);
            this.log.warn({ job: name, attempt, err: error }, 'job failed for good');
            return;
          }
          this.later(() => run(attempt + 1), retryDelay(options, attempt));
        })
        .finally(() => this.running.delete(p));
      this.running.add(p);
    };
    this.later(() => run(1), options.delayMs ?? 0);
  }

  private later(fn: () => void, ms: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.running]);
  }
}

/** Exponential backoff after the `attemptsMade`-th failure, capped at `maxBackoffMs`. */
function retryDelay(options: JobOptions, attemptsMade: number): number {
  const base = options.backoffMs ?? 1000;
  if (options.backoff === 'fixed') return base;
  const delay = base * 2 ** (attemptsMade - 1);
  return Math.min(delay, options.maxBackoffMs ?? Number.POSITIVE_INFINITY);
}

/** BullMQ's own backoff options carry no cap: a capped backoff travels as the type `capped:<ms>`. */
const CAPPED = 'capped:';

export class BullQueue implements JobQueue {
  readonly kind = 'bullmq';
  private readonly handlers = new Map<string, JobHandler>();
  private readonly queue: Queue;
  private readonly worker: Worker;
  private readonly producer: Redis;
  private readonly consumer: Redis;
  private readonly fallback: InProcessQueue;

  constructor(
    url: string,
    private readonly log: Logger,
    options: { prefix?: string; queueName?: string } = {},
  ) {
    const name = options.queueName ?? 'blackstart-jobs';
    const prefix = options.prefix ?? 'blackstart';
    // The producer fails fast when Redis is down (no offline queue), so `add` can fall back at once.
    this.producer = new Redis(url, {
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      connectTimeout: 2000,
    });
    this.consumer = new Redis(url, { maxRetriesPerRequest: null });
    for (const conn of [this.producer, this.consumer])
      conn.on('error', (error) => log.debug({ err: error.message }, 'redis connection error'));
    this.queue = new Queue(name, { connection: this.producer, prefix });
    this.queue.on('error', (error) => log.debug({ err: error.message }, 'job queue error'));
    this.fallback = new InProcessQueue(log);
    this.worker = new Worker(
      name,
      async (job) => {
        const handler = this.handlers.get(job.name);
        if (!handler) throw new Error(`no handler for job '${job.name}'`);
        await handler(job.data, { attempt: job.attemptsMade + 1 });
      },
      {
        connection: this.consumer,
        prefix,
        concurrency: 8,
        settings: {
          backoffStrategy: (attemptsMade, type, _error, job) => {
            const backoff = job?.opts.backoff;
            const backoffMs = typeof backoff === 'object' ? backoff.delay : backoff;
            const maxBackoffMs = type?.startsWith(CAPPED) ? Number(type.slice(CAPPED.length)) : undefined;
            return retryDelay(
              {
                ...(backoffMs !== undefined && { backoffMs }),
                ...(maxBackoffMs !== undefined && { maxBackoffMs }),
              },
              attemptsMade,
            );
          },
        },
      },
    );
    this.worker.on('error', (error) => log.debug({ err: error.message }, 'job worker error'));
    this.worker.on('failed', (job, error) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1))
        log.warn({ job: job.name, err: error.message }, 'job failed for good');
    });
  }

  /** Whether jobs go to Redis right now (else they run in-process). */
  get connected(): boolean {
    return this.producer.status === 'ready';
  }

  register(name: string, handler: JobHandler): void {
    this.handlers.set(name, handler);
    this.fallback.register(name, handler);
  }

  async add(name: string, data: unknown, options: JobOptions = {}): Promise<void> {
    // Not connected: run in-process now rather than wait for Redis (which may be on a host that is
    // already shutting down). Nothing was sent to Redis, so the job cannot run twice.
    if (!this.connected) {
      this.log.warn(
        { job: name, redis: this.producer.status },
        'Redis unavailable; running the job in-process',
      );
      await this.fallback.add(name, data, options);
      return;
    }
    try {
      await this.queue.add(name, data, {
        ...(options.jobId !== undefined && { jobId: options.jobId }),
        ...(options.delayMs !== undefined && { delay: options.delayMs }),
        attempts: options.attempts ?? 1,
        backoff: {
          type:
            options.backoff !== 'fixed' && options.maxBackoffMs !== undefined
              ? `${CAPPED}${options.maxBackoffMs}`
              : (options.backoff ?? 'exponential'),
          delay: options.backoffMs ?? 1000,
        },
        removeOnComplete: 1000,
        removeOnFail: 1000,
      });
    } catch (error) {
      this.log.warn(
        { job: name, err: (error as Error).message },
        'Redis unavailable; running the job in-process',
      );
      await this.fallback.add(name, data, options);
    }
  }

  async close(): Promise<void> {
    // A graceful close lets running jobs finish, but waits for a connection that may never come.
    const graceful = this.consumer.status === 'ready';
    await Promise.allSettled([this.worker.close(!graceful), this.queue.close(), this.fallback.close()]);
    this.producer.disconnect();
    this.consumer.disconnect();
  }
}

export function createJobQueue(
  redisUrl: string | undefined,
  log: Logger,
  options?: { prefix?: string },
): JobQueue {
  return redisUrl ? new BullQueue(redisUrl, log, options) : new InProcessQueue(log);
}
