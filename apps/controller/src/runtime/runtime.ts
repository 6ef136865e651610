import { EventEmitter } from 'node:events';
import {
  type EngineAction,
  type EngineEvent,
  type EngineState,
  hostRuns,
  initialState,
  isOnBattery,
  nextWakeAt,
  type Plan,
  readingFromNutVars,
  step,
} from '@blackstart/policy';
import type { AgentHub } from '../hub/agent-hub.ts';
import type { Logger } from '../logger.ts';
import type { NutVars, PowerSource } from '../sources/source.ts';
import type { JournalFlusher } from './flusher.ts';
import type { Journal, JournalEntry, RecordedReading } from './journal.ts';

const COMPACT_AFTER_RECORDS = 5000;
/** How long commands stay valid after their deadline, so a slow agent can still acknowledge. */
const COMMAND_GRACE_SECONDS = 60;
const PRELUDE_MS = 10 * 60_000;

export interface RuntimeEvents {
  action: [EngineAction];
  'outage-ended': [{ outage: string; outcome: string }];
}

/**
 * Feeds readings, agent acknowledgements and clock ticks into the policy engine and carries out its
 * actions. Every event and action is journaled (fsync'd) before it is acted on; the one timer is
 * derived from the engine state after every step, so nothing about timing is stored elsewhere.
 */
export class Runtime extends EventEmitter<RuntimeEvents> {
  private state: EngineState;
  private timer: NodeJS.Timeout | undefined;
  private readonly lastStatus = new Map<string, string>();
  private readonly prelude: RecordedReading[] = [];
  private recordsSinceSnapshot = 0;
  private stopped = false;

  constructor(
    private readonly deps: {
      plan: Plan;
      journal: Journal;
      flusher: JournalFlusher;
      hub: AgentHub;
      sources: ReadonlyMap<string, PowerSource>;
      log: Logger;
      clock?: () => number;
    },
  ) {
    super();
    this.state = initialState(deps.plan);
  }

  private now(): number {
    return (this.deps.clock ?? Date.now)();
  }

  get engineState(): EngineState {
    return this.state;
  }

  /**
   * Rebuilds the engine state from the journal (latest snapshot + the events after it), carries
   * out any action the journal shows was decided but never recorded, re-sends commands still
   * awaiting acknowledgement, then starts the sources.
   */
  async start(): Promise<void> {
    const { journal, log } = this.deps;
    const { snapshot, after } = journal.recoveryRecords();
    let state = snapshot ?? initialState(this.deps.plan);
    const replayed: EngineAction[] = [];
    for (const record of after) {
      if (record.kind !== 'event') continue;
      const r = step(state, record.event, record.at);
      state = r.state;
      replayed.push(...r.actions);
    }
    const journaled = after.filter((r) => r.kind === 'action').length;
    const missing = replayed.slice(journaled);
    if (state.outage) {
      log.warn(
        { outage: state.outage.id, replayedEvents: after.length },
        'resuming an outage in progress from the journal',
      );
      if (JSON.stringify(state.plan) !== JSON.stringify(this.deps.plan))
        log.warn('the configured plan changed; the running outage keeps the plan it started with');
    } else {
      state = {
        ...initialState(this.deps.plan),
        sources: state.sources,
        ...(state.lastOutage && { lastOutage: state.lastOutage }),
      };
    }
    this.state = state;
    if (missing.length > 0)
      this.record(
        missing.map((action) => ({ kind: 'action', outage: this.outageOf(action), action })),
        missing,
      );
    if (state.outage) this.resendOutstandingCommands();
    else this.compact();

    for (const source of this.deps.sources.values()) {
      await source.start({
        reading: (vars) => this.onReading(source.id, vars),
        lost: (reason) => this.dispatch({ type: 'source-lost', source: source.id, reason }),
      });
    }
    this.schedule();
  }

  private outageOf(action: EngineAction): string | undefined {
    return 'outage' in action ? action.outage : this.state.outage?.id;
  }

