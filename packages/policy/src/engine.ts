import type { Host, Plan, Trigger } from './plan.ts';
import { isOnBattery, isTesting, type UpsReading } from './reading.ts';
import { indexPlan } from './validate.ts';

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
  | { type: 'host-progress'; host: string; commandId: string; step: HostStep; detail?: string }
  /** A clock tick: lets deadlines and time-based triggers fire. */
  | { type: 'tick' };

export type EngineAction =
  | { type: 'outage-started'; outage: string; sources: string[] }
  | { type: 'host-triggered'; outage: string; host: string; trigger: string }
  | {
      type: 'shutdown-host';
      outage: string;
      host: string;
      kind: Host['kind'];
      commandId: string;
      deadline: number;
      reason: string;
    }
  | { type: 'host-down'; outage: string; host: string; how: 'acknowledged' | 'deadline-passed' }
  | { type: 'host-cancelled'; outage: string; host: string }
  | { type: 'power-off-ups'; outage: string; source: string; delaySeconds: number }
  | { type: 'outage-ended'; outage: string; outcome: 'averted' | 'powered-off' | 'completed' };

// ---- state --------------------------------------------------------------------------------

export interface SourceState {
  reading?: UpsReading;
  readingAt?: number;
  /** Start of the current on-battery stretch (before debounce). */
  onBatterySince?: number;
  /** Since when the source has had no data. */
  dataLostSince?: number;
}

/**
 * idle → triggered (its trigger fired) → commanded (shutdown sent, deadline running)
 *      → down (acknowledged powering off) | overdue (deadline passed: treated as down)
 * idle | triggered → cancelled (mains came back first)
 */
export type HostPhase = 'idle' | 'triggered' | 'commanded' | 'down' | 'overdue' | 'cancelled';

export interface HostRun {
  phase: HostPhase;
  trigger?: string;
  triggeredAt?: number;
  commandId?: string;
  commandedAt?: number;
  deadline?: number;
  lastStep?: HostStep;
  downAt?: number;
}

export interface OutageState {
  id: string;
  startedAt: number;
  /** Sources that were on battery when the outage started, or went on battery during it. */
  sources: string[];
  mainsBackAt?: number;
  hosts: Record<string, HostRun>;
  /** UPS power-off commands issued, by source id. */
  powerOff: Record<string, number>;
}

/** Everything the engine knows. Plain JSON: it can be journaled and restored mid-outage. */
export interface EngineState {
  plan: Plan;
  sources: Record<string, SourceState>;
  outage?: OutageState;
  /** Ended outages are dropped from the state; their ids are kept to report them. */
  lastOutage?: { id: string; outcome: string; endedAt: number };
}

export interface StepResult {
  state: EngineState;
  actions: EngineAction[];
}

export function initialState(plan: Plan): EngineState {
  return { plan, sources: Object.fromEntries(plan.ups.map((u) => [u.id, {}])) };
}

// ---- the step function --------------------------------------------------------------------

/** (state, event, now) → (state, actions). Pure: no I/O, no timers, no clock reads. */
export function step(state: EngineState, event: EngineEvent, now: number): StepResult {
  const actions: EngineAction[] = [];
  let next = applyEvent(state, event, now, actions);
  next = evaluate(next, now, actions);
  return { state: next, actions };
}

function applyEvent(
  state: EngineState,
  event: EngineEvent,
  now: number,
  actions: EngineAction[],
): EngineState {
  switch (event.type) {
    case 'reading': {
      const prev = state.sources[event.source];
      if (!prev) return state;
      const onBattery = isOnBattery(event.reading) && !isTesting(event.reading);
      const source: SourceState = {
        reading: event.reading,
        readingAt: now,
        ...(onBattery && { onBatterySince: prev.onBatterySince ?? now }),
      };
      return { ...state, sources: { ...state.sources, [event.source]: source } };
    }
    case 'source-lost': {
      const prev = state.sources[event.source];
      if (!prev || prev.dataLostSince !== undefined) return state;
      return { ...state, sources: { ...state.sources, [event.source]: { ...prev, dataLostSince: now } } };
    }
    case 'host-progress': {
      const outage = state.outage;
      const run = outage?.hosts[event.host];
      if (!outage || !run || run.commandId !== event.commandId || run.phase !== 'commanded') return state;
      if (event.step === 'powering-off') {
        actions.push({ type: 'host-down', outage: outage.id, host: event.host, how: 'acknowledged' });
        return withHost(state, event.host, { ...run, phase: 'down', lastStep: event.step, downAt: now });
      }
      return withHost(state, event.host, { ...run, lastStep: event.step });
    }
    case 'tick':
      return state;
  }
}

function withHost(state: EngineState, host: string, run: HostRun): EngineState {
  const outage = state.outage!;
  return { ...state, outage: { ...outage, hosts: { ...outage.hosts, [host]: run } } };
}

/** Is a source on battery for real: past the debounce, not testing, data not lost on mains. */
function confirmedOnBattery(state: EngineState, source: string, now: number): boolean {
  const s = state.sources[source];
  return s?.onBatterySince !== undefined && now - s.onBatterySince >= state.plan.settings.debounce * 1000;
}

