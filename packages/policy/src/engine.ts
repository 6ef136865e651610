import {
  budgetTable,
  type DepletionAnchor,
  type DurationHistory,
  estimateRuntime,
  HISTORY_LENGTH,
  learnedById,
  learnedInPlanOrder,
  ownEntry,
} from './budget.ts';
import { type CompiledPlan, compilePlan } from './compile.ts';
import {
  ACKNOWLEDGED,
  CANCELLED,
  CANCELLING,
  CARRIED,
  COMMANDED,
  cancelIdOf,
  commandIdOf,
  DEADLINE_PASSED,
  DOWN,
  type HostRun,
  type HostStep,
  type HostTable,
  HostTableDraft,
  IDLE,
  idleTable,
  NONE,
  OVERDUE,
  POWERING_OFF,
  RELEASED,
  RESTORE_WAIT,
  readRun,
  SKIPPED,
  STEP_CANCELLED,
  STEPS,
  TRIGGERED,
  UNVERIFIED,
  UP,
  WAKE_FAILED,
  WAKING,
  wakeIdOf,
  writeRun,
} from './host-table.ts';
import type { HealthCheck, HostKind, Plan, Trigger, WakeMethod } from './plan.ts';
import { type PVec, PVecDraft, pvecGet, pvecOf, pvecSlice } from './pvec.ts';
import { powerOf, type UpsReading } from './reading.ts';

// ---- events in, actions out ---------------------------------------------------------------

export type EngineEvent =
  | { type: 'reading'; source: string; reading: UpsReading }
  /** The source has no data: communication lost, DATA-STALE, DRIVER-NOT-CONNECTED. */
  | { type: 'source-lost'; source: string; reason: string }
  /** A step of a shutdown command (`commandId` of `shutdown-host`, or of `cancel-shutdown`). */
  | { type: 'host-progress'; host: string; commandId: string; step: HostStep; detail?: string }
  /** The host's health check passed: its agent reconnected, its NUT client logged in, its TCP port answers. */
  | { type: 'host-healthy'; host: string }
  /** A clock tick: lets deadlines and time-based triggers fire. */
  | { type: 'tick' };

export type OutageOutcome =
  /** Mains came back before any host went down. */
  | 'averted'
  /** Hosts went down and every one of them came back. */
  | 'restored'
  /** Hosts went down; some did not come back (see `host-wake-failed`). */
  | 'partially-restored'
  /** Hosts went down and restore is disabled: they stay off. */
  | 'not-restored'
  /** Power failed again before this outage finished; a new outage carries on from here. */
  | 'superseded';

export type EngineAction =
  | { type: 'outage-started'; outage: string; sources: string[] }
  /** Another UPS went on battery during the outage. */
  | { type: 'source-joined'; outage: string; source: string }
  | { type: 'host-triggered'; outage: string; host: string; trigger: string }
  | {
      type: 'shutdown-host';
      outage: string;
      host: string;
      kind: HostKind;
      commandId: string;
      deadline: number;
      reason: string;
    }
  | { type: 'host-down'; outage: string; host: string; how: 'acknowledged' | 'deadline-passed' }
  /** Mains returned before the host passed its point of no return: cancel its shutdown command `ref`. */
  | {
      type: 'cancel-shutdown';
      outage: string;
      host: string;
      kind: HostKind;
      commandId: string;
      ref: string;
      deadline: number;
    }
  | { type: 'host-cancelled'; outage: string; host: string }
  | { type: 'power-off-ups'; outage: string; source: string; delaySeconds: number }
  /** Every UPS of the outage has been back on mains for `settings.mainsBackAfter`. */
  | { type: 'mains-returned'; outage: string }
  /** The restore gates opened: mains stable long enough and batteries charged enough. */
  | { type: 'restore-started'; outage: string }
  | { type: 'ups-output-on'; outage: string; source: string }
  | {
      type: 'wake-host';
      outage: string;
      host: string;
      kind: HostKind;
      wakeId: string;
      attempt: number;
      deadline: number;
      method: WakeMethod;
      mac?: string;
      broadcast?: string;
      /** The agent host that sends the Wake-on-LAN packet (method `relay`). */
      via?: string;
      health: HealthCheck;
    }
  /** `unchecked`: the host has no health check, so it counts as up once woken. */
  | { type: 'host-up'; outage: string; host: string; how: 'healthy' | 'controller' | 'unchecked' }
  | { type: 'host-wake-failed'; outage: string; host: string; attempts: number }
  | { type: 'host-restore-skipped'; outage: string; host: string; reason: string }
  | { type: 'outage-ended'; outage: string; outcome: OutageOutcome };

// ---- state --------------------------------------------------------------------------------

export interface SourceState {
  reading?: UpsReading;
  readingAt?: number;
  /** Start of the current on-battery stretch; survives a loss of data (the last word was "on battery"). */
  onBatterySince?: number;
  /** Start of the current stretch of fresh on-line readings. */
  onLineSince?: number;
  /** Since when the source has reported no data (explicitly; staleness is derived from `readingAt`). */
  lostSince?: number;
  lostReason?: string;
  depletion?: DepletionAnchor;
}

export interface UpsRun {
  /** Managed hosts this UPS feeds that are not down or past their deadline. */
  unsettled: number;
  /** A host this UPS feeds was shut down in this outage. */
  touched: boolean;
  powerOffAt?: number;
  outputOnAt?: number;
}

/** Deadlines of one length, in the order they were set (so in time order): times and hosts. */
export interface TimerQueue {
  head: number;
  at: PVec<number>;
  host: PVec<number>;
}

export interface OutageState {
  id: string;
  startedAt: number;
  phase: 'shutdown' | 'returning' | 'restore';
  /** Sources in this outage and when their time on battery began. */
  sources: Record<string, { since: number }>;
  mainsReturnedAt?: number;
  restoreStartedAt?: number;
  /** Per host, in plan order. */
  hosts: HostTable;
  /** Per trigger class: -1 once it fired for all its hosts, else how many of its budget order fired. */
  classes: PVec<number>;
  /** Per UPS, in plan order. */
  ups: UpsRun[];
  /** Managed hosts (not the controller) triggered, commanded or being cancelled. */
  inFlight: number;
  /** Hosts with `held` > 0. */
  holding: number;
  /** Hosts to restore that are not up, failed or skipped yet. */
  restorePending: number;
  wakeFailures: number;
  /** Deadline queues by kind and length, e.g. `shutdown:180000`. */
  timers: Record<string, TimerQueue>;
  /** When time-based triggers next need a look. */
  triggerCheckAt?: number;
}

/** Everything the engine knows. Plain JSON: it can be journaled and restored mid-outage. */
export interface EngineState {
  plan: Plan;
  /** Time of the last step: engine time never goes backwards. */
  clock: number;
  sources: Record<string, SourceState>;
  outage?: OutageState;
  /** Ended outages are dropped from the state; the last one is kept to report it. */
  lastOutage?: { id: string; outcome: OutageOutcome; endedAt: number };
  /**
   * Hosts an ended outage left down (restore disabled, failed or skipped), in plan order: the next
   * outage counts them as down, and its restore wakes them before the hosts that need them.
   */
  hostsDown?: string[];
  /**
   * Learned shutdown durations (seconds, oldest first) for the budget trigger, per host in plan
   * order (see `LearnedDurations`; `learnedDurations` keys them by host id).
   */
  history: number[][];
}

export interface StepResult {
  state: EngineState;
  actions: EngineAction[];
}

export function initialState(plan: Plan, options: { history?: DurationHistory } = {}): EngineState {
  return {
    plan,
    clock: 0,
    sources: Object.fromEntries(plan.ups.map((u) => [u.id, {}])),
    history: learnedInPlanOrder(plan, options.history ?? {}),
  };
}

/** The state's learned shutdown durations keyed by host id (hosts without any left out). */
export function learnedDurations(state: EngineState): Record<string, number[]> {
  return learnedById(state.plan, state.history);
}

