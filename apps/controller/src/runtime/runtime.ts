import { EventEmitter } from 'node:events';
import {
  type EngineAction,
  type EngineEvent,
  type EngineState,
  initialState,
  isOnBattery,
  learnedDurations,
  learnedInPlanOrder,
  nextWakeAt,
  type Plan,
  prepare,
  readingFromNutVars,
  stepMany,
  type UpsReading,
  upgradeState,
} from '@blackstart/policy';
import type { Logger } from '../logger.ts';
import type { NutVars, PowerSource } from '../sources/source.ts';
import type { JournalFlusher } from './flusher.ts';
import type { Journal, JournalEntry, JournalRecord, RecordedReading } from './journal.ts';

const COMPACT_AFTER_RECORDS = 5000;
const PRELUDE_MS = 10 * 60_000;
/** Acknowledgements arriving within this long of a step that applied some go into one step. */
const BATCH_EVERY_MS = 25;

/** An action as journaled: `seq` is its record's sequence number (what a `done` note refers to). */
export interface JournaledAction {
  action: EngineAction;
  seq: number;
  /** When it was journaled (epoch ms). */
  at: number;
}

/** What carries out the engine's actions (agent hub, NUT server, UPS, Wake-on-LAN, …). */
export interface ActionExecutor {
  /** Carries out actions that are already in the journal. Must not throw; failures become notes. */
  perform(actions: readonly JournaledAction[]): void;
  /**
   * After a restart: re-issues what the recovered state still waits for (commands awaiting
   * acknowledgement, FSD for nut-clients, wake-ups under way) and carries out the side effects the
   * journal shows were decided but not reported done (`undone`).
   */
  resume(state: EngineState, undone: readonly JournaledAction[]): void;
}

/**
 * Actions whose side effect the executor reports with a `done` note, so that a restart neither skips
 * nor repeats it: UPS power-off and output-on, and powering the controller's own host off.
 */
export function isOneShotEffect(action: EngineAction): boolean {
  return (
    action.type === 'power-off-ups' ||
    action.type === 'ups-output-on' ||
    (action.type === 'shutdown-host' && action.kind === 'controller')
  );
}

export interface RuntimeEvents {
  action: [EngineAction];
  'outage-ended': [{ outage: string; outcome: string }];
  /** Every reading of every source, as received and as the engine sees it. */
  reading: [{ source: string; vars: NutVars; reading: UpsReading }];
  /** A source has no data. */
  lost: [{ source: string; reason: string }];
  /** A new plan is in force (at start, or replaced over the API once no outage runs). */
  'plan-applied': [Plan];
  /** Journal records as they are written (events, actions, notes): the live feed's timeline. */
  recorded: [readonly JournalRecord[]];
}

type HostProgress = Extract<EngineEvent, { type: 'host-progress' }>;

function ackKey(event: HostProgress): string {
  return `${event.host}\n${event.commandId}\n${event.step}\n${event.detail ?? ''}`;
}

export interface PlanVersion {
  /** Versions are numbered per data directory: its id. */
  lineage: string;
  version: number;
  origin: 'file' | 'api';
  author?: string;
}

export type NoteFields = {
  outage?: string;
  host?: string;
  source?: string;
  data?: Record<string, unknown>;
  done?: number;
};

/**
 * Feeds readings, agent acknowledgements and clock ticks into the policy engine and hands its
 * actions to the executor. Every event and action is journaled (one write, one fsync per step)
 * before anything is acted on; the one timer is derived from the engine state after every step, so
 * nothing about timing is stored elsewhere. Acknowledgements that arrive together (a fan-out to many
 * agents) are applied in one step and one fsync.
 */
export class Runtime extends EventEmitter<RuntimeEvents> {
  private state: EngineState;
  private timer: NodeJS.Timeout | undefined;
  private readonly lastStatus = new Map<string, string>();
  private readonly prelude: RecordedReading[] = [];
  private readonly pending: EngineEvent[] = [];
  /** Acknowledgements of the running outage already applied (an agent repeats its last one after a reconnect). */
  private readonly seenAcks = new Set<string>();
  private flushScheduled = false;
  private lastBatchAt = Number.NEGATIVE_INFINITY;
  private recordsSinceSnapshot = 0;
  private stopped = false;
  private executor: ActionExecutor | undefined;
  /** A plan waiting for the running outage to end (an outage keeps the plan it started with). */
  private pendingPlan: { plan: Plan; version: PlanVersion } | undefined;

