import {
  budgetTable,
  type DepletionAnchor,
  type DurationHistory,
  estimateRuntime,
  HISTORY_LENGTH,
  ownEntry,
} from './budget.ts';
import { type CompiledPlan, compilePlan } from './compile.ts';
import type { HealthCheck, HostKind, Plan, Trigger, WakeMethod } from './plan.ts';
import { type PVec, PVecDraft, pvecGet, pvecOf, pvecToArray } from './pvec.ts';
import { powerOf, type UpsReading } from './reading.ts';

// ---- events in, actions out ---------------------------------------------------------------

/** Progress a host reports for a command (from its agent, or from the NUT server for nut-clients). */
export type HostStep =
  | 'received'
  | 'hook-started'
  | 'hook-finished'
  | 'powering-off'
  | 'failed'
  | 'cancelled';

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

/**
 * Shutdown: idle → triggered → commanded → down (acknowledged) | overdue (deadline passed)
 *           triggered → cancelled, commanded → cancelling → cancelled (mains came back in time)
 * Restore:  down | overdue → restore-wait → waking → up | wake-failed; restore-wait → skipped
 */
export type HostPhase =
  | 'idle'
  | 'triggered'
  | 'commanded'
  | 'cancelling'
  | 'down'
  | 'overdue'
  | 'cancelled'
  | 'restore-wait'
  | 'waking'
  | 'up'
  | 'wake-failed'
  | 'skipped';

export interface HostRun {
  phase: HostPhase;
  /**
   * While shutting down: commanded hosts that must be down before this one may go.
   * While restoring: hosts that must be up before this one is woken.
   */
  waitFor: number;
  /** Of `waitFor`, hosts past their deadline under the `hold` fallback. */
  held?: number;
  trigger?: string;
  triggeredAt?: number;
  commandId?: string;
  commandedAt?: number;
  deadline?: number;
  lastStep?: HostStep;
  downAt?: number;
  how?: 'acknowledged' | 'deadline-passed' | 'carried';
  /** An overdue host that acknowledged late and released the hosts it held. */
  released?: boolean;
  cancelId?: string;
  wakeId?: string;
  wakeAttempt?: number;
  wakeDeadline?: number;
  upAt?: number;
  /**
   * Power failed again while this host was being woken: it may be up or not. It is shut down like
   * any running host, and woken (with a health wait) by the next restore unless it reports healthy.
   */
  unverified?: boolean;
}

/**
 * A copy of a run, field by field in declaration order. Steps that change thousands of hosts copy
 * them here: on Node 20's V8, adding fields to a spread copy (`{ ...run }`, then a phase change)
 * takes a slow path, ten times slower than this; and an empty literal has room for four fields in
 * the object itself where `{ phase, waitFor }` has two. test/engine.test.ts checks that every
 * field of `HostRun` is copied.
 */
export function copyRun(run: HostRun): HostRun {
  const copy = {} as HostRun;
  copy.phase = run.phase;
  copy.waitFor = run.waitFor;
  if (run.held !== undefined) copy.held = run.held;
  if (run.trigger !== undefined) copy.trigger = run.trigger;
  if (run.triggeredAt !== undefined) copy.triggeredAt = run.triggeredAt;
  if (run.commandId !== undefined) copy.commandId = run.commandId;
  if (run.commandedAt !== undefined) copy.commandedAt = run.commandedAt;
  if (run.deadline !== undefined) copy.deadline = run.deadline;
  if (run.lastStep !== undefined) copy.lastStep = run.lastStep;
  if (run.downAt !== undefined) copy.downAt = run.downAt;
  if (run.how !== undefined) copy.how = run.how;
  if (run.released !== undefined) copy.released = run.released;
  if (run.cancelId !== undefined) copy.cancelId = run.cancelId;
  if (run.wakeId !== undefined) copy.wakeId = run.wakeId;
  if (run.wakeAttempt !== undefined) copy.wakeAttempt = run.wakeAttempt;
  if (run.wakeDeadline !== undefined) copy.wakeDeadline = run.wakeDeadline;
  if (run.upAt !== undefined) copy.upAt = run.upAt;
  if (run.unverified !== undefined) copy.unverified = run.unverified;
  return copy;
}

