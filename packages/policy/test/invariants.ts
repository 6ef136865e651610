import type { TimerQueue } from '../src/engine.ts';
import { type EngineState, hostRuns, type Plan } from '../src/index.ts';
import { pvecGet } from '../src/pvec.ts';
import type { TraceStep } from './arbitraries.ts';

/**
 * The safety invariants of issue 4, checked against the stream of actions alone (plus the
 * readings, for the restore gates) with a model of the world written independently of the
 * engine. Returns one message per violation.
 */
export function checkTrace(plan: Plan, trace: readonly TraceStep[]): string[] {
  const violations: string[] = [];
  const hosts = new Map(plan.hosts.map((h) => [h.id, h]));
  const managed = (id: string) => {
    const k = hosts.get(id)?.kind;
    return k === 'agent' || k === 'nut-client';
  };
  const suppliesOf = (id: string) => {
    const s = hosts.get(id)!.supplies;
    return s.length > 0 ? s : plan.ups.map((u) => u.id);
  };
  // Commanded hosts that must be down before each host: its dependents, seen through wake-only hosts.
  const mustPrecede = new Map<string, string[]>();
  for (const h of plan.hosts) {
    const found = new Set<string>();
    const queue = plan.hosts.filter((d) => d.dependsOn.includes(h.id)).map((d) => d.id);
    const seen = new Set<string>();
    while (queue.length > 0) {
      const d = queue.pop()!;
      if (seen.has(d)) continue;
      seen.add(d);
      if (hosts.get(d)!.kind === 'wake-only')
        queue.push(...plan.hosts.filter((x) => x.dependsOn.includes(d)).map((x) => x.id));
      else found.add(d);
    }
    mustPrecede.set(h.id, [...found]);
  }

  const down = new Set<string>();
  const outstanding = new Set<string>();
  const sources = new Map<
    string,
    { readingAt?: number; lostSince?: number; onLineSince?: number; charge?: number }
  >(plan.ups.map((u) => [u.id, {}]));
  const staleMs = plan.settings.staleAfter * 1000;
  let outage:
    | {
        id: string;
        sources: Set<string>;
        shutdowns: Map<string, number>;
        poweredOff: Map<string, number>;
        restoring: boolean;
        /** The controller's host acknowledged going down: its supplies were cut. */
        controllerCycled: boolean;
        up: Set<string>;
        failed: Set<string>;
        left: Set<string>;
      }
    | undefined;

  const inRestoreSet = (id: string) => {
    if (down.has(id)) return true;
    const h = hosts.get(id)!;
    if (h.kind !== 'wake-only' || !outage) return false;
    const controller = plan.hosts.find((x) => x.kind === 'controller');
    const cut = (s: string) =>
      outage!.poweredOff.has(s) ||
      (outage!.controllerCycled && controller !== undefined && suppliesOf(controller.id).includes(s));
    const remaining = suppliesOf(id).filter((s) => !cut(s)).length;
    return remaining < h.minSupplies;
  };

  for (const { at, event, actions } of trace) {
    const fail = (message: string) => violations.push(`t=${at}: ${message}`);
    if (event.type === 'reading') {
      const s = sources.get(event.source);
      if (s) {
        const r = event.reading;
        const testing = r.status.includes('CAL') || r.testInProgress === true;
        const onBattery = r.status.includes('OB') && !r.status.includes('OL');
        const onLine = testing || (!onBattery && r.status.includes('OL') && !r.status.includes('OB'));
        const mains = onLine && !r.status.includes('FSD');
        const gap = s.lostSince !== undefined || (s.readingAt !== undefined && at >= s.readingAt + staleMs);
        s.onLineSince = mains ? (gap || s.onLineSince === undefined ? at : s.onLineSince) : undefined;
        s.readingAt = at;
        delete s.lostSince;
        if (r.charge === undefined) delete s.charge;
        else s.charge = r.charge;
      }
    } else if (event.type === 'source-lost') {
      const s = sources.get(event.source);
      if (s) {
        s.lostSince ??= at;
        delete s.onLineSince;
      }
    }

    for (const a of actions) {
      switch (a.type) {
        case 'outage-started':
          if (outage) fail(`outage ${a.outage} started while ${outage.id} is open`);
          outage = {
            id: a.outage,
            sources: new Set(a.sources),
            shutdowns: new Map(),
            poweredOff: new Map(),
            restoring: false,
            controllerCycled: false,
            up: new Set(),
            failed: new Set(),
            left: new Set(),
          };
          break;
        case 'outage-ended':
          if (outage?.id !== a.outage) fail(`ended ${a.outage}, which is not open`);
          outage = undefined;
          break;
        case 'source-joined':
          outage?.sources.add(a.source);
          break;
        case 'shutdown-host': {
          if (!outage || outage.id !== a.outage) {
            fail(`shutdown of ${a.host} outside its outage`);
            break;
          }
          const n = (outage.shutdowns.get(a.host) ?? 0) + 1;
          outage.shutdowns.set(a.host, n);
          if (n > 1) fail(`${a.host} shut down ${n} times in ${a.outage}`);
          const kind = hosts.get(a.host)!.kind;
          if (kind === 'wake-only') fail(`wake-only host ${a.host} was commanded`);
          if (kind === 'controller') {
            for (const other of outstanding)
              if (managed(other))
                fail(`controller's host ${a.host} commanded while ${other} is still going down`);
          }
          for (const d of mustPrecede.get(a.host)!)
            if (!down.has(d)) fail(`${a.host} commanded before ${d}, which depends on it, is down`);
          outstanding.add(a.host);
          break;
        }
        case 'host-down':
          down.add(a.host);
          outstanding.delete(a.host);
          if (outage && hosts.get(a.host)!.kind === 'controller')
            outage.controllerCycled = a.how === 'acknowledged';
          break;
        case 'host-cancelled':
          outstanding.delete(a.host);
          break;
        case 'power-off-ups': {
          for (const h of plan.hosts) {
            if (managed(h.id) && suppliesOf(h.id).includes(a.source) && !down.has(h.id))
              fail(
                `${a.source} powered off while ${h.id}, which it feeds, is neither down nor past its deadline`,
              );
          }
          outage?.poweredOff.set(a.source, at);
          break;
        }
        case 'restore-started': {
          if (!outage) break;
          outage.restoring = true;
          for (const id of outage.sources) {
            const s = sources.get(id)!;
            const fresh =
              s.lostSince === undefined && s.readingAt !== undefined && at < s.readingAt + staleMs;
            if (s.onLineSince === undefined || !fresh) fail(`restore started while ${id} is not on mains`);
            else if (at - s.onLineSince < plan.restore.mainsStableFor * 1000)
              fail(`restore started ${at - s.onLineSince} ms after ${id} returned to mains`);
            if (plan.restore.minCharge > 0 && (s.charge === undefined || s.charge < plan.restore.minCharge))
              fail(`restore started at ${s.charge} % charge on ${id}`);
          }
          for (const [u, t] of outage.poweredOff) {
            const { delay, offFor } = plan.ups.find((x) => x.id === u)!.powerOff;
            if (at < t + (delay + offFor) * 1000)
              fail(`restore started before ${u} cut its output long enough`);
          }
          break;
        }
        case 'ups-output-on':
          if (!outage?.restoring) fail(`${a.source} switched on before the restore started`);
          break;
        case 'wake-host': {
          if (!outage?.restoring) {
            fail(`${a.host} woken before the restore started`);
            break;
          }
          if (a.attempt !== 1) break;
          const h = hosts.get(a.host)!;
          const before = [...h.dependsOn, ...(h.wake?.via !== undefined ? [h.wake.via] : [])];
          for (const d of before) {
            if (!inRestoreSet(d) || outage.up.has(d) || outage.left.has(d)) continue;
            if (outage.failed.has(d) && plan.restore.onWakeFailure === 'continue') continue;
            fail(`${a.host} woken before ${d}, which it needs, is up`);
          }
          break;
        }
        case 'host-up':
          down.delete(a.host);
          outage?.up.add(a.host);
          break;
        case 'host-wake-failed':
          outage?.failed.add(a.host);
          break;
        case 'host-restore-skipped':
          if (a.reason === 'wake method is none') outage?.left.add(a.host);
          else outage?.failed.add(a.host);
          break;
        default:
          break;
      }
    }
  }
  return violations;
}

