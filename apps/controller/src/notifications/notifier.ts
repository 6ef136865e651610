import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  checkFeasibility,
  type EngineAction,
  type OutageOutcome,
  type Plan,
  powerOf,
  type UpsReading,
} from '@blackstart/policy';
import type { JobQueue } from '../jobs/queue.ts';
import type { Logger } from '../logger.ts';
import { type Channel, createChannel, DeliveryError } from './channels/index.ts';
import type { ChannelConfig, ChannelType, NotificationKind, NotificationsConfig } from './config.ts';
import type { Content, HostItem } from './messages.ts';
import * as messages from './messages.ts';
import { formatDuration, type Notification } from './notification.ts';
import {
  type ConditionState,
  type DeliveryFailure,
  type NotifierState,
  NotifierStore,
  type OutageTrack,
  type OutboxEntry,
} from './store.ts';

/** The job name deliveries run under on the `JobQueue`. */
export const NOTIFICATION_JOB = 'notification';

export interface NotifierOptions {
  config: NotificationsConfig;
  queue: JobQueue;
  log: Logger;
  /** The running plan: what `runtime-short` compares UPS runtimes against. */
  plan?: Plan;
  /** Learned shutdown durations (the engine's `state.history`), for the plan's needs. */
  history?: Record<string, number[]>;
  /** A file (in the data directory) that keeps de-duplication and pending deliveries across restarts. */
  stateFile?: string;
  /** The outage's timeline in the web UI; see `timelineLink`. */
  timelineUrl?: (outage: string) => string | undefined;
  clock?: () => number;
  /** How often pending deliveries are checked for jobs lost with Redis (default 5 s). */
  sweepIntervalMs?: number;
  /** A delivery this long past due (plus the send timeout) is queued again (default 15 s). */
  strandedAfterMs?: number;
}

/** One finished delivery. */
export interface Delivery {
  delivery: string;
  channel: string;
  channelType: ChannelType;
  notification: Pick<Notification, 'id' | 'kind' | 'title' | 'at'> & { outage?: string };
  attempts: number;
  at: number;
}

/** A notice the quiet period (or an all-clear within it) kept from going out. */
export interface Suppression {
  kind: NotificationKind;
  subject: string;
  outage?: string;
  reason: string;
  at: number;
}

export interface NotifierEvents {
  delivered: [Delivery];
  /** A notification was given up on for a channel: record it in the timeline, show it in the UI. */
  failed: [DeliveryFailure];
  suppressed: [Suppression];
}

export type TestResult = { ok: true; ms: number } | { ok: false; ms: number; error: string };

export interface ChannelStatus {
  id: string;
  type: ChannelType;
  events: NotificationKind[] | 'all';
  pending: number;
  lastDeliveredAt?: number;
  lastFailedAt?: number;
  lastError?: string;
}

interface DeliveryJob {
  delivery: string;
  channel: string;
  notification: Notification;
}

/** Link builder for `timelineUrl`: `<publicUrl>/outages/<id>`. */
export function timelineLink(publicUrl: string): (outage: string) => string {
  return (outage) => new URL(`outages/${encodeURIComponent(outage)}`, publicUrl.replace(/\/?$/, '/')).href;
}

type HostKind = Extract<
  NotificationKind,
  'stage-started' | 'host-down' | 'host-no-ack' | 'host-up' | 'host-wake-failed'
>;
type Pending =
  | { kind: HostKind; outage: string; at: number; items: HostItem[] }
  | { kind: 'ups-powered-off'; outage: string; at: number; source: string; delaySeconds: number }
  | { kind: 'mains-returned' | 'restore-started'; outage: string; at: number }
  | { kind: 'ended'; outage: string; at: number; outcome: OutageOutcome };

const hostEventPrefix: Record<HostKind, string> = {
  'stage-started': 'stage',
  'host-down': 'host-down',
  'host-no-ack': 'host-no-ack',
  'host-up': 'host-up',
  'host-wake-failed': 'wake-failed',
};
const hostContent: Record<HostKind, (items: HostItem[]) => Content> = {
  'stage-started': messages.stageStarted,
  'host-down': messages.hostDown,
  'host-no-ack': messages.hostNoAck,
  'host-up': messages.hostUp,
  'host-wake-failed': messages.hostWakeFailed,
};
const RESOLUTION: Partial<Record<ConditionState['kind'], NotificationKind>> = {
  'ups-comm-lost': 'ups-comm-restored',
  'agent-lost': 'agent-back',
};
/** Conditions of a UPS that make an outage serious (its held on-battery notice goes out first). */
const ESCALATING = new Set<ConditionState['kind']>(['low-battery', 'runtime-short', 'ups-comm-lost']);