  private onReading(source: string, vars: NutVars): void {
    const reading = readingFromNutVars(vars);
    const status = reading.status.join(' ');
    const statusChanged = this.lastStatus.get(source) !== status;
    this.lastStatus.set(source, status);
    const records = this.dispatch({ type: 'reading', source, reading }, statusChanged);
    if (!this.state.outage && records[0]) {
      this.prelude.push({ seq: records[0].seq, at: records[0].at, source, reading, statusChanged });
      const horizon = this.now() - PRELUDE_MS;
      while (this.prelude.length > 0 && this.prelude[0]!.at < horizon) this.prelude.shift();
      if (!isOnBattery(reading)) this.prelude.length = 0;
    }
    this.deps.hub.broadcastUpsState({
      onBattery: isOnBattery(reading),
      ...(reading.charge !== undefined && { charge: reading.charge }),
      ...(reading.runtime !== undefined && { runtime: reading.runtime }),
    });
  }

  /** Acknowledgements from agents. */
  hostProgress(
    host: string,
    commandId: string,
    step: Extract<EngineEvent, { type: 'host-progress' }>['step'],
    detail?: string,
  ): void {
    this.dispatch({ type: 'host-progress', host, commandId, step, ...(detail !== undefined && { detail }) });
  }

  /** A host proved it is up (its agent said hello): lets a restore go on. */
  hostHealthy(host: string): void {
    this.dispatch({ type: 'host-healthy', host });
  }

  /** Records something observed while carrying out actions, in an outage's timeline (by default the running one). */
  note(
    message: string,
    fields: { outage?: string; host?: string; source?: string; data?: Record<string, unknown> } = {},
  ): void {
    const outage = fields.outage ?? this.state.outage?.id;
    this.record([{ kind: 'note', ...fields, ...(outage && { outage }), message }], []);
  }

  /** One engine step: journal the event, step, journal the actions, act. Synchronous up to the I/O. */
  dispatch(event: EngineEvent, statusChanged?: boolean) {
    if (this.stopped) return [];
    const now = this.now();
    const before = this.state.outage?.id;
    const result = step(this.state, event, now);
    this.state = result.state;
    const entries: JournalEntry[] = [
      { kind: 'event', ...(before && { outage: before }), event, ...(statusChanged && { statusChanged }) },
    ];
    for (const action of result.actions) {
      entries.push({ kind: 'action', outage: this.outageOf(action), action });
      if (action.type === 'outage-started')
        entries.push({ kind: 'backfill', outage: action.outage, readings: this.prelude.splice(0) });
    }
    const records = this.record(entries, result.actions, now);
    this.schedule();
    return records;
  }

  /** Journals (fsync) first, then hands records to the database flusher and carries out actions. */
  private record(entries: JournalEntry[], actions: EngineAction[], at = this.now()) {
    const records = this.deps.journal.append(entries, at);
    this.recordsSinceSnapshot += records.length;
    this.deps.flusher.enqueue(records);
    for (const action of actions) {
      this.emit('action', action);
      void this.perform(action).catch((error: unknown) => {
        this.deps.log.error({ err: error, action: action.type }, 'carrying out an action failed');
        this.note(`failed to carry out ${action.type}: ${(error as Error).message}`, {
          outage: action.outage,
          ...('host' in action && { host: action.host }),
        });
      });
    }
    const ended = actions.find((a) => a.type === 'outage-ended');
    if (ended) {
      this.compact();
      this.emit('outage-ended', { outage: ended.outage, outcome: ended.outcome });
    } else if (!this.state.outage && this.recordsSinceSnapshot > COMPACT_AFTER_RECORDS) {
      this.compact();
    }
    return records;
  }

  private compact(): void {
    this.deps.journal.compact(this.state, this.now(), this.deps.flusher.flushedSeq);
    this.recordsSinceSnapshot = 0;
  }

