import type { UpsReading } from '@blackstart/policy';
import type { WebSocket } from 'ws';
import type { AgentStore } from '../db/agents.ts';
import { type TimelineEntry, timelineEntry, timelineRows } from '../db/timeline.ts';
import type { DrillRunner } from '../drill/drill.ts';
import type { Logger } from '../logger.ts';
import type { Notifier } from '../notifications/index.ts';
import type { PlanStore } from '../plan-store.ts';
import type { JournalRecord } from '../runtime/journal.ts';
import {
  type AgentLink,
  hostViews,
  outageProgress,
  sourceViews,
  type TelemetryPoint,
  type ViewDeps,
} from './views.ts';

export interface LiveFeedDeps extends ViewDeps {
  agents: AgentStore;
  drills: DrillRunner;
  notifier: Notifier;
  plans: PlanStore;
  log: Logger;
  clock?: () => number;
}

/** Telemetry kept per source for the dashboard's charts. */
export const HISTORY_MS = 3_600_000;
/** State messages go out at most this often; a burst of changes is one message. */
const STATE_EVERY_MS = 200;
/** …and at least this often, so a client sees that the feed is alive. */
const STATE_AT_LEAST_EVERY_MS = 5000;
/** A client this far behind (bytes queued in its socket) is dropped rather than buffered for. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
export const MAX_SUBSCRIBERS = 64;

export type LiveMessage =
  | { type: 'snapshot'; state: LiveState; history: Record<string, TelemetryPoint[]> }
  | { type: 'state'; state: LiveState }
  | { type: 'reading'; source: string; point: TelemetryPoint }
  | { type: 'event'; outage: string; event: TimelineEntry };

export type LiveState = ReturnType<LiveFeed['state']>;

function pointOf(reading: UpsReading, at: number): TelemetryPoint {
  return {
    at: new Date(at).toISOString(),
    status: reading.status.join(' '),
    charge: reading.charge ?? null,
    runtime: reading.runtime ?? null,
    load: reading.load ?? null,
    inputVoltage: reading.inputVoltage ?? null,
  };
}

/**
 * The web UI's live view of the controller: UPS telemetry of the last hour, the hosts and their
 * agents, the running outage and drill. Clients get a snapshot, then every reading and timeline event
 * as it happens and the state whenever it changed (coalesced). It only listens: nothing on the
 * outage path waits for it, and a slow client is dropped rather than buffered for.
 */
export class LiveFeed {
  private readonly history = new Map<string, { at: number; point: TelemetryPoint }[]>();
  private readonly links = new Map<string, AgentLink>();
  private readonly subscribers = new Set<WebSocket>();
  private dirty = true;
  private lastState = '';
  private lastSentAt = 0;
  private drillWasRunning = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly detach: Array<() => void> = [];

  constructor(private readonly deps: LiveFeedDeps) {
    const { runtime, hub } = deps;
    // The runtime emits on the outage path: whatever goes wrong in the feed stays in the feed.
    const guarded =
      <A extends unknown[]>(what: string, fn: (...args: A) => void) =>
      (...args: A) => {
        try {
          fn(...args);
        } catch (error) {
          deps.log.error({ err: error }, `live feed: ${what} not shown`);
        }
      };
    const onReading = guarded('a reading', ({ source, reading }: { source: string; reading: UpsReading }) =>
      this.onReading(source, reading),
    );
    const onRecorded = guarded('journal records', (records: readonly JournalRecord[]) =>
      this.onRecorded(records),
    );
    const onLink = ({ host, connected }: { host: string; connected: boolean }) => {
      const live = hub.agents().find((a) => a.host === host);
      const previous = this.links.get(host);
      this.links.set(host, {
        connected,
        version: live?.version ?? previous?.version ?? null,
        lastSeenAt: new Date(this.now()).toISOString(),
      });
      this.dirty = true;
    };
    const onChange = () => {
      this.dirty = true;
    };
    runtime.on('reading', onReading);
    runtime.on('recorded', onRecorded);
    runtime.on('plan-applied', onChange);
    hub.on('agent-link', onLink);
    deps.notifier.on('failed', onChange);
    this.detach.push(
      () => runtime.off('reading', onReading),
      () => runtime.off('recorded', onRecorded),
      () => runtime.off('plan-applied', onChange),
      () => hub.off('agent-link', onLink),
      () => deps.notifier.off('failed', onChange),
    );
    void this.loadLinks();
  }

  private now(): number {
    return (this.deps.clock ?? Date.now)();
  }

