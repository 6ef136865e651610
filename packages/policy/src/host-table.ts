import { type PVec, PVecDraft, pvecGet, pvecGetText, pvecOf, TextDraft } from './pvec.ts';

/** Progress a host reports for a command (from its agent, or from the NUT server for nut-clients). */
export type HostStep =
  | 'received'
  | 'hook-started'
  | 'hook-finished'
  | 'powering-off'
  | 'failed'
  | 'cancelled';

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

/** One host's run in an outage, as `hostRuns` reports it (the engine keeps it in a `HostTable`). */
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

// Codes stored in the table. Numbers, not strings: a column of numbers holds them unboxed.
export const IDLE = 0;
export const TRIGGERED = 1;
export const COMMANDED = 2;
export const CANCELLING = 3;
export const DOWN = 4;
export const OVERDUE = 5;
export const CANCELLED = 6;
export const RESTORE_WAIT = 7;
export const WAKING = 8;
export const UP = 9;
export const WAKE_FAILED = 10;
export const SKIPPED = 11;
/** Phase names by code. */
export const PHASES: readonly HostPhase[] = [
  'idle',
  'triggered',
  'commanded',
  'cancelling',
  'down',
  'overdue',
  'cancelled',
  'restore-wait',
  'waking',
  'up',
  'wake-failed',
  'skipped',
];

/** Step names by code. */
export const STEPS: readonly HostStep[] = [
  'received',
  'hook-started',
  'hook-finished',
  'powering-off',
  'failed',
  'cancelled',
];
export const POWERING_OFF = 3;
export const STEP_CANCELLED = 5;

/** `how` codes; 0 when absent. */
export const ACKNOWLEDGED = 1;
export const DEADLINE_PASSED = 2;
export const CARRIED = 3;
const HOWS = [undefined, 'acknowledged', 'deadline-passed', 'carried'] as const;

/** `flags` bits. */
export const RELEASED = 1;
export const UNVERIFIED = 2;

/** An absent time or step (engine time is never negative). */
export const NONE = -1;

/**
 * Every host's run in an outage, as columns: one persistent vector per field, indexed by host in
 * plan order. A step that changes thousands of hosts writes numbers into a few columns instead of
 * copying thousands of objects (and their boxed times), and the table stays plain JSON.
 * Absent values: `NONE` for times and steps; 0 for `held`, `how`, `flags` and `wakeAttempt`; ''
 * for strings.
 */
export interface HostTable {
  /** Phase codes (`PHASES`). */
  phase: PVec<number>;
  waitFor: PVec<number>;
  held: PVec<number>;
  trigger: PVec<string>;
  triggeredAt: PVec<number>;
  /** The outage whose shutdown command the host got: its id is `<outage>:<host>:shutdown`. */
  command: PVec<string>;
  commandedAt: PVec<number>;
  deadline: PVec<number>;
  /** Step codes (`STEPS`). */
  lastStep: PVec<number>;
  downAt: PVec<number>;
  /** `ACKNOWLEDGED`, `DEADLINE_PASSED`, `CARRIED`. */
  how: PVec<number>;
  /** `RELEASED`, `UNVERIFIED`. */
  flags: PVec<number>;
  /** The outage that cancelled the host's shutdown: the cancel's id is `<outage>:<host>:cancel`. */
  cancel: PVec<string>;
  /** The wake-up's id is `<outage>:<host>:wake:<attempt>` (wake-ups never outlive their outage). */
  wakeAttempt: PVec<number>;
  wakeDeadline: PVec<number>;
  upAt: PVec<number>;
}

/**
 * A table of `n` idle hosts, host h waiting for `waitFor(h)` blockers. Number columns start as
 * arrays of doubles (what the engine's writes turn arrays of small integers into anyway) and
 * string columns as arrays of strings, none with holes: the engine's column reads then see few
 * elements kinds, which V8 handles inline, where more make every read a generic lookup.
 */
