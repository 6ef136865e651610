import { readFileSync, renameSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import type { Logger } from '../logger.ts';
import type { ChannelType, NotificationKind } from './config.ts';
import type { Notification } from './notification.ts';

/** A delivery of one notification to one channel that has not finished yet. */
export interface OutboxEntry {
  /** `<channel>.<notification id>`. */
  id: string;
  channel: string;
  notification: Notification;
  /** Attempts made so far. */
  attempts: number;
  /** When the next attempt is expected (epoch ms): far past it, its job was lost with Redis. */
  dueAt: number;
  /** Times the job was put on the queue again after being lost. */
  requeued: number;
  lastError?: string;
}

/** A notification that could not be delivered to a channel, after every retry. */
export interface DeliveryFailure {
  delivery: string;
  channel: string;
  channelType: ChannelType | 'unknown';
  notification: Pick<Notification, 'id' | 'kind' | 'title' | 'at'> & { outage?: string };
  attempts: number;
  error: string;
  /** When it was given up, epoch ms. */
  at: number;
}

export interface ChannelRecord {
  lastDeliveredAt?: number;
  lastFailedAt?: number;
  lastError?: string;
}

/** A condition of a UPS or host that is notified once per episode: raised, then resolved. */
export interface ConditionState {
  kind: Extract<
    NotificationKind,
    'low-battery' | 'runtime-short' | 'battery-replace' | 'ups-comm-lost' | 'agent-lost'
  >;
  subject: string;
  raisedAt: number;
  /**
   * held: raised, waiting out the quiet period before it is notified; raised: notified (or not
   * worth holding); clearing: gone, waiting out the quiet period before it counts as resolved.
   */
  phase: 'held' | 'raised' | 'clearing';
  /** End of the hold or of the clearing wait. */
  until?: number;
  notified: boolean;
  detail: string;
}

/** What the notifier remembers of one outage, for holding its first notice and for its summary. */
export interface OutageTrack {
  id: string;
  startedAt: number;
  sources: string[];
  /**
   * held: the on-battery notice waits out the quiet period; sent: it went out; silent: the quiet
   * period ended with mains back, so the outage pages nobody unless it turns serious; unseen: the
   * notifier did not see this outage start (it was wired in mid-outage).
   */
  notice: 'held' | 'sent' | 'silent' | 'unseen';
  heldUntil?: number;
  mainsReturnedAt?: number;
  restoreStartedAt?: number;
  triggered: string[];
  down: string[];
  noAck: string[];
  upsOff: string[];
  up: string[];
  wakeFailed: string[];
  /** Shutdowns called off because mains returned in time. */
  cancelled: string[];
  /** Hosts the restore left off (their dependencies did not come back). */
  skipped: string[];
  lowestCharge?: number;
  failedDeliveries: number;
}

export interface NotifierState {
  version: 1;
  /** Event ids already notified, with when: an event is notified once. */
  emitted: Record<string, number>;
  outbox: Record<string, OutboxEntry>;
  /** Deliveries that finished (delivered or given up): delivery id → when. */
  done: Record<string, number>;
  failures: DeliveryFailure[];
  channels: Record<string, ChannelRecord>;
  conditions: Record<string, ConditionState>;
  outages: Record<string, OutageTrack>;
}

const MAX_EMITTED = 5000;
const MAX_DONE = 5000;
export const MAX_FAILURES = 100;

export function emptyState(): NotifierState {
  return {
    version: 1,
    emitted: {},
    outbox: {},
    done: {},
    failures: [],
    channels: {},
    conditions: {},
    outages: {},
  };
}

/**
 * The notifier's memory: a small JSON file rewritten atomically (temp file, fsync, rename) in the
 * background, coalescing changes, so de-duplication and pending deliveries survive a restart without
 * the outage path ever waiting on a disk. Without a file it lives in memory only. A damaged file is
 * set aside and replaced, never fatal.
 */
export class NotifierStore {
  state: NotifierState = emptyState();
  private dirty = false;
  private writing: Promise<void> | undefined;

  constructor(
    private readonly file: string | undefined,
    private readonly log: Logger,
  ) {}

  load(): void {
    if (!this.file) return;
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn({ err: error, file: this.file }, 'cannot read the notification state; starting afresh');
      return;
    }
    try {
      const parsed = JSON.parse(text) as Partial<NotifierState>;
      if (parsed?.version !== 1) throw new Error(`unknown version ${String(parsed?.version)}`);
      const state = { ...emptyState(), ...parsed };
      const records = [
        state.emitted,
        state.outbox,
        state.done,
        state.channels,
        state.conditions,
        state.outages,
      ];
      if (!records.every(isRecord) || !Array.isArray(state.failures)) throw new Error('unexpected shape');
      for (const track of Object.values(state.outages))
        for (const list of TRACK_LISTS) if (!Array.isArray(track[list])) track[list] = [];
      this.state = state;
    } catch (error) {
      const aside = `${this.file}.damaged-${Date.now()}`;
      this.log.warn(
        { err: error, file: this.file, aside },
        'damaged notification state set aside; starting afresh',
      );
      try {
        renameSync(this.file, aside);
      } catch {}
    }
  }

  /**
   * Writes the state soon, off the event loop: changes made in the same turn, or while a write is
   * under way, go out together in the next write.
   */
  save(): void {
    if (!this.file) return;
    this.dirty = true;
    this.writing ??= this.writeLoop();
  }

  /** Resolves once every change so far is on disk. */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeLoop(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    while (this.dirty && this.file) {
      this.dirty = false;
      this.prune();
      const tmp = `${this.file}.tmp`;
      try {
        const handle = await open(tmp, 'w', 0o600);
        try {
          await handle.writeFile(JSON.stringify(this.state));
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(tmp, this.file);
      } catch (error) {
        // Losing this write costs at most a repeated message after a restart: never fail delivery for it.
        this.log.warn({ err: error, file: this.file }, 'cannot write the notification state');
      }
    }
    this.writing = undefined;
  }

  private prune(): void {
    const s = this.state;
    s.emitted = newest(s.emitted, MAX_EMITTED);
    s.done = newest(s.done, MAX_DONE);
    if (s.failures.length > MAX_FAILURES) s.failures = s.failures.slice(-MAX_FAILURES);
  }
}

const TRACK_LISTS = [
  'sources',
  'triggered',
  'down',
  'noAck',
  'upsOff',
  'up',
  'wakeFailed',
  'cancelled',
  'skipped',
] as const;

const isRecord = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);

function newest(record: Record<string, number>, max: number): Record<string, number> {
  const entries = Object.entries(record);
  if (entries.length <= max) return record;
  entries.sort((a, b) => a[1] - b[1]);
  return Object.fromEntries(entries.slice(-max));
}