function onBatteryNow(state: EngineState, source: string): boolean {
  return state.sources[source]?.onBatterySince !== undefined;
}

/** Applies every time-based and gating rule until nothing changes. */
function evaluate(state: EngineState, now: number, actions: EngineAction[]): EngineState {
  let s = state;
  if (!s.outage) {
    const sources = s.plan.ups.map((u) => u.id).filter((id) => confirmedOnBattery(s, id, now));
    if (sources.length === 0) return s;
    const id = `outage-${now.toString(36)}`;
    const hosts: Record<string, HostRun> = {};
    for (const h of s.plan.hosts) hosts[h.id] = { phase: 'idle' };
    s = { ...s, outage: { id, startedAt: now, sources, hosts, powerOff: {} } };
    actions.push({ type: 'outage-started', outage: id, sources });
  }
  const outage = s.outage!;
  const index = indexPlan(s.plan);

  // Newly affected sources join the running outage.
  const joined = s.plan.ups
    .map((u) => u.id)
    .filter((id) => !outage.sources.includes(id) && confirmedOnBattery(s, id, now));
  let sources = joined.length > 0 ? [...outage.sources, ...joined] : outage.sources;

  const mainsBack = sources.every((id) => !onBatteryNow(s, id) && s.sources[id]?.dataLostSince === undefined);
  const mainsBackAt = mainsBack ? (outage.mainsBackAt ?? now) : undefined;
  const hosts = { ...outage.hosts };

  for (const host of s.plan.hosts) {
    let run = hosts[host.id]!;
    const affected = index.supplies.get(host.id)!.some((u) => sources.includes(u));
    if (!affected) continue;
    if (mainsBack && (run.phase === 'idle' || run.phase === 'triggered')) {
      run = { ...run, phase: 'cancelled' };
      actions.push({ type: 'host-cancelled', outage: outage.id, host: host.id });
    }
    if (run.phase === 'idle' && host.kind !== 'wake-only') {
      const fired = firedTrigger(s, host, index.supplies.get(host.id)!, now);
      if (fired) {
        run = { ...run, phase: 'triggered', trigger: fired, triggeredAt: now };
        actions.push({ type: 'host-triggered', outage: outage.id, host: host.id, trigger: fired });
      }
    }
    if (run.phase === 'commanded' && run.deadline !== undefined && now >= run.deadline) {
      run = { ...run, phase: 'overdue', downAt: now };
      actions.push({ type: 'host-down', outage: outage.id, host: host.id, how: 'deadline-passed' });
    }
    hosts[host.id] = run;
  }

  // Dispatch: a triggered host goes once every host depending on it is down. Repeat until stable
  // because one host going down never unblocks another within the same instant (acks arrive later),
  // except hosts that are not managed (wake-only), which count as down from the start.
  const isDown = (id: string): boolean => {
    const run = hosts[id];
    const kind = index.hosts.get(id)?.kind;
    return run === undefined || run.phase === 'down' || run.phase === 'overdue' || kind === 'wake-only';
  };
  const powerOff = { ...outage.powerOff };
  for (const host of s.plan.hosts) {
    const run = hosts[host.id]!;
    if (run.phase !== 'triggered' || host.kind === 'controller') continue;
    if (!index.dependents.get(host.id)!.every(isDown)) continue;
    const commandId = `${outage.id}:${host.id}:shutdown`;
    const deadline = now + host.shutdown.timeout * 1000;
    hosts[host.id] = { ...run, phase: 'commanded', commandId, commandedAt: now, deadline };
    actions.push({
      type: 'shutdown-host',
      outage: outage.id,
      host: host.id,
      kind: host.kind,
      commandId,
      deadline,
      reason: run.trigger ?? 'triggered',
    });
  }

  // UPS power-off: only once every host it feeds is down or past its deadline, and only if at least
  // one host actually went down (otherwise the outage was averted and nothing needs restarting).
  const managed = s.plan.hosts.filter((h) => h.kind !== 'controller' && h.kind !== 'wake-only');
  const anyWentDown = managed.some(
    (h) =>
      hosts[h.id]!.phase === 'down' || hosts[h.id]!.phase === 'overdue' || hosts[h.id]!.phase === 'commanded',
  );
  for (const ups of s.plan.ups) {
    if (!sources.includes(ups.id) || powerOff[ups.id] !== undefined || !ups.powerOff.enabled || !anyWentDown)
      continue;
    const fed = managed.filter((h) => index.supplies.get(h.id)!.includes(ups.id));
    const settled = fed.every((h) => isDown(h.id) || hosts[h.id]!.phase === 'cancelled');
    if (!settled) continue;
    powerOff[ups.id] = now;
    actions.push({
      type: 'power-off-ups',
      outage: outage.id,
      source: ups.id,
      delaySeconds: ups.powerOff.delay,
    });
  }

  // The controller's own host goes last, after the UPS has been told to power off.
  const controller = s.plan.hosts.find((h) => h.kind === 'controller');
  if (controller) {
    const run = hosts[controller.id]!;
    const upsDone = sources.every(
      (id) => powerOff[id] !== undefined || !s.plan.ups.find((u) => u.id === id)?.powerOff.enabled,
    );
    const othersDown = managed.every((h) => isDown(h.id) || hosts[h.id]!.phase === 'cancelled');
    if (run.phase === 'triggered' && upsDone && othersDown && anyWentDown) {
      const commandId = `${outage.id}:${controller.id}:shutdown`;
      hosts[controller.id] = {
        ...run,
        phase: 'commanded',
        commandId,
        commandedAt: now,
        deadline: now + controller.shutdown.timeout * 1000,
      };
      actions.push({
        type: 'shutdown-host',
        outage: outage.id,
        host: controller.id,
        kind: 'controller',
        commandId,
        deadline: now + controller.shutdown.timeout * 1000,
        reason: 'last host: UPS power-off issued',
      });
    }
  }

  sources = [...sources];
  const next: OutageState = {
    ...outage,
    sources,
    hosts,
    powerOff,
    ...(mainsBackAt !== undefined ? { mainsBackAt } : {}),
  };
  if (mainsBackAt === undefined) delete next.mainsBackAt;
  s = { ...s, outage: next };

  // The outage ends once mains is back and nothing is in flight any more. Until then a powered-off
  // UPS keeps the outage open: the next on-battery stretch is the same outage, not a new one.
  const inFlight = Object.values(hosts).some((r) => r.phase === 'commanded' || r.phase === 'triggered');
  const powerOffPending = s.plan.ups.some(
    (u) => sources.includes(u.id) && u.powerOff.enabled && anyWentDown && powerOff[u.id] === undefined,
  );
  if (mainsBack && !inFlight && !powerOffPending) {
    const outcome = Object.keys(powerOff).length > 0 ? 'powered-off' : anyWentDown ? 'completed' : 'averted';
    actions.push({ type: 'outage-ended', outage: outage.id, outcome });
    const { outage: _ended, ...rest } = s;
    return { ...rest, lastOutage: { id: outage.id, outcome, endedAt: now } };
  }
  return s;
}