const SETTLED = new Set(['down', 'overdue']);

/** Recomputes the engine's incremental counters from scratch and reports any that drifted. */
export function auditState(state: EngineState): string[] {
  const o = state.outage;
  if (!o) return [];
  const problems: string[] = [];
  const plan = state.plan;
  const byId = hostRuns(state);
  const runs = plan.hosts.map((h) => byId.get(h.id)!);
  const index = new Map(plan.hosts.map((h, i) => [h.id, i]));
  const managed = (i: number) => plan.hosts[i]!.kind === 'agent' || plan.hosts[i]!.kind === 'nut-client';
  const inFlight = runs.filter(
    (r, i) => managed(i) && ['triggered', 'commanded', 'cancelling'].includes(r.phase),
  ).length;
  if (inFlight !== o.inFlight) problems.push(`inFlight ${o.inFlight}, expected ${inFlight}`);
  const holding = runs.filter((r) => (r.held ?? 0) > 0).length;
  if (holding !== o.holding) problems.push(`holding ${o.holding}, expected ${holding}`);
  if (o.phase === 'restore') {
    const pending = runs.filter((r) => r.phase === 'restore-wait' || r.phase === 'waking').length;
    if (pending !== o.restorePending)
      problems.push(`restorePending ${o.restorePending}, expected ${pending}`);
    return problems;
  }
  plan.ups.forEach((u, ui) => {
    const unsettled = plan.hosts.filter((h, i) => {
      const fed = h.supplies.length === 0 || h.supplies.includes(u.id);
      return fed && managed(i) && !SETTLED.has(runs[i]!.phase);
    }).length;
    if (unsettled !== o.ups[ui]!.unsettled)
      problems.push(`${u.id}.unsettled ${o.ups[ui]!.unsettled}, expected ${unsettled}`);
  });
  plan.hosts.forEach((h, i) => {
    if (h.kind === 'wake-only') return;
    let waitFor = 0;
    let held = 0;
    const dependents = effectiveDependents(plan, h.id);
    for (const d of dependents) {
      const j = index.get(d)!;
      const r = runs[j]!;
      const holds = r.phase === 'overdue' && plan.hosts[j]!.shutdown.fallback === 'hold' && !r.released;
      if (!SETTLED.has(r.phase) || holds) waitFor++;
      if (holds) held++;
    }
    const run = runs[i]!;
    if (run.waitFor !== waitFor) problems.push(`${h.id}.waitFor ${run.waitFor}, expected ${waitFor}`);
    if ((run.held ?? 0) !== held) problems.push(`${h.id}.held ${run.held ?? 0}, expected ${held}`);
    if (run.phase === 'commanded' || run.phase === 'cancelling') {
      const q = o.timers[`shutdown:${h.shutdown.timeout * 1000}`];
      const items = q ? queued(q) : [];
      if (!items.some(([at, x]) => x === i && at === run.deadline))
        problems.push(`${h.id} has no deadline timer`);
    }
  });
  return problems;
}