export function idleTable(n: number, waitFor: (h: number) => number): HostTable {
  const numbers = (value: (h: number) => number) => {
    const a = [0.5];
    a.pop();
    for (let h = 0; h < n; h++) a.push(value(h));
    return pvecOf(a);
  };
  const none = () => numbers(() => NONE);
  const zero = () => numbers(() => 0);
  const strings = () => {
    const a: string[] = [];
    for (let h = 0; h < n; h++) a.push('');
    return pvecOf(a);
  };
  return {
    phase: numbers(() => IDLE),
    waitFor: numbers(waitFor),
    held: zero(),
    trigger: strings(),
    triggeredAt: none(),
    command: strings(),
    commandedAt: none(),
    deadline: none(),
    lastStep: none(),
    downAt: none(),
    how: zero(),
    flags: zero(),
    cancel: strings(),
    wakeAttempt: zero(),
    wakeDeadline: none(),
    upAt: none(),
  };
}

/** Copy-on-write editing of a table during one step (see `PVecDraft`). */
export class HostTableDraft {
  readonly phase: PVecDraft<number>;
  readonly waitFor: PVecDraft<number>;
  readonly held: PVecDraft<number>;
  readonly trigger: TextDraft;
  readonly triggeredAt: PVecDraft<number>;
  readonly command: TextDraft;
  readonly commandedAt: PVecDraft<number>;
  readonly deadline: PVecDraft<number>;
  readonly lastStep: PVecDraft<number>;
  readonly downAt: PVecDraft<number>;
  readonly how: PVecDraft<number>;
  readonly flags: PVecDraft<number>;
  readonly cancel: TextDraft;
  readonly wakeAttempt: PVecDraft<number>;
  readonly wakeDeadline: PVecDraft<number>;
  readonly upAt: PVecDraft<number>;

  constructor(t: HostTable) {
    this.phase = new PVecDraft(t.phase);
    this.waitFor = new PVecDraft(t.waitFor);
    this.held = new PVecDraft(t.held);
    this.trigger = new TextDraft(t.trigger);
    this.triggeredAt = new PVecDraft(t.triggeredAt);
    this.command = new TextDraft(t.command);
    this.commandedAt = new PVecDraft(t.commandedAt);
    this.deadline = new PVecDraft(t.deadline);
    this.lastStep = new PVecDraft(t.lastStep);
    this.downAt = new PVecDraft(t.downAt);
    this.how = new PVecDraft(t.how);
    this.flags = new PVecDraft(t.flags);
    this.cancel = new TextDraft(t.cancel);
    this.wakeAttempt = new PVecDraft(t.wakeAttempt);
    this.wakeDeadline = new PVecDraft(t.wakeDeadline);
    this.upAt = new PVecDraft(t.upAt);
  }

  get length(): number {
    return this.phase.length;
  }

  /** Copies host h's whole run from another table. */
  copyHost(from: HostTableDraft, h: number): void {
    this.phase.set(h, from.phase.get(h));
    this.waitFor.set(h, from.waitFor.get(h));
    this.held.set(h, from.held.get(h));
    this.trigger.set(h, from.trigger.get(h));
    this.triggeredAt.set(h, from.triggeredAt.get(h));
    this.command.set(h, from.command.get(h));
    this.commandedAt.set(h, from.commandedAt.get(h));
    this.deadline.set(h, from.deadline.get(h));
    this.lastStep.set(h, from.lastStep.get(h));
    this.downAt.set(h, from.downAt.get(h));
    this.how.set(h, from.how.get(h));
    this.flags.set(h, from.flags.get(h));
    this.cancel.set(h, from.cancel.get(h));
    this.wakeAttempt.set(h, from.wakeAttempt.get(h));
    this.wakeDeadline.set(h, from.wakeDeadline.get(h));
    this.upAt.set(h, from.upAt.get(h));
  }

  finish(): HostTable {
    return {
      phase: this.phase.finish(),
      waitFor: this.waitFor.finish(),
      held: this.held.finish(),
      trigger: this.trigger.finish(),
      triggeredAt: this.triggeredAt.finish(),
      command: this.command.finish(),
      commandedAt: this.commandedAt.finish(),
      deadline: this.deadline.finish(),
      lastStep: this.lastStep.finish(),
      downAt: this.downAt.finish(),
      how: this.how.finish(),
      flags: this.flags.finish(),
      cancel: this.cancel.finish(),
      wakeAttempt: this.wakeAttempt.finish(),
      wakeDeadline: this.wakeDeadline.finish(),
      upAt: this.upAt.finish(),
    };
  }
}

