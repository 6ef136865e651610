import type { OutageOutcome, UpsReading } from '@blackstart/policy';
import { formatDuration, formatList, formatTime, type Notification } from './notification.ts';
import type { ConditionState, OutageTrack } from './store.ts';

/** What a message says; the notifier adds its id, kind, site, time, outage and link. */
export type Content = Pick<Notification, 'severity' | 'title' | 'text'> &
  Partial<Pick<Notification, 'facts' | 'hosts' | 'ups'>>;

export interface HostItem {
  host: string;
  /** The trigger that fired, or the number of wake attempts. */
  detail?: string;
}

type Fact = { label: string; value: string };

/** Charge, runtime and load of the latest reading, as facts and as one line. */
export function readingFacts(reading: UpsReading | undefined): Fact[] {
  if (!reading) return [];
  const facts: Fact[] = [];
  if (reading.charge !== undefined) facts.push({ label: 'Charge', value: `${Math.round(reading.charge)} %` });
  if (reading.runtime !== undefined) facts.push({ label: 'Runtime', value: formatDuration(reading.runtime) });
  if (reading.load !== undefined) facts.push({ label: 'Load', value: `${Math.round(reading.load)} %` });
  return facts;
}

const factLine = (facts: Fact[]) => facts.map((f) => `${f.label.toLowerCase()} ${f.value}`).join(', ');

export function onBattery(
  sources: string[],
  since: number,
  readings: ReadonlyMap<string, UpsReading>,
  joined = false,
): Content {
  const lines = sources.map((s) => {
    const facts = readingFacts(readings.get(s));
    return facts.length > 0 ? `${s}: ${factLine(facts)}` : s;
  });
  const first = sources.length === 1 ? readingFacts(readings.get(sources[0]!)) : [];
  return {
    severity: 'warning',
    title: `On battery: ${formatList(sources)}`,
    text: [
      joined
        ? `Another UPS went on battery during the outage (${formatTime(since)}).`
        : `Mains power failed; on battery since ${formatTime(since)}.`,
      ...lines,
    ].join('\n'),
    ups: sources,
    ...(first.length > 0 && { facts: first }),
  };
}

export function mainsReturned(track: OutageTrack, at: number): Content {
  return {
    severity: 'info',
    title: 'Mains power is back',
    text: `Mains returned for ${formatList(track.sources)} after ${formatDuration((at - track.startedAt) / 1000)} on battery.`,
    ups: track.sources,
  };
}

export function stageStarted(items: HostItem[]): Content {
  const hosts = items.map((i) => i.host);
  return {
    severity: 'warning',
    title: `Shutdown started: ${formatList(hosts)}`,
    text: items.map((i) => `${i.host}: ${i.detail ?? 'triggered'}`).join('\n'),
    hosts,
  };
}

export function hostDown(items: HostItem[]): Content {
  const hosts = items.map((i) => i.host);
  return {
    severity: 'info',
    title: `${formatList(hosts)} ${hosts.length === 1 ? 'is' : 'are'} down`,
    text: `${formatList(hosts, 50)} acknowledged the shutdown and ${hosts.length === 1 ? 'is' : 'are'} powering off.`,
    hosts,
  };
}

export function hostNoAck(items: HostItem[]): Content {
  const hosts = items.map((i) => i.host);
  return {
    severity: 'critical',
    title: `No shutdown acknowledgement from ${formatList(hosts)}`,
    text:
      `${formatList(hosts, 50)} did not acknowledge ${hosts.length === 1 ? 'its' : 'their'} shutdown before the deadline. ` +
      'The plan counts them as down and carries on; check that they powered off cleanly.',
    hosts,
  };
}

export function upsPoweredOff(source: string, delaySeconds: number): Content {
  return {
    severity: 'warning',
    title: `${source}: output switching off`,
    text:
      `Every host ${source} feeds is down: its output switches off in ${formatDuration(delaySeconds)} ` +
      'and comes back when mains returns, so the hosts restart.',
    ups: [source],
  };
}

export function restoreStarted(track: OutageTrack): Content {
  return {
    severity: 'info',
    title: 'Restore started',
    text: `Mains is stable and the batteries are charged: bringing back ${formatList(track.down.length > 0 ? track.down : track.triggered)} in dependency order.`,
  };
}

export function hostUp(items: HostItem[]): Content {
  const hosts = items.map((i) => i.host);
  return {
    severity: 'info',
    title: `${formatList(hosts)} ${hosts.length === 1 ? 'is' : 'are'} back`,
    text: `${formatList(hosts, 50)} came back up.`,
    hosts,
  };
}

export function hostWakeFailed(items: HostItem[]): Content {
  const hosts = items.map((i) => i.host);
  return {
    severity: 'critical',
    title: `${formatList(hosts)} did not come back`,
    text: items
      .map((i) => `${i.host}: no sign of life after ${i.detail ?? 'every'} wake attempt(s)`)
      .join('\n'),
    hosts,
  };
}

export function restoreDone(track: OutageTrack, at: number): Content {
  const seconds = (at - (track.restoreStartedAt ?? at)) / 1000;
  if (track.wakeFailed.length === 0)
    return {
      severity: 'info',
      title: 'Restore done: every host is back',
      text: `Restore took ${formatDuration(seconds)}; back: ${formatList(track.up, 50)}.`,
      hosts: track.up,
    };
  return {
    severity: 'warning',
    title: `Restore finished: ${formatList(track.wakeFailed)} did not come back`,
    text: `Restore took ${formatDuration(seconds)}; back: ${formatList(track.up, 50)}; not back: ${formatList(track.wakeFailed, 50)}.`,
    hosts: [...track.up, ...track.wakeFailed],
  };
}