/**
 * A state as earlier versions journaled it (host runs as objects, deadline queues as pairs,
 * learned durations keyed by host id), in this version's form; a state already in it is
 * returned as it is. Recovery passes every journaled snapshot through it, so an upgrade in the
 * middle of an outage carries on where the old controller stopped.
 */
export function upgradeState(state: EngineState): EngineState {
  const legacy = state as unknown as {
    history: DurationHistory | number[][];
    outage?: { hosts: PVec<HostRun> | HostTable; timers: Record<string, TimerQueue | LegacyTimerQueue> };
  };
  let upgraded = state;
  if (!Array.isArray(legacy.history))
    upgraded = { ...upgraded, history: learnedInPlanOrder(state.plan, legacy.history) };
  const outage = legacy.outage;
  if (outage && 'chunks' in outage.hosts) {
    // Read with `flat`, not pvecGet: its reads stay those of number vectors (see pvecGetText).
    const runs = outage.hosts.chunks.flat();
    const table = new HostTableDraft(idleTable(runs.length, () => 0));
    for (let h = 0; h < runs.length; h++) writeRun(table, h, state.plan.hosts[h]!.id, runs[h]!);
    const timers: Record<string, TimerQueue> = {};
    for (const [key, q] of Object.entries(outage.timers)) {
      if (!('items' in q)) continue;
      const at: number[] = [];
      const host: number[] = [];
      for (const [time, h] of q.items.chunks.flat()) {
        at.push(time);
        host.push(h);
      }
      timers[key] = { head: q.head, at: pvecOf(at), host: pvecOf(host) };
    }
    upgraded = { ...upgraded, outage: { ...upgraded.outage!, hosts: table.finish(), timers } };
  }
  return upgraded;
}

/** A deadline queue as journaled before the host table: (time, host) pairs. */
interface LegacyTimerQueue {
  head: number;
  items: PVec<readonly [at: number, host: number]>;
}

/**
 * Builds what the engine derives from the state's plan and learned durations (the compiled plan,
 * the runtime-budget table) ahead of time. Both are cached, so the step that starts an outage does
 * not pay for them: call it whenever a plan or history comes into force between outages.
 *
 * Between outages it also rehearses the shutdown path on this state, and throws the results away:
 * for each UPS in turn, a forced shutdown (FSD), every command it sends acknowledged at once, then
 * a tick. The first outage of a process then runs engine code V8 has already compiled for this
 * plan's objects, instead of interpreting it while it fires thousands of hosts (see `keptAlive`
 * for why that code survives until the outage comes). The restore path is not rehearsed.
 * Pure in effect: no step gives a different result for it.
 */
export function prepare(state: EngineState): void {
  budgetTable(compilePlan(state.plan), state.history);
  if (state.outage) return;
  // At wall-clock time, as the controller steps, even on a state never stepped (clock 0): V8 keeps
  // a number field as a small integer or as a boxed double, decided by the values it first holds.
  // A rehearsal at clock 0 trained the code on small-integer times; the first real outage then
  // changed every run's hidden class and threw that code away (its first FSD step 2–3× slower).
  const at = Math.max(state.clock, REHEARSAL_CLOCK);
  for (const ups of state.plan.ups) {
    const reading = { status: ['OB', 'DISCHRG', 'FSD'] };
    const fsd = step(state, { type: 'reading', source: ups.id, reading }, at);
    const acks: EngineEvent[] = [];
    for (const a of fsd.actions)
      if (a.type === 'shutdown-host')
        acks.push({ type: 'host-progress', host: a.host, commandId: a.commandId, step: 'powering-off' });
    const acked = stepMany(fsd.state, acks, at + 1000);
    step(acked.state, { type: 'tick' }, at + 2000);
  }
}

/** 2020-01-01T00:00:00Z in ms: any time of a real step is later, and as large a number. */
const REHEARSAL_CLOCK = 1_577_836_800_000;

// ---- the step function --------------------------------------------------------------------

/** (state, event, now) → (state, actions). Pure: no I/O, no timers, no clock reads. */
export function step(state: EngineState, event: EngineEvent, now: number): StepResult {
  return stepMany(state, [event], now);
}

/**
 * Applies several events that happen at the same instant, then evaluates once. Equivalent to
 * stepping them one by one except that rules run once, after all of them (the simulator batches
 * simultaneous acknowledgements this way).
 */
export function stepMany(state: EngineState, events: readonly EngineEvent[], now: number): StepResult {
  // A clock that jumped back (or a broken one) never moves engine time backwards, nor corrupts it.
  const run = new Step(state, Number.isFinite(now) ? Math.max(now, state.clock) : state.clock);
  for (const event of events) run.apply(event);
  return run.finish();
}

/**
 * Holds the latest step that worked on an outage. Nothing reads it: it only keeps the hidden
 * classes of that step's objects alive through full GCs. V8 holds them weakly, and when the last
 * object of one is collected it throws away the optimized code built on it: the next outage would
 * run unoptimized until V8 compiled the engine again (docs/policy-engine.md).
 */
const keptAlive: { outageStep?: Step } = {};

const SHUTDOWN = 'shutdown';
const WAKE = 'wake';
// Phase tests on phase codes (host-table.ts) run per host and per dependency edge.
const isSettled = (phase: number) => phase === DOWN || phase === OVERDUE;
const isInFlight = (phase: number) => phase === TRIGGERED || phase === COMMANDED || phase === CANCELLING;
const isRestoring = (phase: number) => phase === RESTORE_WAIT || phase === WAKING;
const isCarriedDown = (phase: number) =>
  isSettled(phase) || phase === RESTORE_WAIT || phase === WAKE_FAILED || phase === SKIPPED;

/**
 * The mutable working copy of an outage during one step. Made only by `working`, with every field
 * present in one order: one hidden class for all of the step's code. Fields added later would give
 * each step new hidden classes that a full GC collects between steps, throwing away the engine's
 * optimized code with them.
 */
interface Working {
  id: string;
  startedAt: number;
  phase: OutageState['phase'];
  sources: Record<string, { since: number }>;
  mainsReturnedAt: number | undefined;
  restoreStartedAt: number | undefined;
  hosts: HostTableDraft;
  classes: PVecDraft<number>;
  ups: UpsRun[];
  inFlight: number;
  holding: number;
  restorePending: number;
  wakeFailures: number;
  timers: Map<string, TimerDraft>;
  /** A queue was created in this step: the queues need sorting by key again. */
  timersAdded: boolean;
  triggerCheckAt: number | undefined;
  /** Look at triggers in this step (data changed, the outage began, or a time-based trigger is due). */
  evaluate: boolean;
  /** Triggered hosts whose blockers may have cleared. */
  dispatch: number[];
  /** Hosts to restore whose dependencies may be up. */
  wakeable: number[];
}

/** A deadline queue during one step. */
interface TimerDraft {
  head: number;
  at: PVecDraft<number>;
  host: PVecDraft<number>;
}

function working(
  outage: Omit<OutageState, 'hosts' | 'classes' | 'timers' | 'ups'>,
  ups: UpsRun[],
  hosts: HostTableDraft,
  classes: PVecDraft<number>,
  timers: Working['timers'],
  evaluate: boolean,
): Working {
  return {
    id: outage.id,
    startedAt: outage.startedAt,
    phase: outage.phase,
    sources: outage.sources,
    mainsReturnedAt: outage.mainsReturnedAt,
    restoreStartedAt: outage.restoreStartedAt,
    hosts,
    classes,
    ups,
    inFlight: outage.inFlight,
    holding: outage.holding,
    restorePending: outage.restorePending,
    wakeFailures: outage.wakeFailures,
    timers,
    timersAdded: false,
    triggerCheckAt: outage.triggerCheckAt,
    evaluate,
    dispatch: [],
    wakeable: [],
  };
}

