import type { OutageTimeline } from '../db/timeline.ts';

const STEP_TEXT: Record<string, string> = {
  received: 'acknowledged the command',
  'hook-started': 'hook started',
  'hook-finished': 'hook finished',
  'powering-off': 'powering off',
  failed: 'FAILED',
  cancelled: 'cancelled',
};

function describe(kind: string, data: Record<string, unknown>): string {
  switch (kind) {
    case 'ups-status': {
      const parts = [`status ${data.status}`];
      if (data.charge !== undefined) parts.push(`charge ${data.charge} %`);
      if (data.runtime !== undefined) parts.push(`runtime ${data.runtime} s`);
      return parts.join(', ');
    }
    case 'outage-started':
      return `outage started (${(data.sources as string[]).join(', ')} on battery past the debounce)`;
    case 'host-triggered':
      return `trigger fired: ${data.trigger}`;
    case 'shutdown-host':
      return `told to shut down (${data.reason})`;
    case 'host-progress': {
      const step = STEP_TEXT[data.step as string] ?? String(data.step);
      return data.detail ? `${step} — ${String(data.detail).split('\n')[0]}` : step;
    }
    case 'host-down':
      return data.how === 'acknowledged'
        ? 'down (acknowledged)'
        : 'down (deadline passed without acknowledgement)';
    case 'host-cancelled':
      return 'shutdown cancelled: mains came back first';
    case 'power-off-ups':
      return `UPS told to power off in ${data.delaySeconds} s`;
    case 'source-joined':
      return 'on battery too: joins the outage';
    case 'cancel-shutdown':
      return 'told to cancel its shutdown';
    case 'mains-returned':
      return 'mains is back';
    case 'restore-started':
      return 'restore started: mains stable and the battery charged enough';
    case 'ups-output-on':
      return 'UPS output switched on';
    case 'wake-host':
      return `woken (${data.method}${data.attempt && (data.attempt as number) > 1 ? `, attempt ${data.attempt}` : ''}), waiting for its health`;
    case 'host-up':
      return data.how === 'healthy' ? 'back up (healthy)' : `back up (${data.how})`;
    case 'host-wake-failed':
      return `did not come back after ${data.attempts} attempts`;
    case 'host-restore-skipped':
      return `not restored: ${data.reason}`;
    case 'outage-ended':
      return `outage ended: ${data.outcome}`;
    case 'source-lost':
      return `no data (${data.reason})`;
    case 'note':
      return String(data.message);
    default:
      return kind;
  }
}

/** A timeline as plain text, one line per event, with times relative to the outage start. */
export function formatTimeline(timeline: OutageTimeline): string {
  const start = Date.parse(timeline.startedAt);
  const lines = [
    `Outage ${timeline.id}: ${timeline.outcome ?? 'in progress'}`,
    `  started ${timeline.startedAt}${timeline.endedAt ? `, ended ${timeline.endedAt}` : ''}`,
    '',
  ];
  for (const event of timeline.events) {
    const offset = (Date.parse(event.at) - start) / 1000;
    const when = `${offset < 0 ? '-' : '+'}${Math.abs(offset).toFixed(1).padStart(5)} s`;
    const who = (event.host ?? event.source ?? '').padEnd(11);
    lines.push(`  ${when}  ${who} ${describe(event.kind, event.data)}`);
  }
  return lines.join('\n');
}