export interface UpsRun {
  /** Managed hosts this UPS feeds that are not down or past their deadline. */
  unsettled: number;
  /** A host this UPS feeds was shut down in this outage. */
  touched: boolean;
  powerOffAt?: number;
  outputOnAt?: number;
}

/** Deadlines of one length, in the order they were set (so in time order). */
export interface TimerQueue {
  head: number;
  items: PVec<readonly [at: number, host: number]>;
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
  hosts: PVec<HostRun>;
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
  /** Learned shutdown durations (seconds, oldest first) for the budget trigger. */
  history: Record<string, number[]>;
}

export interface StepResult {
  state: EngineState;
  actions: EngineAction[];
}

export function initialState(plan: Plan, options: { history?: DurationHistory } = {}): EngineState {
  const history: Record<string, number[]> = {};
  for (const h of plan.hosts) {
    const past = options.history && ownEntry(options.history, h.id);
    if (past && past.length > 0) history[h.id] = past.slice(-HISTORY_LENGTH);
  }
  return { plan, clock: 0, sources: Object.fromEntries(plan.ups.map((u) => [u.id, {}])), history };
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
// Phase tests run per host and per dependency edge: comparisons, cheaper than set lookups.
const isSettled = (phase: HostPhase) => phase === 'down' || phase === 'overdue';
const isInFlight = (phase: HostPhase) =>
  phase === 'triggered' || phase === 'commanded' || phase === 'cancelling';
const isRestoring = (phase: HostPhase) => phase === 'restore-wait' || phase === 'waking';
const isCarriedDown = (phase: HostPhase) =>
  isSettled(phase) || phase === 'restore-wait' || phase === 'wake-failed' || phase === 'skipped';

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
  hosts: PVecDraft<HostRun>;
  classes: PVecDraft<number>;
  ups: UpsRun[];
  inFlight: number;
  holding: number;
  restorePending: number;
  wakeFailures: number;
  timers: Map<string, { head: number; items: PVecDraft<readonly [number, number]> }>;
  /** A queue was created in this step: the queues need sorting by key again. */
  timersAdded: boolean;
  triggerCheckAt: number | undefined;
  /** Look at triggers in this step (data changed, the outage began, or a time-based trigger is due). */
  evaluate: boolean;
  /** Triggered hosts whose blockers may have cleared. */
  dispatch: number[];
  /**
   * Hosts whose run this step already copied (see `Step.edit`). Allocated up front: a lazy
   * allocation inside `edit` deoptimizes it at the first change of every step.
   */
  fresh: Uint8Array;
  /** Hosts to restore whose dependencies may be up. */
  wakeable: number[];
}

function working(
  outage: Omit<OutageState, 'hosts' | 'classes' | 'timers' | 'ups'>,
  ups: UpsRun[],
  hosts: PVecDraft<HostRun>,
  classes: PVecDraft<number>,
  timers: Working['timers'],
  fresh: Uint8Array,
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
    fresh,
    wakeable: [],
  };
}