class Step {
  readonly c: CompiledPlan;
  readonly plan: Plan;
  readonly actions: EngineAction[] = [];
  sources: Record<string, SourceState>;
  history: number[][];
  lastOutage: EngineState['lastOutage'];
  hostsDown: string[] | undefined;
  o: Working | undefined;
  private readingsChanged = false;
  /** Runtime estimates by source, computed once per step. */
  private readonly runtimes = new Map<string, number | undefined>();

  constructor(
    readonly state: EngineState,
    readonly now: number,
  ) {
    this.plan = state.plan;
    this.c = compilePlan(state.plan);
    this.sources = state.sources;
    this.history = state.history;
    this.lastOutage = state.lastOutage;
    this.hostsDown = state.hostsDown;
    this.o = state.outage ? this.open(state.outage) : undefined;
  }

  private get settings() {
    return this.plan.settings;
  }

  // ---- events ----

  apply(event: EngineEvent): void {
    switch (event.type) {
      case 'reading':
        this.onReading(event.source, event.reading);
        break;
      case 'source-lost':
        this.onSourceLost(event.source, event.reason);
        break;
      case 'host-progress':
        this.onProgress(event.host, event.commandId, event.step);
        break;
      case 'host-healthy':
        this.onHealthy(event.host);
        break;
      case 'tick':
        break;
    }
  }

  private onReading(id: string, reading: UpsReading): void {
    const prev = ownEntry(this.sources, id);
    if (!prev || !Array.isArray(reading?.status)) return;
    const power = powerOf(reading);
    const fsd = reading.status.includes('FSD');
    // A gap in the data breaks "stable on mains": we do not know what happened meanwhile.
    const gap = this.lostAt(prev) !== undefined;
    const next: SourceState = { reading, readingAt: this.now };
    if (power === 'battery') {
      next.onBatterySince = prev.onBatterySince ?? this.now;
      const anchor =
        prev.onBatterySince !== undefined && prev.depletion
          ? prev.depletion
          : reading.charge !== undefined
            ? { at: this.now, charge: reading.charge }
            : undefined;
      if (anchor) next.depletion = anchor;
    } else if (power === 'mains' && !fsd) {
      next.onLineSince = gap ? this.now : (prev.onLineSince ?? this.now);
    }
    this.sources = { ...this.sources, [id]: next };
    this.readingsChanged = true;
    if (this.o) this.o.evaluate = true;
  }

  private onSourceLost(id: string, reason: string): void {
    const prev = ownEntry(this.sources, id);
    if (!prev || prev.lostSince !== undefined) return;
    const { onLineSince: _unknownNow, ...rest } = prev;
    this.sources = { ...this.sources, [id]: { ...rest, lostSince: this.now, lostReason: reason } };
    if (this.o) this.o.evaluate = true;
  }

  private onProgress(hostId: string, commandId: string, stepName: HostStep): void {
    const o = this.o;
    const h = this.c.hostIndex.get(hostId);
    const stepCode = STEPS.indexOf(stepName);
    if (!o || h === undefined || stepCode < 0) return;
    const t = o.hosts;
    const command = t.command.get(h);
    const cancel = t.cancel.get(h);
    const matches =
      (command !== '' && commandId === commandIdOf(command, hostId)) ||
      (cancel !== '' && commandId === cancelIdOf(cancel, hostId));
    if (!matches) return;
    const phase = t.phase.get(h);
    if (phase === COMMANDED || phase === CANCELLING) {
      if (stepCode === POWERING_OFF) {
        this.settle(h, ACKNOWLEDGED, stepCode);
      } else if (stepCode === STEP_CANCELLED && phase === CANCELLING) {
        // Cancelled after power failed again (a carried cancel): it can be triggered anew.
        const again = o.phase === 'shutdown';
        t.phase.set(h, again ? IDLE : CANCELLED);
        t.lastStep.set(h, stepCode);
        if (this.c.managed[h]) o.inFlight--;
        this.emit({ type: 'host-cancelled', outage: o.id, host: hostId });
        if (again) this.rearm(h);
      } else if (t.lastStep.get(h) !== stepCode) {
        t.lastStep.set(h, stepCode);
      }
    } else if (phase === OVERDUE && stepCode === POWERING_OFF && !(t.flags.get(h) & RELEASED)) {
      // A late acknowledgement: the host is down after all; release the hosts it held.
      t.lastStep.set(h, stepCode);
      t.flags.set(h, t.flags.get(h) | RELEASED);
      if (this.c.hold[h]) {
        for (const b of this.c.waiting[h]!) this.unblock(b, true);
      }
    }
  }

  private onHealthy(hostId: string): void {
    const o = this.o;
    const h = this.c.hostIndex.get(hostId);
    if (h === undefined) return;
    if (!o) {
      // A host an earlier outage left down is back (switched on by hand, or by its BIOS).
      if (!this.hostsDown?.includes(hostId)) return;
      const rest = this.hostsDown.filter((id) => id !== hostId);
      if (rest.length > 0) this.hostsDown = rest;
      else this.hostsDown = undefined;
      this.emit({ type: 'host-up', outage: this.lastOutage!.id, host: hostId, how: 'healthy' });
      return;
    }
    const t = o.hosts;
    const phase = t.phase.get(h);
    if (o.phase !== 'restore') {
      const flags = t.flags.get(h);
      if (flags & UNVERIFIED && (phase === IDLE || phase === TRIGGERED || phase === CANCELLED)) {
        t.flags.set(h, flags & ~UNVERIFIED);
        this.emit({ type: 'host-up', outage: o.id, host: hostId, how: 'healthy' });
      }
      return;
    }
    if (!isRestoring(phase)) return;
    this.markUp(h);
    this.emit({ type: 'host-up', outage: o.id, host: hostId, how: 'healthy' });
    this.restored(h, false);
  }

  // ---- evaluation ----

  finish(): StepResult {
    this.lifecycle();
    const o = this.o;
    if (o) {
      this.expireTimers();
      if (o.phase === 'shutdown') this.checkMainsBack();
      if (o.phase === 'shutdown') this.evaluateTriggers();
      if (o.holding > 0 && (this.readingsChanged || o.phase === 'returning')) this.reviewHeld();
      this.dispatch();
      if (o.phase !== 'restore') {
        this.powerOffs();
        // Triggering the controller's host may have pulled more hosts down: send them now.
        this.dispatch();
        this.dispatchController();
      }
      if (o.phase === 'returning') this.checkReturned();
      if (this.o?.phase === 'restore') this.restore();
    }
    if (this.o) keptAlive.outageStep = this;
    const outage = this.o ? this.close(this.o) : undefined;
    const state: EngineState = {
      plan: this.plan,
      clock: this.now,
      sources: this.sources,
      history: this.history,
    };
    if (outage) state.outage = outage;
    if (this.lastOutage) state.lastOutage = this.lastOutage;
    if (this.hostsDown) state.hostsDown = this.hostsDown;
    return { state, actions: this.actions };
  }

  /** Starts an outage, adds sources to it, or starts a new one over a returning outage. */
  private lifecycle(): void {
    const troubled = this.c.upsIds.filter((id) => this.troubled(id));
    if (troubled.length === 0) return;
    const o = this.o;
    if (!o) {
      this.start(troubled, undefined);
    } else if (o.phase === 'shutdown') {
      for (const id of troubled) {
        if (ownEntry(o.sources, id)) continue;
        o.sources = { ...o.sources, [id]: { since: this.sourceSince(id) } };
        o.evaluate = true;
        this.emit({ type: 'source-joined', outage: o.id, source: id });
      }
    } else {
      const previous = o;
      this.end('superseded');
      this.start(troubled, previous);
    }
  }

  /** On battery past the debounce, or forced shutdown. */
  private troubled(id: string): boolean {
    const s = this.sources[id]!;
    if (s.reading?.status.includes('FSD')) return true;
    return s.onBatterySince !== undefined && this.now - s.onBatterySince >= this.settings.debounce * 1000;
  }