/**
 * Turns what the controller sees (engine actions, UPS readings, agents coming and going) into
 * notifications, and delivers each one to each channel that wants it as a job on the `JobQueue`:
 * retried with capped exponential backoff, delivered at most once per channel (by id, across the
 * Redis → in-process fallback and restarts), held for the quiet period when it could be a blip.
 * A delivery that finally fails is emitted as `failed` and kept in `failures()`.
 */
export class Notifier extends EventEmitter<NotifierEvents> {
  private readonly store: NotifierStore;
  private readonly channelMap = new Map<string, Channel>();
  private readonly readings = new Map<string, UpsReading>();
  private readonly power = new Map<string, 'battery' | 'mains' | 'unknown'>();
  private needs = new Map<string, { seconds: number; hosts: string[] }>();
  /** Runs of each delivery queued or under way (the sweeper leaves those alone). */
  private readonly inflight = new Map<string, number>();
  /** Per channel: the tail of its chain of deliveries. */
  private readonly lanes = new Map<string, Promise<void>>();
  private batch: Array<{ action: EngineAction; at: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: NotifierOptions) {
    super();
    const { config, log } = options;
    for (const channel of config.channels) this.channelMap.set(channel.id, this.makeChannel(channel));
    this.store = new NotifierStore(options.stateFile, log);
    this.store.load();
    if (options.plan) this.setPlan(options.plan, options.history);
    options.queue.register(NOTIFICATION_JOB, (data) => this.runDelivery(data));
  }

  private makeChannel(config: ChannelConfig): Channel {
    return createChannel(config, { timeoutMs: this.options.config.timeout * 1000 });
  }

  private get state(): NotifierState {
    return this.store.state;
  }

  private now(): number {
    return (this.options.clock ?? Date.now)();
  }

  private get quietMs(): number {
    return this.options.config.quietPeriod * 1000;
  }