const OUTCOME_TITLE: Record<OutageOutcome, string> = {
  averted: 'averted, nothing was shut down',
  restored: 'every host is back',
  'partially-restored': 'some hosts did not come back',
  'not-restored': 'hosts stay off (restore is disabled)',
  superseded: 'power failed again, a new outage carries on',
};

export function outageSummary(track: OutageTrack, outcome: OutageOutcome, endedAt: number): Content {
  const onBatteryFor = ((track.mainsReturnedAt ?? endedAt) - track.startedAt) / 1000;
  const lines = [
    `On battery ${formatTime(track.startedAt)}, for ${formatDuration(onBatteryFor)}${track.mainsReturnedAt ? '' : ' (mains not confirmed back)'}.`,
    `UPS: ${formatList(track.sources)}${track.lowestCharge !== undefined ? `; lowest charge ${Math.round(track.lowestCharge)} %` : ''}.`,
  ];
  const shutDown = track.triggered.filter((h) => !track.cancelled.includes(h));
  if (shutDown.length > 0) lines.push(`Shut down: ${formatList(shutDown, 50)}.`);
  if (track.cancelled.length > 0)
    lines.push(`Shutdown called off (mains back in time): ${formatList(track.cancelled, 50)}.`);
  if (track.noAck.length > 0) lines.push(`Did not acknowledge: ${formatList(track.noAck, 50)}.`);
  if (track.upsOff.length > 0) lines.push(`UPS output switched off: ${formatList(track.upsOff)}.`);
  if (track.up.length > 0) lines.push(`Back up: ${formatList(track.up, 50)}.`);
  if (track.wakeFailed.length > 0) lines.push(`Did not come back: ${formatList(track.wakeFailed, 50)}.`);
  if (track.skipped.length > 0) lines.push(`Left off: ${formatList(track.skipped, 50)}.`);
  if (track.failedDeliveries > 0)
    lines.push(`${track.failedDeliveries} notification(s) could not be delivered during this outage.`);
  const severity =
    outcome === 'partially-restored' || track.noAck.length > 0
      ? 'warning'
      : outcome === 'superseded'
        ? 'warning'
        : 'info';
  return {
    severity,
    title: `Outage over: ${OUTCOME_TITLE[outcome]}`,
    text: lines.join('\n'),
    ups: track.sources,
    hosts: shutDown,
    facts: [
      { label: 'Outcome', value: outcome },
      { label: 'On battery', value: formatDuration(onBatteryFor) },
      ...(track.lowestCharge !== undefined
        ? [{ label: 'Lowest charge', value: `${Math.round(track.lowestCharge)} %` }]
        : []),
      { label: 'Hosts shut down', value: String(shutDown.length) },
      ...(track.up.length + track.wakeFailed.length > 0
        ? [
            {
              label: 'Hosts back',
              value: `${track.up.length} of ${track.up.length + track.wakeFailed.length}`,
            },
          ]
        : []),
    ],
  };
}

/** The message when a condition is notified. */
export function conditionRaised(c: ConditionState, reading: UpsReading | undefined): Content {
  const facts = readingFacts(reading);
  switch (c.kind) {
    case 'low-battery':
      return {
        severity: 'critical',
        title: `${c.subject}: low battery`,
        text: `${c.subject} reports a low battery${facts.length > 0 ? ` (${factLine(facts)})` : ''}: it may switch off soon.`,
        ups: [c.subject],
        facts,
      };
    case 'runtime-short':
      return {
        severity: 'warning',
        title: `${c.subject}: runtime below what the plan needs`,
        text: c.detail,
        ups: [c.subject],
        facts,
      };
    case 'battery-replace':
      return {
        severity: 'warning',
        title: `${c.subject}: battery needs replacement`,
        text: `${c.subject} reports that its battery needs replacing (RB). Its runtime may be much shorter than expected.`,
        ups: [c.subject],
      };
    case 'ups-comm-lost':
      return {
        severity: 'critical',
        title: `Lost communication with ${c.subject}`,
        text: `No data from ${c.subject} since ${formatTime(c.raisedAt)}: ${c.detail}. Blackstart cannot see whether it is on battery.`,
        ups: [c.subject],
      };
    case 'agent-lost':
      return {
        severity: 'warning',
        title: `Agent on ${c.subject} lost`,
        text:
          `The agent on ${c.subject} disconnected at ${formatTime(c.raisedAt)} and has not come back. ` +
          'Blackstart cannot shut this host down until it reconnects.',
        hosts: [c.subject],
      };
  }
}

/** The message when a notified condition is over (only for those worth an all-clear). */
export function conditionResolved(c: ConditionState, at: number): Content | undefined {
  const after = formatDuration((at - c.raisedAt) / 1000);
  switch (c.kind) {
    case 'ups-comm-lost':
      return {
        severity: 'info',
        title: `Communication with ${c.subject} restored`,
        text: `${c.subject} is reporting again after ${after}.`,
        ups: [c.subject],
      };
    case 'agent-lost':
      return {
        severity: 'info',
        title: `Agent on ${c.subject} is back`,
        text: `The agent on ${c.subject} reconnected after ${after}.`,
        hosts: [c.subject],
      };
    default:
      return undefined;
  }
}

export function testMessage(channel: string): Content {
  return {
    severity: 'info',
    title: 'Test notification',
    text: `This is a test from Blackstart to the channel '${channel}'. If you can read it, the channel works.`,
  };
}