  private sourceSince(id: string): number {
    return this.sources[id]!.onBatterySince ?? this.now;
  }

  private lostAt(s: SourceState): number | undefined {
    if (s.lostSince !== undefined) return s.lostSince;
    if (s.readingAt === undefined) return undefined;
    const staleAt = s.readingAt + this.settings.staleAfter * 1000;
    return this.now >= staleAt ? staleAt : undefined;
  }

  /** Fresh on-line data and no forced shutdown. */
  private online(id: string): boolean {
    const s = this.sources[id]!;
    return s.onLineSince !== undefined && this.lostAt(s) === undefined;
  }

  private start(sourceIds: string[], carryFrom: Working | undefined): void {
    const c = this.c;
    let id = `outage-${this.now.toString(36)}`;
    for (let k = 2; this.lastOutage?.id === id || carryFrom?.id === id; k++) {
      id = `outage-${this.now.toString(36)}-${k}`;
    }
    const sources: Record<string, { since: number }> = {};
    for (const s of sourceIds) sources[s] = { since: this.sourceSince(s) };
    const outage = {
      id,
      startedAt: this.now,
      phase: 'shutdown' as const,
      sources,
      inFlight: 0,
      holding: 0,
      restorePending: 0,
      wakeFailures: 0,
    };
    if (!carryFrom && !this.hostsDown) {
      // Nothing carried over: every host idle, waiting for all its blockers. The compiled plan has
      // this table ready; the step copies only the chunks it changes.
      const ups = c.fedManaged.map((fed): UpsRun => ({ unsettled: fed.length, touched: false }));
      this.o = working(
        outage,
        ups,
        new HostTableDraft(c.idleTable),
        new PVecDraft(pvecOf(zeros(c.classes.length))),
        new Map(),
        true,
      );
      this.emit({ type: 'outage-started', outage: id, sources: sourceIds });
      return;
    }
    const t = new HostTableDraft(c.idleTable);
    const n = c.hostIds.length;
    const left = !carryFrom && this.hostsDown ? new Set(this.hostsDown) : undefined;
    for (let h = 0; h < n; h++) {
      if (left?.has(c.hostIds[h]!)) {
        t.phase.set(h, DOWN);
        t.how.set(h, CARRIED);
      } else if (carryFrom) {
        // The engine is running, so the controller's host is up unless it is on its way down.
        if (h !== c.controller || isInFlight(carryFrom.hosts.phase.get(h)))
          carry(carryFrom.hosts, t, h, this.now);
      }
    }
    this.hostsDown = undefined;
    // Commands still running from the outage before keep their deadlines.
    const carried: Array<readonly [at: number, host: number]> = [];
    for (let h = 0; h < n; h++) {
      const blockers = c.blockers[h]!;
      let waitFor = blockers.length;
      for (const b of blockers) if (isSettled(t.phase.get(b))) waitFor--;
      if (t.waitFor.get(h) !== waitFor) t.waitFor.set(h, waitFor);
      const phase = t.phase.get(h);
      if (c.managed[h] && isInFlight(phase)) outage.inFlight++;
      if (phase === COMMANDED || phase === CANCELLING) carried.push([t.deadline.get(h), h]);
    }
    const ups = c.upsIds.map((_, u): UpsRun => {
      let unsettled = 0;
      let touched = false;
      for (const h of c.fedManaged[u]!) {
        const phase = t.phase.get(h);
        if (!isSettled(phase)) unsettled++;
        if (phase !== IDLE && phase !== TRIGGERED) touched = true;
      }
      return { unsettled, touched };
    });
    this.o = working(outage, ups, t, new PVecDraft(pvecOf(zeros(c.classes.length))), new Map(), true);
    this.emit({ type: 'outage-started', outage: id, sources: sourceIds });
    carried.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (const [at, h] of carried) this.addTimer(SHUTDOWN, c.timeoutMs[h]!, at, h);
    for (let h = 0; h < n; h++) if (t.phase.get(h) === TRIGGERED) this.o.dispatch.push(h);
  }

  private end(outcome: OutageOutcome): void {
    const o = this.o!;
    this.emit({ type: 'outage-ended', outage: o.id, outcome });
    this.learn(o);
    this.lastOutage = { id: o.id, outcome, endedAt: this.now };
    const down: string[] = [];
    const phases = o.hosts.phase;
    for (let h = 0; h < phases.length; h++) {
      if (h !== this.c.controller && (isCarriedDown(phases.get(h)) || mayBeDown(o.hosts, h)))
        down.push(this.c.hostIds[h]!);
    }
    this.hostsDown = down.length > 0 ? down : undefined;
    this.o = undefined;
  }

  /**
   * Remembers how long acknowledged shutdowns took, for the budget's expected durations: a new
   * list for each host that learned, the old one shared for the rest.
   */
  private learn(o: Working): void {
    const old = this.history;
    const { how, commandedAt, downAt } = o.hosts;
    const history: number[][] = [];
    let learned = false;
    for (let h = 0; h < how.length; h++) {
      const past = old[h]!;
      const from = commandedAt.get(h);
      const to = downAt.get(h);
      if (how.get(h) !== ACKNOWLEDGED || from === NONE || to === NONE) {
        history.push(past);
        continue;
      }
      const took = (to - from) / 1000;
      history.push(
        past.length < HISTORY_LENGTH ? past.concat(took) : past.slice(1 - HISTORY_LENGTH).concat(took),
      );
      learned = true;
    }
    if (learned) this.history = history;
  }

  // ---- shutdown ----

  private checkMainsBack(): void {
    const o = this.o!;
    let since = Number.NEGATIVE_INFINITY;
    for (const id of Object.keys(o.sources)) {
      if (!this.online(id)) return;
      since = Math.max(since, this.sources[id]!.onLineSince!);
    }
    if (this.now - since >= this.settings.mainsBackAfter * 1000) this.enterReturning();
  }

  /**
   * Mains is back: cancel what has not passed its point of no return. A host that must go down
   * (past its point of no return) takes the hosts that depend on it along, so order still holds.
   */
  private enterReturning(): void {
    const o = this.o!;
    const c = this.c;
    o.phase = 'returning';
    o.mainsReturnedAt = this.now;
    o.triggerCheckAt = undefined;
    this.emit({ type: 'mains-returned', outage: o.id });
    const t = o.hosts;
    const committed = new Uint8Array(c.hostIds.length);
    for (const h of c.topo) {
      let forced = false;
      for (const b of c.waiting[h]!) if (committed[b]) forced = true;
      const phase = t.phase.get(h);
      const ponr = c.pointOfNoReturn[h];
      if (phase === IDLE && forced && c.kinds[h] !== 'wake-only') {
        this.trigger(h, 'a host it depends on is past its point of no return', false);
      } else if (phase === TRIGGERED && ponr !== 'triggered' && !forced) {
        t.phase.set(h, CANCELLED);
        if (c.managed[h]) o.inFlight--;
        this.emit({ type: 'host-cancelled', outage: o.id, host: c.hostIds[h]! });
      } else if (phase === COMMANDED && ponr === 'powering-off' && !forced) {
        const host = c.hostIds[h]!;
        t.phase.set(h, CANCELLING);
        t.cancel.set(h, o.id);
        this.emit({
          type: 'cancel-shutdown',
          outage: o.id,
          host,
          kind: c.kinds[h]!,
          commandId: cancelIdOf(o.id, host),
          ref: commandIdOf(t.command.get(h), host),
          deadline: t.deadline.get(h),
        });
      }
      const after = t.phase.get(h);
      if (after === TRIGGERED || after === COMMANDED) committed[h] = 1;
    }
  }