  constructor(
    private readonly deps: {
      plan: Plan;
      /** The plan's version; `announce` journals it (a version that came into force at this start). */
      planVersion?: PlanVersion & { announce?: boolean };
      journal: Journal;
      flusher: JournalFlusher;
      sources: ReadonlyMap<string, PowerSource>;
      log: Logger;
      /** Learned shutdown durations for a first start (the journal's snapshot has them afterwards). */
      history?: Record<string, number[]>;
      clock?: () => number;
    },
  ) {
    super();
    this.state = initialState(deps.plan, deps.history ? { history: deps.history } : {});
  }

  private now(): number {
    return (this.deps.clock ?? Date.now)();
  }

  get engineState(): EngineState {
    return this.state;
  }

  get plan(): Plan {
    return this.state.plan;
  }

  /**
   * Rebuilds the engine state from the journal (latest snapshot + the events after it, replayed as
   * they were applied), journals and carries out any action the replay produces that the journal
   * does not hold, lets the executor re-issue what is outstanding, then starts the sources.
   */
  async start(executor: ActionExecutor): Promise<void> {
    this.executor = executor;
    const { journal, log } = this.deps;
    const { snapshot, after } = journal.recoveryRecords();
    // A snapshot an earlier version wrote is read in this version's form.
    let state = snapshot ? upgradeState(snapshot) : this.state;
    const replayed: EngineAction[] = [];
    for (const r of after)
      if (r.kind === 'event' && r.event.type === 'host-progress') this.seenAcks.add(ackKey(r.event));
    for (let i = 0; i < after.length; ) {
      const record = after[i]!;
      if (record.kind !== 'event') {
        i++;
        continue;
      }
      const count = Math.max(1, record.batch ?? 1);
      const events = after
        .slice(i, i + count)
        .filter((r): r is Extract<JournalRecord, { kind: 'event' }> => r.kind === 'event')
        .map((r) => r.event);
      const r = stepMany(state, events, record.at);
      state = r.state;
      replayed.push(...r.actions);
      i += count;
    }
    const actionRecords = after.filter(
      (r): r is Extract<JournalRecord, { kind: 'action' }> => r.kind === 'action',
    );
    const missing = replayed.slice(actionRecords.length);
    const planChanged = JSON.stringify(state.plan) !== JSON.stringify(this.deps.plan);
    const version = this.deps.planVersion;
    if (state.outage) {
      log.warn(
        { outage: state.outage.id, replayedRecords: after.length },
        'resuming an outage in progress from the journal',
      );
      if (planChanged) {
        log.warn('the plan changed; the running outage keeps the plan it started with');
        if (version) this.pendingPlan = { plan: this.deps.plan, version };
      }
    } else if (planChanged) {
      state = this.withPlan(state, this.deps.plan);
    }
    this.state = state;
    prepare(state);
    if (version && !state.outage && (planChanged || version.announce)) {
      const { announce: _, ...v } = version;
      this.record([{ kind: 'plan', ...v, plan: this.deps.plan }], []);
    }
    const done = new Set(after.flatMap((r) => (r.kind === 'note' && r.done !== undefined ? [r.done] : [])));
    const undone = state.outage
      ? actionRecords
          .filter(
            (r) => isOneShotEffect(r.action) && r.action.outage === state.outage!.id && !done.has(r.seq),
          )
          .map((r) => ({ action: r.action, seq: r.seq, at: r.at }))
      : [];
    executor.resume(state, undone);
    if (missing.length > 0)
      this.record(
        missing.map((action) => ({ kind: 'action', outage: this.outageOf(action), action })),
        missing,
      );
    if (!state.outage) this.compact();

    for (const source of this.deps.sources.values()) {
      await source.start({
        reading: (vars) => this.onReading(source.id, vars),
        lost: (reason) => {
          this.emit('lost', { source: source.id, reason });
          this.dispatch({ type: 'source-lost', source: source.id, reason });
        },
      });
    }
    this.schedule();
  }

