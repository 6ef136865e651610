// Turns an outage's recorded events (or a drill's report) into swim-lanes and readable lines.
import { onBattery } from './format.ts';
import type { DrillReport, Point, TimelineEvent } from './types.ts';

/** A host's milestones, epoch ms. */
interface Milestones {
  triggered?: number;
  commanded?: number;
  acknowledged?: number;
  hooks: Array<{ at: number; label: string }>;
  poweringOff?: number;
  down?: number;
  woken?: number;
  up?: number;
  failed?: number;
  cancelled?: number;
}

export interface LaneSegment {
  from: number;
  to: number;
  /** CSS class suffix: `seg-<kind>`. */
  kind: string;
  label: string;
}
export interface LaneMark {
  at: number;
  label: string;
  kind: string;
}
export interface Lane {
  label: string;
  segments: LaneSegment[];
  marks: LaneMark[];
}

const ms = (iso: string) => new Date(iso).getTime();

function lane(host: string, m: Milestones, end: number): Lane {
  const segments: LaneSegment[] = [];
  const marks: LaneMark[] = [];
  const push = (from: number | undefined, to: number | undefined, kind: string, label: string) => {
    if (from !== undefined) segments.push({ from, to: to ?? end, kind, label });
  };
  const ack = m.acknowledged;
  push(m.commanded, ack ?? m.poweringOff ?? m.down, 'wait', 'command sent, waiting for acknowledgement');
  push(ack, m.poweringOff ?? m.down ?? m.cancelled, 'hooks', 'acknowledged, running hooks');
  push(m.poweringOff, m.down, 'poweroff', 'powering off');
  push(m.down, m.woken ?? m.up, 'off', 'offline');
  push(m.woken, m.up, 'boot', 'woken, waiting for health');
  push(m.up, end, 'up', 'healthy');
  const mark = (at: number | undefined, label: string, kind: string) => {
    if (at !== undefined) marks.push({ at, label, kind });
  };
  mark(m.triggered, 'triggered', 'trigger');
  for (const h of m.hooks) mark(h.at, h.label, 'hook');
  mark(m.failed, 'failed', 'failed');
  mark(m.cancelled, 'cancelled', 'cancelled');
  return { label: host, segments, marks };
}

/** Stored events and those the live feed brought, once each (by journal sequence), in order. */
export function mergeEvents(stored: TimelineEvent[], live: TimelineEvent[]): TimelineEvent[] {
  const seen = new Set(stored.map((e) => e.seq));
  return [...stored, ...live.filter((e) => !seen.has(e.seq))].sort((a, b) => a.seq - b.seq);
}

/** One lane per host that took part, in the order they were first mentioned. */
export function lanesFromEvents(events: TimelineEvent[], end: number): Lane[] {
  const hosts = new Map<string, Milestones>();
  const of = (host: string) => {
    const known = hosts.get(host);
    if (known) return known;
    const fresh: Milestones = { hooks: [] };
    hosts.set(host, fresh);
    return fresh;
  };
  for (const e of events) {
    if (!e.host) continue;
    const m = of(e.host);
    const at = ms(e.at);
    switch (e.kind) {
      case 'host-triggered':
        m.triggered ??= at;
        break;
      case 'shutdown-host':
        m.commanded ??= at;
        break;
      case 'host-progress': {
        const step = String(e.data.step);
        if (step === 'received') m.acknowledged ??= at;
        else if (step === 'hook-started' || step === 'hook-finished')
          m.hooks.push({
            at,
            label: `${step.replace('-', ' ')}${e.data.detail ? `: ${e.data.detail}` : ''}`,
          });
        else if (step === 'powering-off') m.poweringOff ??= at;
        else if (step === 'failed') m.failed ??= at;
        else if (step === 'cancelled') m.cancelled ??= at;
        break;
      }
      case 'host-down':
        m.down ??= at;
        break;
      case 'host-cancelled':
        m.cancelled ??= at;
        break;
      case 'wake-host':
        m.woken ??= at;
        break;
      case 'host-up':
        m.up ??= at;
        break;
      case 'host-wake-failed':
        m.failed ??= at;
        break;
    }
  }
  return [...hosts].map(([host, m]) => lane(host, m, end));
}

export function lanesFromDrill(report: DrillReport, end: number): Lane[] {
  return report.hosts.map((h) => {
    const m: Milestones = { hooks: [] };
    if (h.commandedAt) m.commanded = ms(h.commandedAt);
    for (const s of h.steps) {
      const at = ms(s.at);
      if (s.step === 'received') m.acknowledged ??= at;
      else if (s.step === 'hook-started' || s.step === 'hook-finished')
        m.hooks.push({ at, label: `${s.step.replace('-', ' ')}${s.hook ? `: ${s.hook}` : ''}` });
      else if (s.step === 'powering-off') m.poweringOff ??= at;
      else if (s.step === 'failed') m.failed ??= at;
    }
    if (h.downAt) m.down = ms(h.downAt);
    return lane(h.host, m, end);
  });
}

/** Stretches where the UPS said OB, as [from, to] epoch ms. */
export function onBatteryPeriods(points: Point[], end: number): Array<[number, number]> {
  const periods: Array<[number, number]> = [];
  let since: number | undefined;
  for (const p of points) {
    const at = ms(p.at);
    if (onBattery(p.status)) since ??= at;
    else if (since !== undefined) {
      periods.push([since, at]);
      since = undefined;
    }
  }
  if (since !== undefined) periods.push([since, end]);
  return periods;
}

/** A timeline event as one line of text. */
export function describeEvent(e: TimelineEvent): string {
  const d = e.data;
  switch (e.kind) {
    case 'outage-started':
      return 'outage started';
    case 'ups-status':
      return `UPS status ${String(d.status)}`;
    case 'host-triggered':
      return `triggered (${String(d.trigger)})`;
    case 'shutdown-host':
      return 'told to shut down';
    case 'host-progress':
      return `${String(d.step).replace('-', ' ')}${d.detail ? `: ${String(d.detail)}` : ''}`;
    case 'host-down':
      return `down (${String(d.how)})`;
    case 'power-off-ups':
      return `UPS told to power off in ${String(d.delaySeconds)} s`;
    case 'mains-returned':
      return 'mains returned';
    case 'restore-started':
      return 'restore started';
    case 'ups-output-on':
      return 'UPS output switched on';
    case 'wake-host':
      return `woken (${String(d.method)}, attempt ${String(d.attempt)})`;
    case 'host-up':
      return `back up (${String(d.how)})`;
    case 'host-wake-failed':
      return `did not come back after ${String(d.attempts)} attempts`;
    case 'outage-ended':
      return `outage ended: ${String(d.outcome)}`;
    case 'note':
      return String(d.message ?? 'note');
    default:
      return e.kind.replace(/-/g, ' ');
  }
}