  /**
   * A host idle again in the middle of a shutdown (its carried cancel went through) goes as soon
   * as its own trigger has fired, or as soon as a host it must precede is going down.
   */
  private rearm(h: number): void {
    const o = this.o!;
    const c = this.c;
    for (const x of c.waiting[h]!) {
      const phase = o.hosts.phase.get(x);
      if (isInFlight(phase) || isSettled(phase)) {
        this.trigger(h, c.precedeReasons[x]!, true);
        return;
      }
    }
    const cls = c.classOf[h]!;
    if (cls < 0) return;
    const cursor = o.classes.get(cls);
    const order = budgetTable(c, this.history).order[cls]!;
    if (cursor === -1 || order.indexOf(h) < cursor)
      this.trigger(h, 'its trigger fired earlier in this outage', true);
  }

  private evaluateTriggers(): void {
    const o = this.o!;
    if (!o.evaluate && !(o.triggerCheckAt !== undefined && this.now >= o.triggerCheckAt)) return;
    const c = this.c;
    const table = budgetTable(c, this.history);
    let nextCheck = Number.POSITIVE_INFINITY;
    const seen = new Set<number>();
    for (const sourceId of Object.keys(o.sources)) {
      for (const cls of c.classesBySource[c.upsIndex.get(sourceId)!]!) {
        if (seen.has(cls)) continue;
        seen.add(cls);
        const cursor = o.classes.get(cls);
        if (cursor === -1) continue;
        const result = this.evaluateClass(cls, table);
        nextCheck = Math.min(nextCheck, result.nextCheck);
        if (result.fired !== undefined) {
          o.classes.set(cls, -1);
          // Indexed loops on paths that visit every host: for-of costs an iterator step per item
          // in code not yet optimized, and the first outage runs such code.
          const hosts = c.classes[cls]!.hosts;
          for (let k = 0; k < hosts.length; k++) this.trigger(hosts[k]!, result.fired, true);
        } else if (result.budget !== undefined) {
          const order = table.order[cls]!;
          let k = cursor;
          while (k < order.length && table.threshold[order[k]!]! >= result.budget.critical) {
            const h = order[k++]!;
            this.trigger(h, result.budget.describe(h), true);
          }
          if (k !== cursor) o.classes.set(cls, k);
          if (k < order.length)
            nextCheck = Math.min(nextCheck, result.budget.nextAt(table.threshold[order[k]!]!));
        }
      }
    }
    o.triggerCheckAt = Number.isFinite(nextCheck) ? nextCheck : undefined;
  }

  /**
   * A class fires when fewer than its minimum supplies remain healthy. A supply is lost to the
   * class when one of its triggers fires on it; for the budget, hosts with larger needs fire first.
   */
  private evaluateClass(
    cls: number,
    table: ReturnType<typeof budgetTable>,
  ): {
    fired?: string;
    budget?: { critical: number; describe: (h: number) => string; nextAt: (threshold: number) => number };
    nextCheck: number;
  } {
    const o = this.o!;
    const c = this.c;
    const klass = c.classes[cls]!;
    const total = klass.supplies.length;
    let lost = 0;
    let firstReason: string | undefined;
    let nextCheck = Number.POSITIVE_INFINITY;
    const estimates: Array<{ source: string; runtime: number }> = [];
    for (const u of klass.supplies) {
      const id = c.upsIds[u]!;
      const os = ownEntry(o.sources, id);
      const s = this.sources[id]!;
      if (s.reading?.status.includes('FSD')) {
        lost++;
        firstReason ??= `${id} forced shutdown (FSD)`;
        continue;
      }
      if (!os || s.onBatterySince === undefined) continue;
      const fired = this.firedTrigger(klass.triggers, id, os.since, s);
      if (fired.reason !== undefined) {
        lost++;
        firstReason ??= fired.reason;
        continue;
      }
      nextCheck = Math.min(nextCheck, fired.nextCheck);
      if (klass.budgetMargin !== undefined) {
        const runtime = this.runtimeLeft(id, s);
        if (runtime !== undefined) estimates.push({ source: id, runtime });
      }
    }
    const needed = total - klass.minSupplies + 1 - lost;
    if (needed <= 0) return { fired: firstReason ?? 'supplies lost', nextCheck };
    if (klass.budgetMargin === undefined || estimates.length < needed) return { nextCheck };
    estimates.sort((a, b) => a.runtime - b.runtime);
    const critical = estimates[needed - 1]!;
    const margin = klass.budgetMargin;
    return {
      nextCheck,
      budget: {
        critical: critical.runtime,
        describe: (h) =>
          `budget: ${critical.source} has ~${Math.max(0, Math.round(critical.runtime))} s of runtime left; ` +
          `${Math.round(table.tail[h]!)} s needed + ${margin} s margin`,
        // Runtime counts down in real time between readings.
        nextAt: (threshold) => this.now + Math.max(1, (critical.runtime - threshold) * 1000),
      },
    };
  }

  private runtimeLeft(id: string, s: SourceState): number | undefined {
    if (this.runtimes.has(id)) return this.runtimes.get(id);
    const runtime = estimateRuntime(
      s.reading,
      s.readingAt,
      s.depletion,
      this.settings.budget.reserveCharge,
      this.now,
    );
    this.runtimes.set(id, runtime);
    return runtime;
  }

  private firedTrigger(
    triggers: readonly Trigger[],
    id: string,
    since: number,
    s: SourceState,
  ): { reason?: string; nextCheck: number } {
    const r = s.reading;
    let nextCheck = Number.POSITIVE_INFINITY;
    const lostAt = this.lostAt(s);
    for (const t of triggers) {
      switch (t.type) {
        case 'on-battery': {
          const at = since + t.after * 1000;
          if (this.now >= at) return { reason: describeTrigger(t, id), nextCheck };
          nextCheck = Math.min(nextCheck, at);
          break;
        }
        case 'charge-below':
          if (r?.charge !== undefined && r.charge <= t.percent)
            return { reason: describeTrigger(t, id), nextCheck };
          break;
        case 'runtime-below':
          if (r?.runtime !== undefined && r.runtime <= t.seconds)
            return { reason: describeTrigger(t, id), nextCheck };
          break;
        case 'low-battery':
          if (r?.status.includes('LB')) return { reason: describeTrigger(t, id), nextCheck };
          break;
        case 'fsd':
          break;
        case 'comm-lost': {
          const from =
            lostAt ?? (s.readingAt !== undefined ? s.readingAt + this.settings.staleAfter * 1000 : undefined);
          if (from === undefined) break;
          const at = from + t.after * 1000;
          if (lostAt !== undefined && this.now >= at) return { reason: describeTrigger(t, id), nextCheck };
          nextCheck = Math.min(nextCheck, Math.max(at, this.now + 1));
          break;
        }
        case 'budget':
          break;
      }
    }
    return { nextCheck };
  }

  /** Marks a host triggered and pulls down what must go before it: the hosts that depend on it. */
  private trigger(first: number, reason: string, propagate: boolean): void {
    const o = this.o!;
    const c = this.c;
    const { phase, trigger, triggeredAt } = o.hosts;
    // A mass trigger calls this for every host of a class, most already pulled down by others.
    if (phase.get(first) !== IDLE) return;
    // Loop invariants in locals: the first outage runs this loop for thousands of hosts before V8
    // has compiled it, and the interpreter loads every property each time it is named.
    const { kinds, managed, blockers, hostIds, precedeReasons } = c;
    const { actions, now } = this;
    // Pairs of (host, the host that pulled it down; -1 for `reason`).
    const stack: number[] = [first, -1];
    while (stack.length > 0) {
      const cause = stack.pop()!;
      const h = stack.pop()!;
      if (phase.get(h) !== IDLE || kinds[h] === 'wake-only') continue;
      const why = cause < 0 ? reason : precedeReasons[cause]!;
      phase.set(h, TRIGGERED);
      trigger.set(h, why);
      triggeredAt.set(h, now);
      if (managed[h]) o.inFlight++;
      actions.push({ type: 'host-triggered', outage: o.id, host: hostIds[h]!, trigger: why });
      o.dispatch.push(h);
      if (!propagate) continue;
      const mine = blockers[h]!;
      for (let k = mine.length - 1; k >= 0; k--) {
        const b = mine[k]!;
        if (phase.get(b) === IDLE) stack.push(b, h);
      }
    }
  }