class Step {
  readonly c: CompiledPlan;
  readonly plan: Plan;
  readonly actions: EngineAction[] = [];
  sources: Record<string, SourceState>;
  history: Record<string, number[]>;
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
    if (!o || h === undefined) return;
    const run = o.hosts.get(h);
    const matches = run.commandId === commandId || (run.cancelId !== undefined && run.cancelId === commandId);
    if (!matches) return;
    if (run.phase === 'commanded' || run.phase === 'cancelling') {
      if (stepName === 'powering-off') {
        this.settle(h, 'acknowledged', stepName);
      } else if (stepName === 'cancelled' && run.phase === 'cancelling') {
        // Cancelled after power failed again (a carried cancel): it can be triggered anew.
        const again = o.phase === 'shutdown';
        const next = this.edit(h);
        next.phase = again ? 'idle' : 'cancelled';
        next.lastStep = stepName;
        if (this.c.managed[h]) o.inFlight--;
        this.emit({ type: 'host-cancelled', outage: o.id, host: hostId });
        if (again) this.rearm(h);
      } else if (run.lastStep !== stepName) {
        this.edit(h).lastStep = stepName;
      }
    } else if (run.phase === 'overdue' && stepName === 'powering-off' && !run.released) {
      // A late acknowledgement: the host is down after all; release the hosts it held.
      const next = this.edit(h);
      next.lastStep = stepName;
      next.released = true;
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
    const run = o.hosts.get(h);
    if (o.phase !== 'restore') {
      if (
        run.unverified &&
        (run.phase === 'idle' || run.phase === 'triggered' || run.phase === 'cancelled')
      ) {
        delete this.edit(h).unverified;
        this.emit({ type: 'host-up', outage: o.id, host: hostId, how: 'healthy' });
      }
      return;
    }
    if (!isRestoring(run.phase)) return;
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
      // these runs ready; the step copies only the ones it changes.
      const ups = c.fedManaged.map((fed): UpsRun => ({ unsettled: fed.length, touched: false }));
      this.o = working(
        outage,
        ups,
        new PVecDraft(c.idleRuns),
        new PVecDraft(pvecOf(c.classes.map(() => 0))),
        new Map(),
        new Uint8Array(c.hostIds.length),
        true,
      );
      this.emit({ type: 'outage-started', outage: id, sources: sourceIds });
      return;
    }
    const left = !carryFrom && this.hostsDown ? new Set(this.hostsDown) : undefined;
    // Every run here is a new object, so this step may change them in place (`fresh`).
    const runs: HostRun[] = c.hostIds.map((id, h) => {
      if (left?.has(id)) return { phase: 'down', waitFor: 0, how: 'carried' };
      if (!carryFrom) return { phase: 'idle', waitFor: 0 };
      const run = carry(carryFrom.hosts.get(h), this.now);
      // The engine is running, so the controller's host is up unless it is on its way down.
      return h === c.controller && !isInFlight(run.phase) ? { phase: 'idle', waitFor: 0 } : run;
    });
    this.hostsDown = undefined;
    const settled = (h: number) => isSettled(runs[h]!.phase);
    // Commands still running from the outage before keep their deadlines.
    const carried: Array<readonly [at: number, host: number]> = [];
    for (let h = 0; h < runs.length; h++) {
      const run = runs[h]!;
      const blockers = c.blockers[h]!;
      let waitFor = blockers.length;
      for (const b of blockers) if (settled(b)) waitFor--;
      run.waitFor = waitFor;
      if (c.managed[h] && isInFlight(run.phase)) outage.inFlight++;
      if (run.phase === 'commanded' || run.phase === 'cancelling') carried.push([run.deadline ?? 0, h]);
    }
    const ups = c.upsIds.map((_, u): UpsRun => {
      let unsettled = 0;
      let touched = false;
      for (const h of c.fedManaged[u]!) {
        const phase = runs[h]!.phase;
        if (!settled(h)) unsettled++;
        if (phase !== 'idle' && phase !== 'triggered') touched = true;
      }
      return { unsettled, touched };
    });
    this.o = working(
      outage,
      ups,
      new PVecDraft(pvecOf(runs)),
      new PVecDraft(pvecOf(c.classes.map(() => 0))),
      new Map(),
      new Uint8Array(runs.length).fill(1),
      true,
    );
    this.emit({ type: 'outage-started', outage: id, sources: sourceIds });
    carried.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (const [at, h] of carried) this.addTimer(SHUTDOWN, c.timeoutMs[h]!, at, h);
    for (let h = 0; h < runs.length; h++) if (runs[h]!.phase === 'triggered') this.o.dispatch.push(h);
  }

  private end(outcome: OutageOutcome): void {
    const o = this.o!;
    this.emit({ type: 'outage-ended', outage: o.id, outcome });
    this.learn(o);
    this.lastOutage = { id: o.id, outcome, endedAt: this.now };
    const down: string[] = [];
    for (let h = 0; h < o.hosts.length; h++) {
      const run = o.hosts.get(h);
      if (h !== this.c.controller && (isCarriedDown(run.phase) || mayBeDown(run)))
        down.push(this.c.hostIds[h]!);
    }
    this.hostsDown = down.length > 0 ? down : undefined;
    this.o = undefined;
  }

  /**
   * Remembers how long acknowledged shutdowns took, for the budget's expected durations. The new
   * record is built in one pass, each key set once, rather than copied (10 000 keys) and then
   * mostly overwritten.
   */
  private learn(o: Working): void {
    const { hostIds } = this.c;
    const old = this.history;
    // The history holds only the plan's hosts (initialState keeps no others), so one pass over
    // them carries every entry that stays.
    const history: Record<string, number[]> = {};
    let learned = false;
    for (let h = 0; h < o.hosts.length; h++) {
      const run = o.hosts.get(h);
      const id = hostIds[h]!;
      const past = ownEntry(old, id);
      if (run.how !== 'acknowledged' || run.commandedAt === undefined || run.downAt === undefined) {
        if (past !== undefined) history[id] = past;
        continue;
      }
      const took = (run.downAt - run.commandedAt) / 1000;
      history[id] =
        past === undefined
          ? [took]
          : past.length < HISTORY_LENGTH
            ? past.concat(took)
            : past.slice(1 - HISTORY_LENGTH).concat(took);
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
    const committed = new Uint8Array(c.hostIds.length);
    for (const h of c.topo) {
      let forced = false;
      for (const b of c.waiting[h]!) if (committed[b]) forced = true;
      let run = o.hosts.get(h);
      const ponr = c.pointOfNoReturn[h];
      if (run.phase === 'idle' && forced && c.kinds[h] !== 'wake-only') {
        this.trigger(h, 'a host it depends on is past its point of no return', false);
        run = o.hosts.get(h);
      } else if (run.phase === 'triggered' && ponr !== 'triggered' && !forced) {
        this.edit(h).phase = 'cancelled';
        if (c.managed[h]) o.inFlight--;
        this.emit({ type: 'host-cancelled', outage: o.id, host: c.hostIds[h]! });
      } else if (run.phase === 'commanded' && ponr === 'powering-off' && !forced) {
        const cancelId = `${o.id}:${c.hostIds[h]}:cancel`;
        const next = this.edit(h);
        next.phase = 'cancelling';
        next.cancelId = cancelId;
        this.emit({
          type: 'cancel-shutdown',
          outage: o.id,
          host: c.hostIds[h]!,
          kind: c.kinds[h]!,
          commandId: cancelId,
          ref: run.commandId!,
          deadline: run.deadline!,
        });
      }
      const phase = o.hosts.get(h).phase;
      if (phase === 'triggered' || phase === 'commanded') committed[h] = 1;
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
      const phase = o.hosts.get(x).phase;
      if (phase === 'triggered' || phase === 'commanded' || phase === 'cancelling' || isSettled(phase)) {
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
    const hosts = o.hosts;
    // A mass trigger calls this for every host of a class, most already pulled down by others.
    if (hosts.get(first).phase !== 'idle') return;
    // Loop invariants in locals: the first outage runs this loop for thousands of hosts before V8
    // has compiled it, and the interpreter loads every property each time it is named.
    const { kinds, managed, blockers, hostIds, precedeReasons } = c;
    const { actions, now } = this;
    // Pairs of (host, the host that pulled it down; -1 for `reason`).
    const stack: number[] = [first, -1];
    while (stack.length > 0) {
      const cause = stack.pop()!;
      const h = stack.pop()!;
      const run = hosts.get(h);
      if (run.phase !== 'idle' || kinds[h] === 'wake-only') continue;
      const why = cause < 0 ? reason : precedeReasons[cause]!;
      const next = this.own(h, run);
      next.phase = 'triggered';
      next.trigger = why;
      next.triggeredAt = now;
      if (managed[h]) o.inFlight++;
      actions.push({ type: 'host-triggered', outage: o.id, host: hostIds[h]!, trigger: why });
      o.dispatch.push(h);
      if (!propagate) continue;
      const mine = blockers[h]!;
      for (let k = mine.length - 1; k >= 0; k--) {
        const b = mine[k]!;
        if (hosts.get(b).phase === 'idle') stack.push(b, h);
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

  /**
   * Host h's run, to change in place: copied on its first change in this step (older states keep
   * theirs), then reused.
   */
  private edit(h: number): HostRun {
    return this.own(h, this.o!.hosts.get(h));
  }

  /** `edit` for a caller that has just read host h's run. */
  private own(h: number, run: HostRun): HostRun {
    const o = this.o!;
    if (o.fresh[h]) return run;
    const copy = copyRun(run);
    o.hosts.set(h, copy);
    o.fresh[h] = 1;
    return copy;
  }

  /** Marks a host up (it reported healthy, was woken without a health check, or is the controller's). */
  private markUp(h: number): void {
    const run = this.edit(h);
    run.phase = 'up';
    run.upAt = this.now;
  }

  /** A commanded host is down: by acknowledgement, or because its deadline passed. */
  private settle(h: number, how: 'acknowledged' | 'deadline-passed', lastStep?: HostStep): void {
    const o = this.o!;
    const c = this.c;
    const run = this.edit(h);
    run.phase = how === 'acknowledged' ? 'down' : 'overdue';
    run.downAt = this.now;
    run.how = how;
    if (lastStep) run.lastStep = lastStep;
    this.emit({ type: 'host-down', outage: o.id, host: c.hostIds[h]!, how });
    if (c.managed[h]) {
      o.inFlight--;
      for (const u of c.supplies[h]!) o.ups[u]!.unsettled--;
    }
    const holds = how === 'deadline-passed' && c.hold[h];
    for (const b of c.waiting[h]!) {
      if (holds) this.hold(b);
      else this.unblock(b, false);
    }
  }

  private unblock(b: number, wasHeld: boolean): void {
    const o = this.o!;
    const run = this.edit(b);
    const held = (run.held ?? 0) - (wasHeld ? 1 : 0);
    run.waitFor--;
    if (held > 0) run.held = held;
    else if (run.held !== undefined) delete run.held;
    if (wasHeld && held === 0) o.holding--;
    if (run.phase === 'triggered') o.dispatch.push(b);
  }

  private hold(b: number): void {
    const o = this.o!;
    const run = this.edit(b);
    if ((run.held ?? 0) === 0) o.holding++;
    run.held = (run.held ?? 0) + 1;
    if (run.phase === 'triggered') o.dispatch.push(b);
  }

  /** Held hosts whose supply turned critical (or whose outage is over) may go now. */
  private reviewHeld(): void {
    const o = this.o!;
    for (let h = 0; h < o.hosts.length; h++) {
      const run = o.hosts.get(h);
      if (run.held !== undefined && run.phase === 'triggered') o.dispatch.push(h);
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
    for (let k = 0; k < o.dispatch.length; k++) {
      const h = o.dispatch[k]!;
      const run = o.hosts.get(h);
      if (run.phase !== 'triggered' || h === c.controller) continue;
      const clear = run.waitFor === 0 || (run.waitFor === (run.held ?? 0) && this.critical(h));
      if (!clear) continue;
      this.command(h, run.trigger ?? 'triggered');
    }
    o.dispatch.length = 0;
  }

  private command(h: number, reason: string): void {
    const o = this.o!;
    const c = this.c;
    const commandId = `${o.id}:${c.hostIds[h]}:shutdown`;
    const deadline = this.now + c.timeoutMs[h]!;
    const run = this.edit(h);
    run.phase = 'commanded';
    run.commandId = commandId;
    run.commandedAt = this.now;
    run.deadline = deadline;
    this.addTimer(SHUTDOWN, c.timeoutMs[h]!, deadline, h);
    const supplies = c.supplies[h]!;
    for (let k = 0; k < supplies.length; k++) o.ups[supplies[k]!]!.touched = true;
    this.actions.push({
      type: 'shutdown-host',
      outage: o.id,
      host: c.hostIds[h]!,
      kind: c.kinds[h]!,
      commandId,
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
        if (o.hosts.get(c.controller).phase === 'idle') {
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
    const run = o.hosts.get(c.controller);
    if (run.phase === 'commanded') return true;
    if (run.phase !== 'triggered') return false;
    // Hosts that depend on the controller's host go before it, like any dependents.
    if (run.waitFor > 0 && !(run.waitFor === (run.held ?? 0) && this.critical(c.controller))) return false;
    if (o.phase !== 'shutdown') return true;
    for (let h = 0; h < o.hosts.length; h++) {
      if (c.managed[h] && o.hosts.get(h).phase === 'idle' && this.losingPower(h)) return false;
    }
    return true;
  }

  private dispatchController(): void {
    const o = this.o!;
    const h = this.c.controller;
    if (h < 0 || o.hosts.get(h).phase !== 'triggered' || !this.controllerMayGo()) return;
    const run = o.hosts.get(h);
    const powered = this.plan.ups.filter(
      (_, u) => this.c.feedsController[u] && o.ups[u]!.powerOffAt !== undefined,
    );
    this.command(
      h,
      powered.length > 0
        ? `last host: ${powered.map((u) => u.id).join(', ')} powering off`
        : (run.trigger ?? 'last host'),
    );
  }

  // ---- timers ----

  private addTimer(kind: string, lengthMs: number, at: number, h: number): void {
    const o = this.o!;
    const key = timerKey(kind, lengthMs);
    let q = o.timers.get(key);
    if (!q) {
      q = { head: 0, items: new PVecDraft(pvecOf<readonly [number, number]>([])) };
      o.timers.set(key, q);
      o.timersAdded = true;
    }
    q.items.push([at, h]);
  }

  private timerValid(kind: string, at: number, h: number): boolean {
    const run = this.o!.hosts.get(h);
    if (kind === SHUTDOWN)
      return (run.phase === 'commanded' || run.phase === 'cancelling') && run.deadline === at;
    return run.phase === 'waking' && run.wakeDeadline === at;
  }

  private expireTimers(): void {
    const o = this.o!;
    // Queues are kept in key order (see `close`), so this order is the same after a restart.
    for (const [key, q] of o.timers) {
      const kind = key.slice(0, key.indexOf(':'));
      while (q.head < q.items.length) {
        const [at, h] = q.items.get(q.head);
        if (at > this.now) break;
        q.head++;
        if (!this.timerValid(kind, at, h)) continue;
        if (kind === SHUTDOWN) this.settle(h, 'deadline-passed');
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
    if (c.controller >= 0 && isInFlight(o.hosts.get(c.controller).phase)) return;
    let wentDown = false;
    for (let h = 0; h < o.hosts.length && !wentDown; h++) wentDown = mayBeDown(o.hosts.get(h));
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
    const controllerRun = c.controller >= 0 ? o.hosts.get(c.controller) : undefined;
    const controllerCycled = controllerRun?.phase === 'down' && controllerRun.how === 'acknowledged';
    const cut = (u: number) =>
      o.ups[u]!.powerOffAt !== undefined || (controllerCycled && c.feedsController[u]!);
    const poweredOff = (h: number) => {
      let remaining = 0;
      for (const u of c.supplies[h]!) if (!cut(u)) remaining++;
      return remaining < c.minSupplies[h]!;
    };
    const inSet = new Uint8Array(c.hostIds.length);
    for (let h = 0; h < o.hosts.length; h++) {
      const run = o.hosts.get(h);
      const down = mayBeDown(run);
      if (h === c.controller) {
        // The engine is running, so the controller's host is up.
        if (down || run.phase === 'cancelled') {
          this.markUp(h);
          this.emit({ type: 'host-up', outage: o.id, host: c.hostIds[h]!, how: 'controller' });
        }
        continue;
      }
      if (down || (c.kinds[h] === 'wake-only' && poweredOff(h))) inSet[h] = 1;
    }
    for (let h = 0; h < o.hosts.length; h++) {
      const current = o.hosts.get(h);
      if (!inSet[h]) {
        if (current.held !== undefined) delete this.edit(h).held;
        continue;
      }
      let waitFor = 0;
      for (const d of c.restoreDeps[h]!) if (inSet[d]) waitFor++;
      // Every host at once, changing fields each run already has: a spread copy is the fastest
      // for that. It is not fresh, so a change in this step that adds fields (a wake-up) copies
      // it again with copyRun rather than adding fields to a spread copy (see copyRun).
      const next: HostRun = { ...current, phase: 'restore-wait', waitFor };
      o.hosts.set(h, next);
      o.fresh[h] = 0;
      if (next.held !== undefined) delete next.held;
      if (next.unverified !== undefined) delete next.unverified;
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
      const run = o.hosts.get(h);
      if (run.phase !== 'restore-wait' || run.waitFor > 0) continue;
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
    if (w.method === 'none') {
      this.edit(h).phase = 'skipped';
      this.emit({ type: 'host-restore-skipped', outage: o.id, host, reason: 'wake method is none' });
      this.restored(h, false);
      return;
    }
    const wakeId = `${o.id}:${host}:wake:${attempt}`;
    const deadline = this.now + w.timeoutMs;
    const run = this.edit(h);
    run.phase = 'waking';
    run.wakeId = wakeId;
    run.wakeAttempt = attempt;
    run.wakeDeadline = deadline;
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
    const run = o.hosts.get(h);
    const attempt = run.wakeAttempt ?? 1;
    if (attempt <= this.c.wake[h]!.retries) {
      this.wake(h, attempt + 1);
      return;
    }
    this.edit(h).phase = 'wake-failed';
    o.wakeFailures++;
    this.emit({ type: 'host-wake-failed', outage: o.id, host: this.c.hostIds[h]!, attempts: attempt });
    this.restored(h, true);
  }

  /** A host to restore reached its end: up, failed or skipped. Its dependents may go next. */
  private restored(first: number, failedFirst: boolean): void {
    const o = this.o!;
    const c = this.c;
    const skipDependents = this.plan.restore.onWakeFailure === 'skip-dependents';
    const stack: Array<[number, boolean]> = [[first, failedFirst]];
    while (stack.length > 0) {
      const [h, failed] = stack.pop()!;
      o.restorePending--;
      for (const d of c.restoreDependents[h]!) {
        const run = o.hosts.get(d);
        if (run.phase !== 'restore-wait') continue;
        if (failed && skipDependents) {
          const next = this.edit(d);
          next.phase = 'skipped';
          next.waitFor--;
          this.emit({
            type: 'host-restore-skipped',
            outage: o.id,
            host: c.hostIds[d]!,
            reason: `'${c.hostIds[h]}' did not come back`,
          });
          stack.push([d, true]);
        } else {
          this.edit(d).waitFor--;
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
    const timers = new Map<string, { head: number; items: PVecDraft<readonly [number, number]> }>();
    for (const [key, q] of Object.entries(outage.timers))
      timers.set(key, { head: q.head, items: new PVecDraft(q.items) });
    return working(
      outage,
      // Four or so small objects: copied up front so that the step may change them in place.
      outage.ups.map((u) => ({ ...u })),
      new PVecDraft(outage.hosts),
      new PVecDraft(outage.classes),
      timers,
      new Uint8Array(outage.hosts.size),
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
      while (head < q.items.length) {
        const [at, h] = q.items.get(head);
        if (this.timerValid(kind, at, h)) break;
        head++;
      }
      if (head >= q.items.length) continue;
      const items = q.items.finish();
      // Compact a queue once most of it is spent, so a long outage does not carry its history.
      timers[key] =
        head >= 64 && head * 2 >= items.size
          ? { head: 0, items: pvecOf(pvecToArray(items).slice(head)) }
          : { head, items };
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
function mayBeDown(run: HostRun): boolean {
  return (
    isSettled(run.phase) || (run.unverified === true && (run.phase === 'idle' || run.phase === 'cancelled'))
  );
}

/** A host's run at the start of an outage that follows `previous` (power failed again). */
function carry(previous: HostRun, now: number): HostRun {
  if (isCarriedDown(previous.phase)) {
    return { phase: 'down', waitFor: 0, how: 'carried', downAt: previous.downAt ?? now };
  }
  if (previous.phase === 'commanded' || previous.phase === 'cancelling' || previous.phase === 'triggered') {
    const run = copyRun(previous);
    run.waitFor = 0;
    if (run.held !== undefined) delete run.held;
    return run;
  }
  if (previous.phase === 'waking' || (previous.unverified && previous.phase !== 'up')) {
    return { phase: 'idle', waitFor: 0, unverified: true };
  }
  return { phase: 'idle', waitFor: 0 };
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
    for (const q of Object.values(outage.timers)) consider(pvecGet(q.items, q.head)[0]);
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
  return new Map(state.plan.hosts.map((h, i) => [h.id, pvecGet(outage.hosts, i)]));
}