/** Describes the first trigger of `host` that has fired, or undefined. */
function firedTrigger(
  state: EngineState,
  host: Host,
  supplies: readonly string[],
  now: number,
): string | undefined {
  const triggers =
    host.shutdown.triggers.length > 0 ? host.shutdown.triggers : state.plan.settings.defaultTriggers;
  for (const trigger of triggers) {
    for (const id of supplies) {
      const source = state.sources[id];
      if (source && triggerFired(trigger, source, state.plan.settings.debounce, now))
        return describeTrigger(trigger, id);
    }
  }
  return undefined;
}

function triggerFired(trigger: Trigger, source: SourceState, debounce: number, now: number): boolean {
  const r = source.reading;
  const onBattery = source.onBatterySince !== undefined;
  switch (trigger.type) {
    case 'on-battery':
      return onBattery && now - source.onBatterySince! >= Math.max(trigger.after, debounce) * 1000;
    case 'charge-below':
      return onBattery && r?.charge !== undefined && r.charge <= trigger.percent;
    case 'runtime-below':
      return onBattery && r?.runtime !== undefined && r.runtime <= trigger.seconds;
    case 'low-battery':
      return onBattery && r?.status.includes('LB') === true;
    case 'fsd':
      return r?.status.includes('FSD') === true;
    case 'comm-lost':
      return (
        onBattery && source.dataLostSince !== undefined && now - source.dataLostSince >= trigger.after * 1000
      );
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
  }
}

// ---- timers derived from state ------------------------------------------------------------

/**
 * The next instant at which `step(state, {type:'tick'}, t)` could act on its own: a debounce
 * ending, a timed trigger, a deadline. The runtime sets one timer for it; nothing else is stored.
 */
export function nextWakeAt(state: EngineState): number | undefined {
  let next = Number.POSITIVE_INFINITY;
  const debounceMs = state.plan.settings.debounce * 1000;
  const consider = (t: number | undefined) => {
    if (t !== undefined && t < next) next = t;
  };
  for (const [id, source] of Object.entries(state.sources)) {
    if (source.onBatterySince !== undefined && !state.outage?.sources.includes(id))
      consider(source.onBatterySince + debounceMs);
  }
  const outage = state.outage;
  if (outage) {
    const index = indexPlan(state.plan);
    for (const host of state.plan.hosts) {
      const run = outage.hosts[host.id];
      if (!run) continue;
      if (run.phase === 'commanded') consider(run.deadline);
      if (run.phase !== 'idle') continue;
      const triggers =
        host.shutdown.triggers.length > 0 ? host.shutdown.triggers : state.plan.settings.defaultTriggers;
      for (const supply of index.supplies.get(host.id)!) {
        const source = state.sources[supply];
        if (!source || source.onBatterySince === undefined) continue;
        for (const t of triggers) {
          if (t.type === 'on-battery') consider(source.onBatterySince + Math.max(t.after * 1000, debounceMs));
          if (t.type === 'comm-lost' && source.dataLostSince !== undefined)
            consider(source.dataLostSince + t.after * 1000);
        }
      }
    }
  }
  return Number.isFinite(next) ? next : undefined;
}