  /** Fewer of the host's supplies are healthy than it needs. */
  private losingPower(h: number): boolean {
    const o = this.o!;
    let healthy = 0;
    for (const u of this.c.supplies[h]!)
      if (!ownEntry(o.sources, this.c.upsIds[u]!) || this.online(this.c.upsIds[u]!)) healthy++;
    return healthy < this.c.minSupplies[h]!;
  }

  /** Marks a host up (it reported healthy, was woken without a health check, or is the controller's). */
  private markUp(h: number): void {
    const t = this.o!.hosts;
    t.phase.set(h, UP);
    t.upAt.set(h, this.now);
  }

  /** A commanded host is down: by acknowledgement, or because its deadline passed. */
  private settle(h: number, how: typeof ACKNOWLEDGED | typeof DEADLINE_PASSED, lastStep?: number): void {
    const o = this.o!;
    const c = this.c;
    const t = o.hosts;
    t.phase.set(h, how === ACKNOWLEDGED ? DOWN : OVERDUE);
    t.downAt.set(h, this.now);
    t.how.set(h, how);
    if (lastStep !== undefined) t.lastStep.set(h, lastStep);
    this.emit({
      type: 'host-down',
      outage: o.id,
      host: c.hostIds[h]!,
      how: how === ACKNOWLEDGED ? 'acknowledged' : 'deadline-passed',
    });
    if (c.managed[h]) {
      o.inFlight--;
      for (const u of c.supplies[h]!) o.ups[u]!.unsettled--;
    }
    const holds = how === DEADLINE_PASSED && c.hold[h];
    for (const b of c.waiting[h]!) {
      if (holds) this.hold(b);
      else this.unblock(b, false);
    }
  }

  private unblock(b: number, wasHeld: boolean): void {
    const o = this.o!;
    const t = o.hosts;
    t.waitFor.set(b, t.waitFor.get(b) - 1);
    if (wasHeld) {
      const held = t.held.get(b) - 1;
      t.held.set(b, held);
      if (held === 0) o.holding--;
    }
    if (t.phase.get(b) === TRIGGERED) o.dispatch.push(b);
  }

  private hold(b: number): void {
    const o = this.o!;
    const t = o.hosts;
    const held = t.held.get(b);
    if (held === 0) o.holding++;
    t.held.set(b, held + 1);
    if (t.phase.get(b) === TRIGGERED) o.dispatch.push(b);
  }

  /** Held hosts whose supply turned critical (or whose outage is over) may go now. */
  private reviewHeld(): void {
    const o = this.o!;
    const { held, phase } = o.hosts;
    for (let h = 0; h < held.length; h++) {
      if (held.get(h) !== 0 && phase.get(h) === TRIGGERED) o.dispatch.push(h);
    }
  }

  private critical(h: number): boolean {
    if (this.o!.phase === 'returning') return true;
    for (const u of this.c.supplies[h]!) {
      const status = this.sources[this.c.upsIds[u]!]!.reading?.status;
      if (status && (status.includes('FSD') || (status.includes('LB') && status.includes('OB')))) return true;
    }
    return false;
  }

  private dispatch(): void {
    const o = this.o!;
    const c = this.c;
    if (o.phase === 'restore') {
      o.dispatch.length = 0;
      return;
    }
    const { phase, waitFor, held, trigger } = o.hosts;
    for (let k = 0; k < o.dispatch.length; k++) {
      const h = o.dispatch[k]!;
      if (phase.get(h) !== TRIGGERED || h === c.controller) continue;
      const waiting = waitFor.get(h);
      const clear = waiting === 0 || (waiting === held.get(h) && this.critical(h));
      if (!clear) continue;
      this.command(h, trigger.get(h) || 'triggered');
    }
    o.dispatch.length = 0;
  }

  private command(h: number, reason: string): void {
    const o = this.o!;
    const c = this.c;
    const host = c.hostIds[h]!;
    const deadline = this.now + c.timeoutMs[h]!;
    const t = o.hosts;
    t.phase.set(h, COMMANDED);
    t.command.set(h, o.id);
    t.commandedAt.set(h, this.now);
    t.deadline.set(h, deadline);
    this.addTimer(SHUTDOWN, c.timeoutMs[h]!, deadline, h);
    const supplies = c.supplies[h]!;
    for (let k = 0; k < supplies.length; k++) o.ups[supplies[k]!]!.touched = true;
    this.actions.push({
      type: 'shutdown-host',
      outage: o.id,
      host,
      kind: c.kinds[h]!,
      commandId: commandIdOf(o.id, host),
      deadline,
      reason,
    });
  }

  /**
   * A UPS is powered off once every managed host it feeds is down or past its deadline (and one
   * of them was shut down in this outage). If it feeds the controller's host, that host is
   * triggered and the power-off waits until the controller may go: the controller goes last.
   */
  private powerOffs(): void {
    const o = this.o!;
    const c = this.c;
    this.plan.ups.forEach((ups, u) => {
      const run = o.ups[u]!;
      if (
        !ups.powerOff.enabled ||
        run.powerOffAt !== undefined ||
        !ownEntry(o.sources, ups.id) ||
        run.unsettled > 0
      )
        return;
      if (c.feedsController[u]) {
        if (o.hosts.phase.get(c.controller) === IDLE) {
          if (!run.touched) return;
          this.trigger(c.controller, `every host on ${ups.id} is down`, true);
        }
        if (!this.controllerMayGo()) return;
      } else if (!run.touched) {
        return;
      }
      run.powerOffAt = this.now;
      this.emit({ type: 'power-off-ups', outage: o.id, source: ups.id, delaySeconds: ups.powerOff.delay });
    });
  }

  /**
   * The controller's host goes last: after every other host in flight, and after every host still
   * losing power that has not been triggered yet (its trigger lets it go, never drags others down).
   */
  private controllerMayGo(): boolean {
    const o = this.o!;
    const c = this.c;
    if (o.inFlight > 0) return false;
    const t = o.hosts;
    const phase = t.phase.get(c.controller);
    if (phase === COMMANDED) return true;
    if (phase !== TRIGGERED) return false;
    // Hosts that depend on the controller's host go before it, like any dependents.
    const waitFor = t.waitFor.get(c.controller);
    if (waitFor > 0 && !(waitFor === t.held.get(c.controller) && this.critical(c.controller))) return false;
    if (o.phase !== 'shutdown') return true;
    for (let h = 0; h < t.length; h++) {
      if (c.managed[h] && t.phase.get(h) === IDLE && this.losingPower(h)) return false;
    }
    return true;
  }

  private dispatchController(): void {
    const o = this.o!;
    const h = this.c.controller;
    if (h < 0 || o.hosts.phase.get(h) !== TRIGGERED || !this.controllerMayGo()) return;
    const powered = this.plan.ups.filter(
      (_, u) => this.c.feedsController[u] && o.ups[u]!.powerOffAt !== undefined,
    );
    this.command(
      h,
      powered.length > 0
        ? `last host: ${powered.map((u) => u.id).join(', ')} powering off`
        : o.hosts.trigger.get(h) || 'last host',
    );
  }

  // ---- timers ----

  private addTimer(kind: string, lengthMs: number, at: number, h: number): void {
    const o = this.o!;
    const key = timerKey(kind, lengthMs);
    let q = o.timers.get(key);
    if (!q) {
      q = { head: 0, at: new PVecDraft(pvecOf<number>([])), host: new PVecDraft(pvecOf<number>([])) };
      o.timers.set(key, q);
      o.timersAdded = true;
    }
    q.at.push(at);
    q.host.push(h);
  }

