import type { TimelineStore } from '../db/timeline.ts';
import type { Logger } from '../logger.ts';
import type { Cursor, Journal, JournalRecord } from './journal.ts';

/**
 * Records per database transaction: the embedded PGlite runs on the controller's own thread, so one
 * flush must stay short enough not to hold up a fan-out's acknowledgements.
 */
const BATCH = 500;

/** A burst of records is written at the latest this long after its first record. */
const MAX_DEFER_MS = 2000;

/**
 * Copies journal records into the database in the background, once records stop coming for
 * `delayMs` (so a burst of steps — a fan-out and its acknowledgements — is written after it, not
 * in the middle of it), and at the latest 2 s after the first. The runtime never waits for it:
 * when the database is unreachable, records stay queued (and in the journal) and are retried with
 * backoff. After a restart, whatever the journal holds beyond the cursor is queued again.
 */
export class JournalFlusher {
  private queue: JournalRecord[];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failures = 0;
  private closed = false;
  private readonly idleWaiters: Array<() => void> = [];
  private lastEnqueuedAt = 0;
  private burstStartedAt: number | undefined;

  constructor(
    journal: Journal,
    private readonly cursor: Cursor,
    private readonly store: TimelineStore,
    private readonly log: Logger,
    private readonly delayMs = 200,
  ) {
    this.queue = journal.read(cursor.get());
    if (this.queue.length > 0) this.schedule(0);
  }

  /** Highest journal sequence number known to be in the database. */
  get flushedSeq(): number {
    return this.cursor.get();
  }

  get pending(): number {
    return this.queue.length;
  }

  enqueue(records: readonly JournalRecord[]): void {
    if (records.length === 0) return;
    for (const r of records) this.queue.push(r);
    this.lastEnqueuedAt = Date.now();
    this.burstStartedAt ??= this.lastEnqueuedAt;
    this.schedule();
  }

  private schedule(delayMs = this.delayMs): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      const quietFor = now - this.lastEnqueuedAt;
      if (delayMs > 0 && quietFor < this.delayMs && now - (this.burstStartedAt ?? now) < MAX_DEFER_MS) {
        this.schedule(this.delayMs - quietFor);
        return;
      }
      this.burstStartedAt = undefined;
      void this.flush();
    }, delayMs);
  }

  async flush(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.flushOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async flushOnce(): Promise<void> {
    const batch = this.queue.slice(0, BATCH);
    if (batch.length === 0) return this.notifyIdle();
    try {
      await this.store.write(batch);
      this.queue.splice(0, batch.length);
      this.cursor.set(batch.at(-1)!.seq);
      if (this.failures > 0) this.log.info('database reachable again; journal flushed');
      this.failures = 0;
      // The next batch after a turn of the event loop: acknowledgements come first.
      if (this.queue.length > 0) this.schedule(0);
      else this.notifyIdle();
    } catch (error) {
      this.failures++;
      const delay = Math.min(5000, 250 * 2 ** Math.min(this.failures, 5));
      this.log.warn(
        { err: error, pending: this.queue.length, retryInMs: delay },
        'cannot write the timeline to the database; keeping it in the journal',
      );
      this.schedule(delay);
    }
  }

  private notifyIdle(): void {
    if (this.queue.length > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Resolves once everything queued so far is in the database. */
  async whenFlushed(): Promise<void> {
    if (this.queue.length === 0 && !this.running) return;
    const done = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.schedule(0);
    await done;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