export const commandIdOf = (outage: string, host: string) => `${outage}:${host}:shutdown`;
export const cancelIdOf = (outage: string, host: string) => `${outage}:${host}:cancel`;
export const wakeIdOf = (outage: string, host: string, attempt: number) =>
  `${outage}:${host}:wake:${attempt}`;

/** Writes a run into row h, every column (the inverse of `readRun`). */
export function writeRun(t: HostTableDraft, h: number, host: string, run: HostRun): void {
  t.phase.set(h, PHASES.indexOf(run.phase));
  t.waitFor.set(h, run.waitFor);
  t.held.set(h, run.held ?? 0);
  t.trigger.set(h, run.trigger ?? '');
  t.triggeredAt.set(h, run.triggeredAt ?? NONE);
  t.command.set(h, outageOf(run.commandId, `:${host}:shutdown`));
  t.commandedAt.set(h, run.commandedAt ?? NONE);
  t.deadline.set(h, run.deadline ?? NONE);
  t.lastStep.set(h, run.lastStep !== undefined ? STEPS.indexOf(run.lastStep) : NONE);
  t.downAt.set(h, run.downAt ?? NONE);
  t.how.set(h, HOWS.indexOf(run.how));
  t.flags.set(h, (run.released ? RELEASED : 0) | (run.unverified ? UNVERIFIED : 0));
  t.cancel.set(h, outageOf(run.cancelId, `:${host}:cancel`));
  t.wakeAttempt.set(h, run.wakeAttempt ?? 0);
  t.wakeDeadline.set(h, run.wakeDeadline ?? NONE);
  t.upAt.set(h, run.upAt ?? NONE);
}

/** The outage id a command id starts with ('' for none). */
function outageOf(commandId: string | undefined, suffix: string): string {
  return commandId?.endsWith(suffix) ? commandId.slice(0, -suffix.length) : '';
}

/** Host h's run as an object, absent fields left out. */
export function readRun(t: HostTable, h: number, host: string, outage: string): HostRun {
  const run: HostRun = { phase: PHASES[pvecGet(t.phase, h)]!, waitFor: pvecGet(t.waitFor, h) };
  const held = pvecGet(t.held, h);
  if (held !== 0) run.held = held;
  const trigger = pvecGetText(t.trigger, h);
  if (trigger !== '') run.trigger = trigger;
  const time = (column: PVec<number>) => {
    const value = pvecGet(column, h);
    return value === NONE ? undefined : value;
  };
  const triggeredAt = time(t.triggeredAt);
  if (triggeredAt !== undefined) run.triggeredAt = triggeredAt;
  const command = pvecGetText(t.command, h);
  if (command !== '') run.commandId = commandIdOf(command, host);
  const commandedAt = time(t.commandedAt);
  if (commandedAt !== undefined) run.commandedAt = commandedAt;
  const deadline = time(t.deadline);
  if (deadline !== undefined) run.deadline = deadline;
  const lastStep = pvecGet(t.lastStep, h);
  if (lastStep !== NONE) run.lastStep = STEPS[lastStep]!;
  const downAt = time(t.downAt);
  if (downAt !== undefined) run.downAt = downAt;
  const how = HOWS[pvecGet(t.how, h)];
  if (how !== undefined) run.how = how;
  const flags = pvecGet(t.flags, h);
  if (flags & RELEASED) run.released = true;
  const cancel = pvecGetText(t.cancel, h);
  if (cancel !== '') run.cancelId = cancelIdOf(cancel, host);
  const attempt = pvecGet(t.wakeAttempt, h);
  if (attempt !== 0) {
    run.wakeId = wakeIdOf(outage, host, attempt);
    run.wakeAttempt = attempt;
  }
  const wakeDeadline = time(t.wakeDeadline);
  if (wakeDeadline !== undefined) run.wakeDeadline = wakeDeadline;
  const upAt = time(t.upAt);
  if (upAt !== undefined) run.upAt = upAt;
  if (flags & UNVERIFIED) run.unverified = true;
  return run;
}