  private timerValid(kind: string, at: number, h: number): boolean {
    const t = this.o!.hosts;
    const phase = t.phase.get(h);
    if (kind === SHUTDOWN) return (phase === COMMANDED || phase === CANCELLING) && t.deadline.get(h) === at;
    return phase === WAKING && t.wakeDeadline.get(h) === at;
  }

  private expireTimers(): void {
    const o = this.o!;
    // Queues are kept in key order (see `close`), so this order is the same after a restart.
    for (const [key, q] of o.timers) {
      const kind = key.slice(0, key.indexOf(':'));
      while (q.head < q.at.length) {
        const at = q.at.get(q.head);
        const h = q.host.get(q.head);
        if (at > this.now) break;
        q.head++;
        if (!this.timerValid(kind, at, h)) continue;
        if (kind === SHUTDOWN) this.settle(h, DEADLINE_PASSED);
        else this.wakeTimedOut(h);
      }
    }
  }

  // ---- returning and restore ----

  /** Mains is back and nothing is in flight: restore, or end the outage. */
  private checkReturned(): void {
    const o = this.o!;
    const c = this.c;
    if (o.inFlight > 0) return;
    if (c.controller >= 0 && isInFlight(o.hosts.phase.get(c.controller))) return;
    let wentDown = false;
    for (let h = 0; h < o.hosts.length && !wentDown; h++) wentDown = mayBeDown(o.hosts, h);
    if (!wentDown && o.ups.every((u) => u.powerOffAt === undefined)) this.end('averted');
    else if (!this.plan.restore.enabled) this.end('not-restored');
    else this.enterRestore();
  }

  private enterRestore(): void {
    const o = this.o!;
    const c = this.c;
    o.phase = 'restore';
    // The controller's host acknowledged going down and the engine runs again: its supplies were
    // cut (a halted host only boots when its power returns), so whatever else they feed lost power.
    const t = o.hosts;
    const controllerCycled =
      c.controller >= 0 && t.phase.get(c.controller) === DOWN && t.how.get(c.controller) === ACKNOWLEDGED;
    const cut = (u: number) =>
      o.ups[u]!.powerOffAt !== undefined || (controllerCycled && c.feedsController[u]!);
    const poweredOff = (h: number) => {
      let remaining = 0;
      for (const u of c.supplies[h]!) if (!cut(u)) remaining++;
      return remaining < c.minSupplies[h]!;
    };
    const inSet = new Uint8Array(c.hostIds.length);
    for (let h = 0; h < t.length; h++) {
      const down = mayBeDown(t, h);
      if (h === c.controller) {
        // The engine is running, so the controller's host is up.
        if (down || t.phase.get(h) === CANCELLED) {
          this.markUp(h);
          this.emit({ type: 'host-up', outage: o.id, host: c.hostIds[h]!, how: 'controller' });
        }
        continue;
      }
      if (down || (c.kinds[h] === 'wake-only' && poweredOff(h))) inSet[h] = 1;
    }
    for (let h = 0; h < t.length; h++) {
      if (t.held.get(h) !== 0) t.held.set(h, 0);
      if (!inSet[h]) continue;
      let waitFor = 0;
      for (const d of c.restoreDeps[h]!) if (inSet[d]) waitFor++;
      t.phase.set(h, RESTORE_WAIT);
      t.waitFor.set(h, waitFor);
      const flags = t.flags.get(h);
      if (flags & UNVERIFIED) t.flags.set(h, flags & ~UNVERIFIED);
      o.restorePending++;
    }
    o.holding = 0;
  }

  private restore(): void {
    const o = this.o!;
    if (o.restoreStartedAt === undefined) {
      // Everything came back by itself (or only the controller's host went down): nothing to switch on.
      if (o.restorePending === 0) {
        this.end('restored');
        return;
      }
      if (!this.gatesOpen()) return;
      o.restoreStartedAt = this.now;
      this.emit({ type: 'restore-started', outage: o.id });
      this.plan.ups.forEach((ups, u) => {
        const run = o.ups[u]!;
        if (run.powerOffAt === undefined) return;
        run.outputOnAt = this.now;
        this.emit({ type: 'ups-output-on', outage: o.id, source: ups.id });
      });
      for (let h = 0; h < o.hosts.length; h++) o.wakeable.push(h);
    }
    for (let k = 0; k < o.wakeable.length; k++) {
      const h = o.wakeable[k]!;
      if (o.hosts.phase.get(h) !== RESTORE_WAIT || o.hosts.waitFor.get(h) > 0) continue;
      this.wake(h, 1);
    }
    o.wakeable.length = 0;
    if (o.restorePending === 0) this.end(o.wakeFailures > 0 ? 'partially-restored' : 'restored');
  }

  /**
   * Every UPS of the outage has been on mains for the stable time and charged enough, and every
   * power cycle this outage asked for has happened (waking hosts before the cut would only see
   * them cut).
   */
  private gatesOpen(): boolean {
    const o = this.o!;
    const { mainsStableFor, minCharge } = this.plan.restore;
    for (let u = 0; u < o.ups.length; u++) {
      const at = o.ups[u]!.powerOffAt;
      const { delay, offFor } = this.plan.ups[u]!.powerOff;
      if (at !== undefined && this.now < at + (delay + offFor) * 1000) return false;
    }
    for (const id of Object.keys(o.sources)) {
      if (!this.online(id)) return false;
      const s = this.sources[id]!;
      if (this.now - s.onLineSince! < mainsStableFor * 1000) return false;
      const charge = s.reading?.charge;
      if (minCharge > 0 && (charge === undefined || charge < minCharge)) return false;
    }
    return true;
  }

  private wake(h: number, attempt: number): void {
    const o = this.o!;
    const c = this.c;
    const w = c.wake[h]!;
    const host = c.hostIds[h]!;
    const t = o.hosts;
    if (w.method === 'none') {
      t.phase.set(h, SKIPPED);
      this.emit({ type: 'host-restore-skipped', outage: o.id, host, reason: 'wake method is none' });
      this.restored(h, false);
      return;
    }
    const wakeId = wakeIdOf(o.id, host, attempt);
    const deadline = this.now + w.timeoutMs;
    t.phase.set(h, WAKING);
    t.wakeAttempt.set(h, attempt);
    t.wakeDeadline.set(h, deadline);
    this.addTimer(WAKE, w.timeoutMs, deadline, h);
    this.emit({
      type: 'wake-host',
      outage: o.id,
      host,
      kind: c.kinds[h]!,
      wakeId,
      attempt,
      deadline,
      method: w.method,
      ...(w.mac !== undefined && { mac: w.mac }),
      ...(w.broadcast !== undefined && { broadcast: w.broadcast }),
      ...(w.via !== undefined && { via: c.hostIds[w.via]! }),
      health: w.health,
    });
    if (w.health.type === 'none') {
      this.markUp(h);
      this.emit({ type: 'host-up', outage: o.id, host, how: 'unchecked' });
      this.restored(h, false);
    }
  }

  private wakeTimedOut(h: number): void {
    const o = this.o!;
    const attempt = o.hosts.wakeAttempt.get(h) || 1;
    if (attempt <= this.c.wake[h]!.retries) {
      this.wake(h, attempt + 1);
      return;
    }
    o.hosts.phase.set(h, WAKE_FAILED);
    o.wakeFailures++;
    this.emit({ type: 'host-wake-failed', outage: o.id, host: this.c.hostIds[h]!, attempts: attempt });
    this.restored(h, true);
  }

  /** A host to restore reached its end: up, failed or skipped. Its dependents may go next. */
  private restored(first: number, failedFirst: boolean): void {
    const o = this.o!;
    const c = this.c;
    const t = o.hosts;
    const skipDependents = this.plan.restore.onWakeFailure === 'skip-dependents';
    const stack: Array<[number, boolean]> = [[first, failedFirst]];
    while (stack.length > 0) {
      const [h, failed] = stack.pop()!;
      o.restorePending--;
      for (const d of c.restoreDependents[h]!) {
        if (t.phase.get(d) !== RESTORE_WAIT) continue;
        t.waitFor.set(d, t.waitFor.get(d) - 1);
        if (failed && skipDependents) {
          t.phase.set(d, SKIPPED);
          this.emit({
            type: 'host-restore-skipped',
            outage: o.id,
            host: c.hostIds[d]!,
            reason: `'${c.hostIds[h]}' did not come back`,
          });
          stack.push([d, true]);
        } else {
          o.wakeable.push(d);
        }
      }
    }
  }