  /** The state for a new plan between outages: what is known about the UPSes and hosts carries over. */
  private withPlan(state: EngineState, plan: Plan): EngineState {
    const fresh = initialState(plan, { history: learnedDurations(state) });
    const hostIds = new Set(plan.hosts.map((h) => h.id));
    const hostsDown = state.hostsDown?.filter((h) => hostIds.has(h));
    return {
      ...fresh,
      clock: state.clock,
      sources: Object.fromEntries(plan.ups.map((u) => [u.id, state.sources[u.id] ?? {}])),
      ...(state.lastOutage && { lastOutage: state.lastOutage }),
      ...(hostsDown && hostsDown.length > 0 && { hostsDown }),
    };
  }

  private outageOf(action: EngineAction): string | undefined {
    return 'outage' in action ? action.outage : this.state.outage?.id;
  }

  private onReading(source: string, vars: NutVars): void {
    const reading = readingFromNutVars(vars);
    const status = reading.status.join(' ');
    const statusChanged = this.lastStatus.get(source) !== status;
    this.lastStatus.set(source, status);
    this.emit('reading', { source, vars, reading });
    const records = this.dispatch({ type: 'reading', source, reading }, statusChanged);
    if (!this.state.outage && records[0]) {
      this.prelude.push({ seq: records[0].seq, at: records[0].at, source, reading, statusChanged });
      const horizon = this.now() - PRELUDE_MS;
      while (this.prelude.length > 0 && this.prelude[0]!.at < horizon) this.prelude.shift();
      if (!isOnBattery(reading)) this.prelude.length = 0;
    }
  }

  /**
   * An acknowledgement from an agent (or the NUT server, for nut-clients). Applied with others that
   * arrive together; one already applied (repeated after a reconnect or a controller restart) is
   * not recorded twice.
   */
  hostProgress(
    host: string,
    commandId: string,
    step: Extract<EngineEvent, { type: 'host-progress' }>['step'],
    detail?: string,
  ): void {
    const event: HostProgress = {
      type: 'host-progress',
      host,
      commandId,
      step,
      ...(detail !== undefined && { detail }),
    };
    const key = ackKey(event);
    if (this.seenAcks.has(key)) return;
    this.seenAcks.add(key);
    this.submit(event);
  }

  /** A host proved it is up (its agent said hello, its NUT client logged in, its port answered). */
  hostHealthy(host: string): void {
    this.submit({ type: 'host-healthy', host });
  }

  /**
   * Queues an event to be applied, with any others arriving meanwhile, in one step: in the next
   * turn of the event loop, but at most one such step (one fsync) every few milliseconds while
   * acknowledgements pour in from a fan-out.
   */
  submit(event: EngineEvent): void {
    if (this.stopped) return;
    this.pending.push(event);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const wait = this.lastBatchAt + BATCH_EVERY_MS - performance.now();
    if (wait > 0) setTimeout(() => this.flushPending(), wait);
    else setImmediate(() => this.flushPending());
  }

  private flushPending(): void {
    this.flushScheduled = false;
    if (this.pending.length === 0 || this.stopped) return;
    this.lastBatchAt = performance.now();
    this.step(this.pending.splice(0));
  }

  /** Records something observed while carrying out actions, in an outage's timeline (by default the running one). */
  note(message: string, fields: NoteFields = {}): void {
    this.notes([{ message, ...fields }]);
  }

  /** Several notes in one journal write. */
  notes(entries: ReadonlyArray<NoteFields & { message: string }>): void {
    if (entries.length === 0) return;
    this.record(
      entries.map((e) => {
        const outage = e.outage ?? this.state.outage?.id;
        return { kind: 'note', ...e, ...(outage && { outage }) };
      }),
      [],
    );
  }