/** Every host being woken has its wake deadline queued. */
export function auditWakeTimers(state: EngineState): string[] {
  const o = state.outage;
  if (o?.phase !== 'restore') return [];
  const problems: string[] = [];
  const runs = hostRuns(state);
  state.plan.hosts.forEach((h, i) => {
    const run = runs.get(h.id)!;
    if (run.phase !== 'waking') return;
    const q = o.timers[`wake:${(h.wake?.timeout ?? 300) * 1000}`];
    const items = q ? queued(q) : [];
    if (!items.some(([at, x]) => x === i && at === run.wakeDeadline))
      problems.push(`${h.id} has no wake timer`);
  });
  return problems;
}

/** A deadline queue's pending entries: [at, host index]. */
function queued(q: TimerQueue): Array<[number, number]> {
  return Array.from({ length: q.at.size - q.head }, (_, k) => [
    pvecGet(q.at, q.head + k),
    pvecGet(q.host, q.head + k),
  ]);
}

function effectiveDependents(plan: Plan, id: string): string[] {
  const found = new Set<string>();
  const seen = new Set<string>();
  const queue = plan.hosts.filter((d) => d.dependsOn.includes(id)).map((d) => d.id);
  while (queue.length > 0) {
    const d = queue.pop()!;
    if (seen.has(d)) continue;
    seen.add(d);
    if (plan.hosts.find((x) => x.id === d)!.kind === 'wake-only')
      queue.push(...plan.hosts.filter((x) => x.dependsOn.includes(d)).map((x) => x.id));
    else found.add(d);
  }
  return [...found];
}