  /** Queues the deliveries a previous run left unfinished and arms the timers. */
  start(): void {
    for (const entry of Object.values(this.state.outbox)) this.enqueue(entry);
    const interval = this.options.sweepIntervalMs ?? 5000;
    this.sweeper = setInterval(() => this.sweep(), interval);
    this.sweeper.unref();
    this.schedule();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.sweeper) clearInterval(this.sweeper);
    this.timer = this.sweeper = undefined;
    this.flushActions();
    for (const channel of this.channelMap.values()) channel.close();
    await this.store.flush();
  }

  /** The plan (and learned durations) that `runtime-short` compares UPS runtimes against. */
  setPlan(plan: Plan, history?: Record<string, number[]>): void {
    try {
      const report = checkFeasibility(plan, history ? { history } : {});
      this.needs = new Map(report.ups.map((u) => [u.ups, u.criticalPath]));
    } catch (error) {
      this.options.log.warn({ err: error }, 'cannot work out what the plan needs; runtime warnings are off');
      this.needs = new Map();
    }
  }

  // ---- inputs ---------------------------------------------------------------------------------

  /**
   * An engine action (call it for every one, e.g. from the runtime's `action` event). Actions of
   * the same step are grouped: hosts triggered together make one "shutdown started" message.
   */
  action(action: EngineAction, at = this.now()): void {
    if (this.closed) return;
    this.batch.push({ action, at });
    if (this.batch.length === 1) queueMicrotask(() => this.flushActions());
  }

  /** The actions of one engine step, handled at once. */
  actions(actions: readonly EngineAction[], at = this.now()): void {
    if (this.closed) return;
    for (const action of actions) this.batch.push({ action, at });
    this.flushActions();
  }

  /** Every UPS reading (as the engine sees it). */
  reading(source: string, reading: UpsReading, at = this.now()): void {
    if (this.closed || !reading || !Array.isArray(reading.status)) return;
    this.readings.set(source, reading);
    const power = powerOf(reading);
    this.power.set(source, power);
    this.clear('ups-comm-lost', source, at);
    for (const track of this.tracksOf(source)) {
      const charge = reading.charge;
      const known = typeof charge === 'number' && Number.isFinite(charge);
      if (known && (track.lowestCharge === undefined || charge < track.lowestCharge)) {
        track.lowestCharge = charge;
        this.store.save();
      }
      // Power failed again after the quiet period let the outage go silent: hold a new notice.
      if (power === 'battery' && track.notice === 'silent') this.hold(track, at);
    }
    if (power === 'battery' && reading.status.includes('LB'))
      this.raise('low-battery', source, at, { hold: false, detail: 'low battery' });
    else this.clear('low-battery', source, at);
    if (reading.status.includes('RB'))
      this.raise('battery-replace', source, at, { hold: true, detail: 'replace battery' });
    else this.clear('battery-replace', source, at);
    this.checkRuntime(source, reading, power, at);
    this.schedule();
  }

  /** A UPS stopped reporting (connection lost, data stale, driver gone). */
  sourceLost(source: string, reason: string, at = this.now()): void {
    if (this.closed) return;
    this.power.set(source, 'unknown');
    this.raise('ups-comm-lost', source, at, { hold: true, detail: String(reason || 'no data') });
    this.schedule();
  }

  agentConnected(host: string, at = this.now()): void {
    if (this.closed) return;
    this.clear('agent-lost', host, at);
    this.schedule();
  }

  /** An agent disconnected. Expected while its host shuts down in an outage: then nothing is said. */
  agentDisconnected(host: string, at = this.now()): void {
    if (this.closed || this.expectedDown(host)) return;
    this.raise('agent-lost', host, at, { hold: true, detail: 'disconnected' });
    this.schedule();
  }

  // ---- queries --------------------------------------------------------------------------------

  /** Deliveries given up on, oldest first (the last 100). */
  failures(): DeliveryFailure[] {
    return [...this.state.failures];
  }

  channels(): ChannelStatus[] {
    const pending = new Map<string, number>();
    for (const e of Object.values(this.state.outbox))
      pending.set(e.channel, (pending.get(e.channel) ?? 0) + 1);
    return this.options.config.channels.map((c) => {
      const record = this.state.channels[c.id] ?? {};
      return {
        id: c.id,
        type: c.type,
        events: c.events ?? 'all',
        pending: pending.get(c.id) ?? 0,
        ...record,
      };
    });
  }

  /**
   * Sends a test message to one channel now (no queue, no retry) and says how it went. Throws for
   * an unknown channel id.
   */
  async test(channelId: string): Promise<TestResult> {
    const channel = this.channelMap.get(channelId);
    if (!channel) throw new Error(`no notification channel '${channelId}'`);
    return await sendTest(channel, this.options.config.name, this.now());
  }

  // ---- engine actions -------------------------------------------------------------------------

  private flushActions(): void {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    const pending = new Map<string, Pending>();
    const hostItem = (kind: HostKind, outage: string, at: number, item: HostItem) => {
      const key = `${kind}|${outage}`;
      const p = pending.get(key);
      if (p && 'items' in p) p.items.push(item);
      else pending.set(key, { kind, outage, at, items: [item] });
    };
    for (const { action: a, at } of batch) {
      switch (a.type) {
        case 'outage-started':
          this.outageStarted(a.outage, a.sources, at);
          break;
        case 'source-joined':
          this.sourceJoined(a.outage, a.source, at);
          break;
        case 'host-triggered':
          addOnce(this.track(a.outage, at).triggered, a.host);
          hostItem('stage-started', a.outage, at, { host: a.host, detail: a.trigger });
          break;
        case 'host-down': {
          const track = this.track(a.outage, at);
          addOnce(track.down, a.host);
          if (a.how === 'deadline-passed') addOnce(track.noAck, a.host);
          hostItem(a.how === 'acknowledged' ? 'host-down' : 'host-no-ack', a.outage, at, { host: a.host });
          break;
        }
        case 'power-off-ups':
          addOnce(this.track(a.outage, at).upsOff, a.source);
          pending.set(`off|${a.outage}|${a.source}`, {
            kind: 'ups-powered-off',
            outage: a.outage,
            at,
            source: a.source,
            delaySeconds: a.delaySeconds,
          });
          break;
        case 'mains-returned':
          this.track(a.outage, at).mainsReturnedAt = at;
          pending.set(`mains|${a.outage}`, { kind: 'mains-returned', outage: a.outage, at });
          break;
        case 'restore-started':
          this.track(a.outage, at).restoreStartedAt = at;
          pending.set(`restore|${a.outage}`, { kind: 'restore-started', outage: a.outage, at });
          break;
        case 'host-up':
          addOnce(this.track(a.outage, at).up, a.host);
          hostItem('host-up', a.outage, at, { host: a.host });
          break;
        case 'host-wake-failed':
          addOnce(this.track(a.outage, at).wakeFailed, a.host);
          hostItem('host-wake-failed', a.outage, at, { host: a.host, detail: String(a.attempts) });
          break;
        case 'host-cancelled':
          addOnce(this.track(a.outage, at).cancelled, a.host);
          break;
        case 'host-restore-skipped':
          addOnce(this.track(a.outage, at).skipped, a.host);
          break;
        case 'outage-ended':
          this.track(a.outage, at);
          pending.set(`ended|${a.outage}`, { kind: 'ended', outage: a.outage, at, outcome: a.outcome });
          break;
        default:
          break;
      }
    }
    for (const p of pending.values()) this.emitPending(p);
    this.store.save();
    this.schedule();
  }

  private emitPending(p: Pending): void {
    const track = this.state.outages[p.outage];
    if (!track) return;
    switch (p.kind) {
      case 'ended':
        this.outageEnded(track, p.outcome, p.at);
        return;
      case 'mains-returned':
        if (track.notice === 'held') this.silence(track, p.at, 'mains returned within the quiet period');
        if (track.notice === 'silent') return;
        this.publish('mains-returned', [`mains-returned.${track.id}`], messages.mainsReturned(track, p.at), {
          outage: track.id,
          at: p.at,
        });
        return;
      case 'restore-started':
        this.escalate(track);
        this.publish('restore-started', [`restore-started.${track.id}`], messages.restoreStarted(track), {
          outage: track.id,
          at: p.at,
        });
        return;
      case 'ups-powered-off':
        this.escalate(track);
        this.publish(
          'ups-powered-off',
          [`ups-off.${track.id}.${p.source}`],
          messages.upsPoweredOff(p.source, p.delaySeconds),
          { outage: track.id, at: p.at },
        );
        return;
      default: {
        const prefix = hostEventPrefix[p.kind];
        const fresh = p.items.filter((i) => !(`${prefix}.${track.id}.${i.host}` in this.state.emitted));
        if (fresh.length === 0) return;
        this.escalate(track);
        this.publish(
          p.kind,
          fresh.map((i) => `${prefix}.${track.id}.${i.host}`),
          hostContent[p.kind](fresh),
          { outage: track.id, at: p.at },
        );
      }
    }
  }

  private outageStarted(outage: string, sources: string[], at: number): void {
    if (this.state.outages[outage]) return;
    const track = this.newTrack(outage, at, 'held');
    track.sources = [...sources];
    this.state.outages[outage] = track;
    if (this.quietMs > 0) this.hold(track, at);
    else this.sendOnBattery(track);
  }

  private sourceJoined(outage: string, source: string, at: number): void {
    const track = this.track(outage, at);
    if (track.sources.includes(source)) return;
    track.sources.push(source);
    if (track.notice === 'silent') this.hold(track, at);
    else if (track.notice === 'sent' || track.notice === 'unseen')
      this.publish(
        'on-battery',
        [`on-battery.${outage}.${source}`],
        messages.onBattery([source], at, this.readings, true),
        { outage, at },
      );
  }

  private outageEnded(track: OutageTrack, outcome: OutageOutcome, at: number): void {
    if (track.notice === 'held') this.silence(track, at, 'the outage ended within the quiet period');
    if (track.notice !== 'silent') {
      if (
        track.restoreStartedAt !== undefined &&
        (outcome === 'restored' || outcome === 'partially-restored')
      )
        this.publish('restore-done', [`restore-done.${track.id}`], messages.restoreDone(track, at), {
          outage: track.id,
          at,
        });
      this.publish('outage-summary', [`summary.${track.id}`], messages.outageSummary(track, outcome, at), {
        outage: track.id,
        at,
      });
    }
    delete this.state.outages[track.id];
  }

  private newTrack(id: string, at: number, notice: OutageTrack['notice']): OutageTrack {
    return {
      id,
      startedAt: at,
      sources: [],
      notice,
      triggered: [],
      down: [],
      noAck: [],
      upsOff: [],
      up: [],
      wakeFailed: [],
      cancelled: [],
      skipped: [],
      failedDeliveries: 0,
    };
  }

  /** The outage's track; one the notifier did not see start is created as `unseen`. */
  private track(outage: string, at: number): OutageTrack {
    let track = this.state.outages[outage];
    if (!track) {
      track = this.newTrack(outage, at, 'unseen');
      this.state.outages[outage] = track;
    }
    return track;
  }

  private tracksOf(source: string): OutageTrack[] {
    return Object.values(this.state.outages).filter((t) => t.sources.includes(source));
  }

  private hold(track: OutageTrack, at: number): void {
    track.notice = 'held';
    track.heldUntil = at + this.quietMs;
    delete track.mainsReturnedAt;
    this.store.save();
  }

  private silence(track: OutageTrack, at: number, reason: string): void {
    track.notice = 'silent';
    delete track.heldUntil;
    this.announce('suppressed', {
      kind: 'on-battery',
      subject: track.sources.join(','),
      outage: track.id,
      reason,
      at,
    });
  }

  /** Something serious happened in the outage: its on-battery notice goes out now, first. */
  private escalate(track: OutageTrack): void {
    if (track.notice === 'held' || track.notice === 'silent') this.sendOnBattery(track);
  }

  private sendOnBattery(track: OutageTrack): void {
    track.notice = 'sent';
    delete track.heldUntil;
    if (track.sources.length === 0) return;
    this.publish(
      'on-battery',
      track.sources.map((s) => `on-battery.${track.id}.${s}`),
      messages.onBattery(track.sources, track.startedAt, this.readings),
      { outage: track.id, at: track.startedAt },
    );
  }

  /** The quiet period of a held outage is over: notify, unless mains is back on every UPS of it. */
  private releaseHold(track: OutageTrack, now: number): void {
    const back = track.sources.length > 0 && track.sources.every((s) => this.power.get(s) === 'mains');
    if (back) this.silence(track, now, 'mains returned within the quiet period');
    else this.sendOnBattery(track);
  }

  private expectedDown(host: string): boolean {
    return Object.values(this.state.outages).some(
      (t) => t.triggered.includes(host) && !t.up.includes(host) && !t.cancelled.includes(host),
    );
  }

  // ---- conditions -----------------------------------------------------------------------------

  private checkRuntime(source: string, reading: UpsReading, power: string, at: number): void {
    const need = this.needs.get(source);
    const runtime = reading.runtime;
    if (!need || need.seconds <= 0 || typeof runtime !== 'number' || !Number.isFinite(runtime)) return;
    // On battery: only before the first stage (afterwards the runtime left is meant to run low).
    // On mains: only on a full, idle battery (a recharging one reports a short runtime).
    const outage = this.tracksOf(source)[0];
    const charge = reading.charge;
    const evaluate =
      power === 'battery'
        ? !outage || outage.triggered.length === 0
        : power === 'mains' && !reading.status.includes('CHRG') && (charge === undefined || charge >= 95);
    if (!evaluate) {
      // Mains came back (the battery now recharging) before a short runtime seen on battery was notified.
      if (power === 'mains' && this.state.conditions[`runtime-short|${source}`]?.phase === 'held')
        this.clear('runtime-short', source, at);
      return;
    }
    if (runtime >= need.seconds) {
      this.clear('runtime-short', source, at);
      return;
    }
    const load = typeof reading.load === 'number' ? ` at ${Math.round(reading.load)} % load` : '';
    const chain = need.hosts.length > 0 ? ` to shut down ${need.hosts.join(' → ')}` : '';
    const detail =
      `${source} reports ${formatDuration(runtime)} of runtime${load}; the plan needs ` +
      `${formatDuration(need.seconds)}${chain}.` +
      (power === 'battery'
        ? ' Hosts may not finish shutting down before the battery runs out.'
        : ' Reduce the load, shorten the shutdown chain, or check the battery.');
    this.raise('runtime-short', source, at, { hold: true, detail });
  }

  private raise(
    kind: ConditionState['kind'],
    subject: string,
    at: number,
    { hold, detail }: { hold: boolean; detail: string },
  ): void {
    const key = `${kind}|${subject}`;
    const existing = this.state.conditions[key];
    if (existing) {
      // Back within the quiet period after clearing: the same episode goes on, unannounced.
      if (existing.phase === 'clearing') {
        existing.phase = 'raised';
        delete existing.until;
        this.store.save();
      }
      return;
    }
    const held = hold && this.quietMs > 0;
    const condition: ConditionState = {
      kind,
      subject,
      raisedAt: at,
      phase: held ? 'held' : 'raised',
      notified: false,
      detail,
      ...(held && { until: at + this.quietMs }),
    };
    this.state.conditions[key] = condition;
    this.store.save();
    if (!held) this.notifyCondition(condition);
  }

  private clear(kind: ConditionState['kind'], subject: string, at: number): void {
    const key = `${kind}|${subject}`;
    const c = this.state.conditions[key];
    if (!c || c.phase === 'clearing') return;
    this.store.save();
    if (c.phase === 'held') {
      delete this.state.conditions[key];
      this.announce('suppressed', { kind, subject, reason: 'cleared within the quiet period', at });
    } else if (c.phase === 'raised') {
      if (this.quietMs > 0) {
        c.phase = 'clearing';
        c.until = at + this.quietMs;
      } else {
        delete this.state.conditions[key];
        this.resolve(c, at);
      }
    }
  }

  private notifyCondition(c: ConditionState): void {
    const key = `${c.kind}|${c.subject}`;
    if (c.kind === 'agent-lost' && this.expectedDown(c.subject)) {
      delete this.state.conditions[key];
      return;
    }
    const outage = c.kind === 'agent-lost' ? undefined : this.tracksOf(c.subject)[0];
    if (outage && ESCALATING.has(c.kind)) this.escalate(outage);
    this.publish(
      c.kind,
      [`${c.kind}.${c.subject}.${c.raisedAt}`],
      messages.conditionRaised(c, this.readings.get(c.subject)),
      { at: c.raisedAt, ...(outage && { outage: outage.id }) },
    );
    c.phase = 'raised';
    c.notified = true;
    delete c.until;
  }

  private resolve(c: ConditionState, at: number): void {
    const kind = RESOLUTION[c.kind];
    const content = messages.conditionResolved(c, at);
    if (!c.notified || !kind || !content) return;
    this.publish(kind, [`${kind}.${c.subject}.${c.raisedAt}`], content, { at });
  }

  // ---- timers ---------------------------------------------------------------------------------

  /** One timer for the earliest hold or clearing wait to end. */
  private schedule(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    let next = Number.POSITIVE_INFINITY;
    for (const t of Object.values(this.state.outages))
      if (t.notice === 'held' && t.heldUntil !== undefined) next = Math.min(next, t.heldUntil);
    for (const c of Object.values(this.state.conditions))
      if (c.until !== undefined) next = Math.min(next, c.until);
    if (next === Number.POSITIVE_INFINITY) return;
    this.timer = setTimeout(() => this.onTimer(), Math.min(Math.max(0, next - this.now()), 2 ** 31 - 1));
  }

  private onTimer(): void {
    this.timer = undefined;
    const now = this.now();
    for (const track of Object.values(this.state.outages))
      if (track.notice === 'held' && (track.heldUntil ?? 0) <= now) this.releaseHold(track, now);
    for (const [key, c] of Object.entries(this.state.conditions)) {
      if (c.until === undefined || c.until > now) continue;
      if (c.phase === 'held') this.notifyCondition(c);
      else if (c.phase === 'clearing') {
        delete this.state.conditions[key];
        this.resolve(c, now);
      }
    }
    this.store.save();
    this.schedule();
  }

  // ---- delivery -------------------------------------------------------------------------------

  /** Creates a notification (once per event id) and queues a delivery to every channel that wants it. */
  private publish(
    kind: NotificationKind,
    eventIds: string[],
    content: Content,
    { outage, at }: { outage?: string; at: number },
  ): void {
    const { emitted } = this.state;
    if (eventIds.length === 0 || eventIds.some((id) => id in emitted)) return;
    const now = this.now();
    for (const id of eventIds) emitted[id] = now;
    const id =
      eventIds.length === 1 ? eventIds[0]! : `${kind}.${outage ?? ''}.${digest(eventIds.join(','), 16)}`;
    const link = outage ? this.options.timelineUrl?.(outage) : undefined;
    const notification: Notification = {
      id,
      kind,
      site: this.options.config.name,
      ...content,
      at,
      ...(outage && { outage }),
      ...(link && { link }),
    };
    for (const channel of this.channelMap.values()) {
      if (!channel.accepts(kind)) continue;
      const entry: OutboxEntry = {
        id: `${channel.id}.${id}`,
        channel: channel.id,
        notification,
        attempts: 0,
        dueAt: now,
        requeued: 0,
      };
      if (entry.id in this.state.done || this.state.outbox[entry.id]) continue;
      this.state.outbox[entry.id] = entry;
      this.enqueue(entry);
    }
    this.store.save();
  }

  private enqueue(entry: OutboxEntry): void {
    const { retry } = this.options.config;
    const delayMs = Math.max(0, entry.dueAt - this.now());
    const job: DeliveryJob = { delivery: entry.id, channel: entry.channel, notification: entry.notification };
    this.options.queue
      .add(NOTIFICATION_JOB, job, {
        // BullMQ job ids cannot hold ':' and are best kept short: a digest of the delivery id.
        jobId: `notify-${digest(entry.id, 32)}-${entry.requeued}`,
        attempts: Math.max(1, retry.attempts - entry.attempts),
        backoffMs: retry.backoff * 1000,
        maxBackoffMs: retry.maxBackoff * 1000,
        ...(delayMs > 0 && { delayMs }),
      })
      .catch((error: unknown) =>
        this.options.log.error({ err: error, delivery: entry.id }, 'cannot queue a notification'),
      );
  }

  /** Queues again deliveries far past due and not running: their job was lost (Redis went away). */
  private sweep(): void {
    const now = this.now();
    const limit = (this.options.strandedAfterMs ?? 15_000) + this.options.config.timeout * 1000;
    for (const entry of Object.values(this.state.outbox)) {
      if (this.inflight.has(entry.id) || entry.dueAt + limit > now) continue;
      entry.requeued += 1;
      entry.dueAt = now;
      this.options.log.info(
        { delivery: entry.id, attempts: entry.attempts },
        'queuing a stalled notification again',
      );
      this.enqueue(entry);
      this.store.save();
    }
  }

  /** The job: one attempt to deliver one notification to one channel. */
  private async runDelivery(data: unknown): Promise<void> {
    const job = parseJob(data);
    if (!job) {
      this.options.log.warn('malformed notification job dropped');
      return;
    }
    // One message at a time per channel, in the order they were queued: a phone never shows
    // "shutdown started" before "on battery", and a service's rate limit is not hammered. Two runs
    // of one delivery (a job lost with Redis, and found again) share its channel's lane, too.
    this.inflight.set(job.delivery, (this.inflight.get(job.delivery) ?? 0) + 1);
    try {
      await this.inLane(job.channel, () => this.attempt(job));
    } finally {
      const left = (this.inflight.get(job.delivery) ?? 1) - 1;
      if (left > 0) this.inflight.set(job.delivery, left);
      else this.inflight.delete(job.delivery);
    }
  }

  private async inLane(lane: string, run: () => Promise<void>): Promise<void> {
    const previous = this.lanes.get(lane) ?? Promise.resolve();
    let release!: () => void;
    const tail = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
    this.lanes.set(lane, tail);
    await previous;
    try {
      await run();
    } finally {
      release();
      if (this.lanes.get(lane) === tail) this.lanes.delete(lane);
    }
  }

  private async attempt(job: DeliveryJob): Promise<void> {
    const { state } = this;
    if (job.delivery in state.done) return;
    let entry = state.outbox[job.delivery];
    if (!entry) {
      entry = {
        id: job.delivery,
        channel: job.channel,
        notification: job.notification,
        attempts: 0,
        dueAt: 0,
        requeued: 0,
      };
      state.outbox[entry.id] = entry;
    }
    const channel = this.channelMap.get(entry.channel);
    if (!channel) {
      this.finish(entry, 'the channel is no longer configured');
      return;
    }
    entry.attempts += 1;
    entry.dueAt = this.now();
    try {
      await channel.send(entry.notification);
      this.finish(entry);
    } catch (error) {
      const message =
        error instanceof DeliveryError ? error.message : `${channel.type}: ${(error as Error).message}`;
      const { retry } = this.options.config;
      entry.lastError = message;
      if ((error instanceof DeliveryError && error.permanent) || entry.attempts >= retry.attempts) {
        this.finish(entry, message);
        return;
      }
      entry.dueAt = this.now() + Math.min(retry.backoff * 2 ** (entry.attempts - 1), retry.maxBackoff) * 1000;
      this.store.save();
      this.options.log.info(
        { delivery: entry.id, attempt: entry.attempts, err: message },
        'notification failed; will retry',
      );
      throw error;
    }
  }

  private finish(entry: OutboxEntry, error?: string): void {
    const { state } = this;
    const now = this.now();
    delete state.outbox[entry.id];
    state.done[entry.id] = now;
    const record = state.channels[entry.channel] ?? {};
    state.channels[entry.channel] = record;
    const channelType = this.channelMap.get(entry.channel)?.type;
    const n = entry.notification;
    const summary = {
      id: n.id,
      kind: n.kind,
      title: n.title,
      at: n.at,
      ...(n.outage && { outage: n.outage }),
    };
    if (error === undefined) {
      record.lastDeliveredAt = now;
      this.store.save();
      if (channelType)
        this.announce('delivered', {
          delivery: entry.id,
          channel: entry.channel,
          channelType,
          notification: summary,
          attempts: entry.attempts,
          at: now,
        });
      return;
    }
    record.lastFailedAt = now;
    record.lastError = error;
    const failure: DeliveryFailure = {
      delivery: entry.id,
      channel: entry.channel,
      channelType: channelType ?? 'unknown',
      notification: summary,
      attempts: entry.attempts,
      error,
      at: now,
    };
    state.failures.push(failure);
    const track = n.outage ? state.outages[n.outage] : undefined;
    if (track) track.failedDeliveries += 1;
    this.store.save();
    this.options.log.warn(
      { delivery: entry.id, attempts: entry.attempts, err: error },
      'notification failed for good',
    );
    this.announce('failed', failure);
  }

  private announce<E extends keyof NotifierEvents>(event: E, payload: NotifierEvents[E][0]): void {
    try {
      (this.emit as (name: E, value: NotifierEvents[E][0]) => boolean)(event, payload);
    } catch (error) {
      // A listener's bug must not break delivery.
      this.options.log.error({ err: error, event }, 'a notification listener threw');
    }
  }
}