  // ---- plumbing ----

  private emit(action: EngineAction): void {
    this.actions.push(action);
  }

  private open(outage: OutageState): Working {
    const timers = new Map<string, TimerDraft>();
    for (const [key, q] of Object.entries(outage.timers))
      timers.set(key, { head: q.head, at: new PVecDraft(q.at), host: new PVecDraft(q.host) });
    return working(
      outage,
      // Four or so small objects: copied up front so that the step may change them in place.
      outage.ups.map((u) => ({ ...u })),
      new HostTableDraft(outage.hosts),
      new PVecDraft(outage.classes),
      timers,
      false,
    );
  }

  private close(w: Working): OutageState {
    const timers: Record<string, TimerQueue> = {};
    const queues = w.timersAdded ? [...w.timers].sort(([a], [b]) => (a < b ? -1 : 1)) : w.timers;
    for (const [key, q] of queues) {
      const kind = key.slice(0, key.indexOf(':'));
      // Drop entries that no longer matter (acknowledged before their deadline), then empty queues.
      let head = q.head;
      while (head < q.at.length) {
        if (this.timerValid(kind, q.at.get(head), q.host.get(head))) break;
        head++;
      }
      if (head >= q.at.length) continue;
      const at = q.at.finish();
      const host = q.host.finish();
      // Compact a queue once most of it is spent, so a long outage does not carry its history.
      timers[key] =
        head >= 64 && head * 2 >= at.size
          ? { head: 0, at: pvecOf(pvecSlice(at, head)), host: pvecOf(pvecSlice(host, head)) }
          : { head, at, host };
    }
    const outage: OutageState = {
      id: w.id,
      startedAt: w.startedAt,
      phase: w.phase,
      sources: w.sources,
      hosts: w.hosts.finish(),
      classes: w.classes.finish(),
      ups: w.ups,
      inFlight: w.inFlight,
      holding: w.holding,
      restorePending: w.restorePending,
      wakeFailures: w.wakeFailures,
      timers,
    };
    if (w.mainsReturnedAt !== undefined) outage.mainsReturnedAt = w.mainsReturnedAt;
    if (w.restoreStartedAt !== undefined) outage.restoreStartedAt = w.restoreStartedAt;
    if (w.triggerCheckAt !== undefined && w.phase === 'shutdown') outage.triggerCheckAt = w.triggerCheckAt;
    return outage;
  }
}

/** `n` zeros, in an array without holes (see `PVecDraft`). */
function zeros(n: number): number[] {
  const items: number[] = [];
  for (let i = 0; i < n; i++) items.push(0);
  return items;
}

const timerKeys = new Map<number, string>();
/** `shutdown:180000`: one interned string per kind and length. */
function timerKey(kind: string, lengthMs: number): string {
  const id = (kind === SHUTDOWN ? 0 : 1) + lengthMs * 2;
  let key = timerKeys.get(id);
  if (key === undefined) {
    key = `${kind}:${lengthMs}`;
    timerKeys.set(id, key);
  }
  return key;
}

/** Down, past its deadline, or possibly never back from an earlier wake-up. */
function mayBeDown(t: HostTableDraft, h: number): boolean {
  const phase = t.phase.get(h);
  return isSettled(phase) || ((t.flags.get(h) & UNVERIFIED) !== 0 && (phase === IDLE || phase === CANCELLED));
}

/**
 * Host h's run at the start of an outage that follows `previous` (power failed again), written
 * into `next`, which holds h idle.
 */
function carry(previous: HostTableDraft, next: HostTableDraft, h: number, now: number): void {
  const phase = previous.phase.get(h);
  if (isCarriedDown(phase)) {
    const downAt = previous.downAt.get(h);
    next.phase.set(h, DOWN);
    next.how.set(h, CARRIED);
    next.downAt.set(h, downAt === NONE ? now : downAt);
  } else if (isInFlight(phase)) {
    // Still going down: everything but what it waits for, which the new outage counts afresh.
    next.copyHost(previous, h);
    next.held.set(h, 0);
  } else if (phase === WAKING || (previous.flags.get(h) & UNVERIFIED && phase !== UP)) {
    next.flags.set(h, UNVERIFIED);
  }
}

export function describeTrigger(trigger: Trigger, source: string): string {
  switch (trigger.type) {
    case 'on-battery':
      return `${source} on battery for ${trigger.after} s`;
    case 'charge-below':
      return `${source} charge ≤ ${trigger.percent} %`;
    case 'runtime-below':
      return `${source} runtime ≤ ${trigger.seconds} s`;
    case 'low-battery':
      return `${source} low battery`;
    case 'fsd':
      return `${source} forced shutdown (FSD)`;
    case 'comm-lost':
      return `${source} lost for ${trigger.after} s while on battery`;
    case 'budget':
      return `${source} runtime budget`;
  }
}

// ---- timers derived from state ------------------------------------------------------------

/**
 * The next instant after the last step at which `step(state, {type:'tick'}, t)` could act on its
 * own: a debounce ending, a timed trigger, a deadline, mains counting as back, a restore gate.
 * The runtime sets one timer for it; nothing else is stored.
 */
export function nextWakeAt(state: EngineState): number | undefined {
  const { plan, clock } = state;
  const s = plan.settings;
  let next = Number.POSITIVE_INFINITY;
  const consider = (t: number | undefined) => {
    if (t !== undefined && t > clock && t < next) next = t;
  };
  const outage = state.outage;
  for (const [id, source] of Object.entries(state.sources)) {
    if (
      source.onBatterySince !== undefined &&
      !(outage?.phase === 'shutdown' && ownEntry(outage.sources, id))
    )
      consider(source.onBatterySince + s.debounce * 1000);
  }
  if (outage) {
    for (const q of Object.values(outage.timers)) consider(pvecGet(q.at, q.head));
    const onLine = Object.keys(outage.sources).map((id) => state.sources[id]);
    const allOnLine = onLine.every((x) => x?.onLineSince !== undefined && x.lostSince === undefined);
    const since = allOnLine ? Math.max(...onLine.map((x) => x!.onLineSince!)) : undefined;
    if (outage.phase === 'shutdown') {
      consider(outage.triggerCheckAt);
      if (since !== undefined) consider(since + s.mainsBackAfter * 1000);
    }
    if (outage.phase === 'restore' && outage.restoreStartedAt === undefined) {
      if (since !== undefined) consider(since + plan.restore.mainsStableFor * 1000);
      outage.ups.forEach((u, i) => {
        const { delay, offFor } = plan.ups[i]!.powerOff;
        if (u.powerOffAt !== undefined) consider(u.powerOffAt + (delay + offFor) * 1000);
      });
    }
  }
  return Number.isFinite(next) ? next : undefined;
}

/** The running outage's per-host state, keyed by host id (empty without an outage). */
export function hostRuns(state: EngineState): Map<string, HostRun> {
  const outage = state.outage;
  if (!outage) return new Map();
  return new Map(state.plan.hosts.map((h, i) => [h.id, readRun(outage.hosts, i, h.id, outage.id)]));
}

/** One host's state in the running outage (undefined without an outage, or for an unknown host). */
export function hostRun(state: EngineState, hostId: string): HostRun | undefined {
  const outage = state.outage;
  const h = outage && compilePlan(state.plan).hostIndex.get(hostId);
  return outage && h !== undefined ? readRun(outage.hosts, h, hostId, outage.id) : undefined;
}