  private async perform(action: EngineAction): Promise<void> {
    const { hub, log } = this.deps;
    switch (action.type) {
      case 'shutdown-host': {
        if (action.kind === 'nut-client') {
          this.note(
            'nut-client hosts are shut down through the controller’s NUT server, which is not configured',
            { outage: action.outage, host: action.host },
          );
          return;
        }
        const host = this.state.plan.hosts.find((h) => h.id === action.host);
        const ttlSeconds =
          Math.max(1, Math.ceil((action.deadline - this.now()) / 1000)) + COMMAND_GRACE_SECONDS;
        const delivery = await hub.sendCommand(action.host, {
          id: action.commandId,
          ttlSeconds,
          body: {
            action: 'shutdown',
            outage: action.outage,
            reason: action.reason,
            hooks: host?.shutdown.hooks ?? [],
            powerOff: true,
          },
        });
        this.note(
          delivery === 'sent' ? 'command sent' : 'agent not connected; command queued until it connects',
          { outage: action.outage, host: action.host, data: { commandId: action.commandId } },
        );
        log.info({ host: action.host, commandId: action.commandId, delivery }, 'shutdown command');
        return;
      }
      case 'cancel-shutdown': {
        const delivery = await hub.sendCommand(action.host, {
          id: action.commandId,
          ttlSeconds: Math.max(1, Math.ceil((action.deadline - this.now()) / 1000)) + COMMAND_GRACE_SECONDS,
          body: { action: 'cancel', outage: action.outage, ref: action.ref },
        });
        this.note(
          delivery === 'sent' ? 'cancel sent' : 'agent not connected; cancel queued until it connects',
          { outage: action.outage, host: action.host, data: { commandId: action.commandId } },
        );
        return;
      }
      case 'ups-output-on': {
        const source = this.deps.sources.get(action.source);
        if (!source) throw new Error(`no source '${action.source}'`);
        this.note(await source.powerOn(), { outage: action.outage, source: action.source });
        return;
      }
      case 'wake-host': {
        if (action.method !== 'power-on' && action.method !== 'none') {
          this.note(
            `wake method '${action.method}' is not available in this version; waiting for the host to come back by itself`,
            { outage: action.outage, host: action.host },
          );
        }
        // Health by agent: an agent that is connected already proves the host is up.
        if (action.health.type === 'agent' && hub.isConnected(action.host)) this.hostHealthy(action.host);
        return;
      }
      case 'power-off-ups': {
        const source = this.deps.sources.get(action.source);
        if (!source) throw new Error(`no source '${action.source}'`);
        const what = await source.powerOff(action.delaySeconds);
        this.note(what, { outage: action.outage, source: action.source });
        log.warn({ source: action.source, delaySeconds: action.delaySeconds }, 'UPS power-off requested');
        return;
      }
      default:
        log.info({ action }, action.type);
    }
  }

  /** After a restart mid-outage: commands awaiting acknowledgement go out again (agents dedupe by id). */
  private resendOutstandingCommands(): void {
    const outage = this.state.outage!;
    const runs = hostRuns(this.state);
    for (const host of this.state.plan.hosts) {
      const run = runs.get(host.id);
      if (run?.phase !== 'commanded' || !run.commandId || run.deadline === undefined) continue;
      void this.perform({
        type: 'shutdown-host',
        outage: outage.id,
        host: host.id,
        kind: host.kind,
        commandId: run.commandId,
        deadline: run.deadline,
        reason: run.trigger ?? 'resumed',
      });
    }
  }

  /** The single timer: the engine's next wake-up. */
  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stopped) return;
    const at = nextWakeAt(this.state);
    if (at === undefined) return;
    const delay = Math.max(0, at - this.now());
    // setTimeout's limit is ~24.8 days; a longer wait just wakes early and re-schedules.
    this.timer = setTimeout(() => this.dispatch({ type: 'tick' }), Math.min(delay, 2 ** 31 - 1));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const source of this.deps.sources.values()) await source.stop();
  }
}