/** Sends a test message to a channel built from `config` (e.g. one being edited, not saved yet). */
export async function testChannel(
  config: ChannelConfig,
  options: { site?: string; timeoutMs?: number } = {},
): Promise<TestResult> {
  const channel = createChannel(config, { timeoutMs: options.timeoutMs ?? 10_000 });
  try {
    return await sendTest(channel, options.site ?? 'Blackstart', Date.now());
  } finally {
    channel.close();
  }
}

async function sendTest(channel: Channel, site: string, at: number): Promise<TestResult> {
  const started = performance.now();
  const notification: Notification = {
    id: `test.${channel.id}.${at}`,
    kind: 'test',
    site,
    ...messages.testMessage(channel.id),
    at,
  };
  try {
    await channel.send(notification);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (error) {
    return { ok: false, ms: Math.round(performance.now() - started), error: (error as Error).message };
  }
}

function digest(text: string, length: number): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

function addOnce(list: string[], item: string): void {
  if (!list.includes(item)) list.push(item);
}

function parseJob(data: unknown): DeliveryJob | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const job = data as Partial<DeliveryJob>;
  const n = job.notification as Partial<Notification> | undefined;
  if (typeof job.delivery !== 'string' || typeof job.channel !== 'string') return undefined;
  if (!n || typeof n.id !== 'string' || typeof n.kind !== 'string' || typeof n.title !== 'string')
    return undefined;
  if (typeof n.text !== 'string' || typeof n.at !== 'number' || typeof n.site !== 'string') return undefined;
  return job as DeliveryJob;
}