  /** Last-seen times of agents not connected since the controller started come from the database. */
  private async loadLinks(): Promise<void> {
    try {
      for (const a of await this.deps.agents.list()) {
        if (this.links.has(a.host)) continue;
        this.links.set(a.host, {
          connected: this.deps.hub.isConnected(a.host),
          version: null,
          lastSeenAt: a.lastSeenAt?.toISOString() ?? null,
        });
      }
      this.dirty = true;
    } catch (error) {
      this.deps.log.warn({ err: (error as Error).message }, 'live feed: agents not read from the database');
    }
  }

  private onReading(source: string, reading: UpsReading): void {
    const at = this.now();
    const point = pointOf(reading, at);
    const points = this.history.get(source) ?? [];
    if (points.length === 0) this.history.set(source, points);
    points.push({ at, point });
    let drop = 0;
    while (drop < points.length && points[drop]!.at < at - HISTORY_MS) drop++;
    if (drop > 0) points.splice(0, drop);
    this.dirty = true;
    if (this.subscribers.size > 0) this.broadcast({ type: 'reading', source, point });
  }

  private onRecorded(records: readonly JournalRecord[]): void {
    this.dirty = true;
    if (this.subscribers.size === 0) return;
    // Readings from before an outage began are backfilled after its start: sort as the timeline does.
    const rows = timelineRows(records).events.sort((a, b) => a.seq - b.seq);
    for (const row of rows)
      this.broadcast({ type: 'event', outage: row.outageId, event: timelineEntry(row) });
  }

  /** The last hour of one source's telemetry, oldest first. */
  historyOf(source: string, sinceMs = HISTORY_MS): TelemetryPoint[] {
    const from = this.now() - sinceMs;
    return (this.history.get(source) ?? []).filter((p) => p.at >= from).map((p) => p.point);
  }

  /** Connected agents as the hub knows them, others as last seen. */
  agentLinks(): Map<string, AgentLink> {
    const links = new Map(this.links);
    for (const a of this.deps.hub.agents())
      links.set(a.host, {
        connected: true,
        version: a.version,
        lastSeenAt: new Date(this.now()).toISOString(),
      });
    return links;
  }

  state() {
    const { runtime, drills, notifier } = this.deps;
    const engine = runtime.engineState;
    return {
      at: new Date(this.now()).toISOString(),
      plan: { version: this.deps.plans.current.version, pending: runtime.planPending?.version ?? null },
      sources: sourceViews(this.deps),
      hosts: hostViews(runtime.plan, engine, this.agentLinks()),
      outage: outageProgress(engine),
      drill: drills.running ?? null,
      notifications: { failed: notifier.failures().length },
    };
  }

  /** Adds a UI client: it gets the snapshot at once, then the feed. */
  subscribe(socket: WebSocket): void {
    if (this.subscribers.size >= MAX_SUBSCRIBERS) {
      socket.close(1013, 'too many live clients');
      return;
    }
    this.subscribers.add(socket);
    socket.on('close', () => this.subscribers.delete(socket));
    // The feed only talks; anything a client sends is ignored (the socket's payload limit bounds it).
    socket.on('error', () => this.subscribers.delete(socket));
    const history = Object.fromEntries([...this.deps.sources.keys()].map((id) => [id, this.historyOf(id)]));
    this.send(socket, { type: 'snapshot', state: this.state(), history });
    this.timer ??= setInterval(() => this.tick(), STATE_EVERY_MS);
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /**
   * Sends the state when something changed. The running drill changes inside its own engine, so
   * while one runs the state is rebuilt and compared on every tick.
   */
  private tick(): void {
    if (this.subscribers.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      return;
    }
    const now = this.now();
    const due = now - this.lastSentAt >= STATE_AT_LEAST_EVERY_MS;
    const drillRunning = this.deps.drills.running !== undefined;
    if (!this.dirty && !due && !drillRunning && !this.drillWasRunning) return;
    this.dirty = false;
    this.drillWasRunning = drillRunning;
    const state = this.state();
    const { at: _at, ...comparable } = state;
    const text = JSON.stringify(comparable);
    if (text === this.lastState && !due) return;
    this.lastState = text;
    this.lastSentAt = now;
    this.broadcast({ type: 'state', state });
  }

  private broadcast(message: LiveMessage): void {
    const text = JSON.stringify(message);
    for (const socket of this.subscribers) this.sendText(socket, text);
  }

  private send(socket: WebSocket, message: LiveMessage): void {
    this.sendText(socket, JSON.stringify(message));
  }

  private sendText(socket: WebSocket, text: string): void {
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.deps.log.warn('live feed: a client fell too far behind and was dropped');
      this.subscribers.delete(socket);
      socket.terminate();
      return;
    }
    socket.send(text);
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    for (const d of this.detach) d();
    for (const socket of this.subscribers) socket.close(1001, 'controller stopping');
    this.subscribers.clear();
  }
}