  /** One engine step for one event, at once (readings, ticks, lost sources). Returns its journal records. */
  dispatch(event: EngineEvent, statusChanged?: boolean): JournalRecord[] {
    if (this.stopped) return [];
    // Keep the order events arrived in: anything queued goes first.
    this.flushPending();
    return this.step([event], statusChanged);
  }

  /** Journals the events, steps the engine once, journals the actions (one write, one fsync), then acts. */
  private step(events: EngineEvent[], statusChanged?: boolean): JournalRecord[] {
    const now = this.now();
    const before = this.state.outage?.id;
    const result = stepMany(this.state, events, now);
    this.state = result.state;
    const entries: JournalEntry[] = events.map((event, i) => ({
      kind: 'event',
      ...(before && { outage: before }),
      event,
      ...(i === 0 && events.length > 1 && { batch: events.length }),
      ...(statusChanged && { statusChanged }),
    }));
    for (const action of result.actions) {
      entries.push({ kind: 'action', outage: this.outageOf(action), action });
      if (action.type === 'outage-started')
        entries.push({ kind: 'backfill', outage: action.outage, readings: this.prelude.splice(0) });
    }
    const records = this.record(entries, result.actions, now);
    this.schedule();
    return records;
  }

  /** Journals (fsync) first, then hands records to the database flusher and actions to the executor. */
  private record(entries: JournalEntry[], actions: EngineAction[], at = this.now()): JournalRecord[] {
    const records = this.deps.journal.append(entries, at);
    this.recordsSinceSnapshot += records.length;
    this.deps.flusher.enqueue(records);
    if (this.listenerCount('recorded') > 0) this.emit('recorded', records);
    if (actions.length > 0) {
      const journaled = records
        .filter((r): r is Extract<JournalRecord, { kind: 'action' }> => r.kind === 'action')
        .map((r) => ({ action: r.action, seq: r.seq, at: r.at }));
      for (const { action } of journaled) this.emit('action', action);
      this.executor?.perform(journaled);
    }
    const ended = actions.find((a) => a.type === 'outage-ended');
    if (ended) {
      if (!this.state.outage) this.seenAcks.clear();
      const pending = this.state.outage ? undefined : this.pendingPlan;
      if (pending) {
        this.pendingPlan = undefined;
        this.applyPlan(pending.plan, pending.version);
      } else {
        // The outage taught the engine new durations: the next one's budget table, built now.
        if (!this.state.outage) prepare(this.state);
        this.compact();
      }
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

  /**
   * Adds measured shutdown durations (seconds, per host; from a drill) to what the engine has
   * learned, for the budget's expected durations. Only between outages; journaled as a snapshot.
   */
  learnDurations(durations: Record<string, number[]>): boolean {
    if (this.state.outage) return false;
    const history = learnedDurations(this.state);
    for (const [host, seconds] of Object.entries(durations)) {
      const past = Object.hasOwn(history, host) ? history[host]! : [];
      if (seconds.length > 0) history[host] = [...past, ...seconds];
    }
    // Hosts the plan does not have are left out, and each keeps its most recent runs.
    this.state = { ...this.state, history: learnedInPlanOrder(this.state.plan, history) };
    prepare(this.state);
    this.compact();
    return true;
  }

  /**
   * Puts a new plan in force: journaled (the database keeps every version), then a snapshot of the
   * state under it. During an outage it waits for the outage to end (`pending`): a running outage
   * keeps the plan it started with.
   */
  replacePlan(plan: Plan, version: PlanVersion): 'applied' | 'pending' {
    if (this.state.outage) {
      this.pendingPlan = { plan, version };
      return 'pending';
    }
    this.applyPlan(plan, version);
    return 'applied';
  }

  private applyPlan(plan: Plan, version: PlanVersion): void {
    this.record([{ kind: 'plan', ...version, plan }], []);
    this.state = this.withPlan(this.state, plan);
    prepare(this.state);
    this.compact();
    this.schedule();
    this.emit('plan-applied', plan);
  }

  /** A plan waiting for the running outage to end, if any. */
  get planPending(): PlanVersion | undefined {
    return this.pendingPlan?.version;
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
    this.flushPending();
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const source of this.deps.sources.values()) await source.stop();
  }
}
