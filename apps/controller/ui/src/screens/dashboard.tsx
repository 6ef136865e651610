import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.ts';
import { Swimlanes, UpsCharts } from '../charts.tsx';
import { ago, dash, duration, num, onBattery, statusText, time } from '../format.ts';
import { type LiveFeed, useLive } from '../live.ts';
import { href } from '../router.ts';
import { describeEvent, lanesFromEvents, mergeEvents } from '../timeline.ts';
import type {
  LiveOutage,
  LiveOutageHost,
  OutageTimeline,
  Point,
  SourceEntry,
  TimelineEvent,
} from '../types.ts';
import { Table } from '../widgets.tsx';

const HOUR_MS = 3600_000;

function UpsCard(props: { source: SourceEntry; history: Point[]; now: number }) {
  const { source, history, now } = props;
  const r = source.reading;
  // The last hour, or since the first reading when the controller has run for less.
  const first = history[0] ? new Date(history[0].at).getTime() : now;
  const from = Math.max(now - HOUR_MS, Math.min(first, now - 60_000));
  const battery = onBattery(r?.status);
  return (
    <article class={`card ups ${battery ? 'on-battery' : ''}`} aria-labelledby={`ups-${source.id}-name`}>
      <header>
        <h3 id={`ups-${source.id}-name`}>{source.id}</h3>
        <span class="muted">{source.kind}</span>
        <strong
          class={`status ${battery ? 'bad' : r ? 'good' : 'unknown'}`}
          data-testid={`ups-status-${source.id}`}
        >
          {r ? statusText(r.status) : 'no data'}
        </strong>
      </header>
      <dl class="figures">
        <div>
          <dt>Charge</dt>
          <dd data-testid={`ups-charge-${source.id}`}>{num(r?.charge, ' %')}</dd>
        </div>
        <div>
          <dt>Runtime</dt>
          <dd>{duration(r?.runtime)}</dd>
        </div>
        <div>
          <dt>Load</dt>
          <dd>{num(r?.load, ' %')}</dd>
        </div>
        <div>
          <dt>Input</dt>
          <dd>{num(r?.inputVoltage, ' V')}</dd>
        </div>
      </dl>
      {source.warnings.map((w) => (
        <p class="warning">{w}</p>
      ))}
      <UpsCharts points={history} from={from} to={now} />
    </article>
  );
}

const STEPS: Array<[keyof LiveOutageHost, string]> = [
  ['trigger', 'triggered'],
  ['commandedAt', 'commanded'],
  ['downAt', 'down'],
  ['upAt', 'back up'],
];

function OutageProgress(props: { outage: LiveOutage; feed: LiveFeed; now: number }) {
  const { outage, feed, now } = props;
  // What was recorded before this page connected comes from the stored timeline; the feed adds the rest.
  const [stored, setStored] = useState<TimelineEvent[]>([]);
  useEffect(() => {
    get<OutageTimeline>(`/api/v1/outages/${encodeURIComponent(outage.id)}/timeline`).then(
      (t) => setStored(t.events),
      () => setStored([]),
    );
  }, [outage.id]);
  const events = mergeEvents(stored, feed.events.get(outage.id) ?? []);
  const start = new Date(outage.startedAt).getTime();
  return (
    <section class="card outage-live" aria-labelledby="outage-live-title">
      <h2 id="outage-live-title">
        Outage in progress: <span data-testid="outage-phase">{outage.phase}</span>
      </h2>
      <p>
        Started {time(outage.startedAt)} ({ago(outage.startedAt, now)})
        {outage.mainsReturnedAt && <>; mains returned {time(outage.mainsReturnedAt)}</>}.{' '}
        <a href={href('outages', outage.id)}>Full timeline</a>
      </p>
      <ol class="steps">
        {outage.hosts.map((h) => (
          <li>
            <strong>{h.id}</strong> <span class={`phase phase-${h.phase}`}>{h.phase}</span>
            {h.lastStep && <span class="muted"> — last step: {h.lastStep}</span>}
            <ol class="host-steps" aria-label={`${h.id} steps`}>
              {STEPS.map(([key, label]) => (
                <li class={h[key] ? 'done' : 'todo'}>
                  {label}
                  {key === 'trigger'
                    ? h.trigger
                      ? `: ${h.trigger}`
                      : ''
                    : h[key]
                      ? ` ${time(h[key] as string)}`
                      : ''}
                </li>
              ))}
            </ol>
          </li>
        ))}
      </ol>
      {events.length > 0 && (
        <>
          <Swimlanes
            title="Hosts since the outage began"
            lanes={lanesFromEvents(events, now)}
            from={start}
            to={now}
          />
          <details>
            <summary>Latest events ({events.length})</summary>
            <ol class="events">
              {events.slice(-20).map((e) => (
                <li>
                  {time(e.at)} <strong>{e.host ?? e.source ?? ''}</strong> {describeEvent(e)}
                </li>
              ))}
            </ol>
          </details>
        </>
      )}
    </section>
  );
}

export function Dashboard() {
  const feed = useLive();
  const state = feed.state;
  if (!state) return <p class="loading">Waiting for the controller's live feed…</p>;
  const now = new Date(state.at).getTime();
  return (
    <>
      <h1>Dashboard</h1>
      <p class="muted">
        Plan version {state.plan.version}
        {state.plan.pending !== null && <> (version {state.plan.pending} waits for the outage to end)</>}
        {state.notifications.failed > 0 && (
          <>
            {' '}
            · <a href={href('notifications')}>{state.notifications.failed} failed notifications</a>
          </>
        )}
      </p>
      {state.outage && <OutageProgress outage={state.outage} feed={feed} now={now} />}
      {state.drill?.status === 'running' && (
        <p class="card notice">
          A drill is running. <a href={href('readiness')}>Follow it on the readiness board</a>.
        </p>
      )}
      <section aria-labelledby="ups-title">
        <h2 id="ups-title">UPS</h2>
        <div class="grid">
          {state.sources.map((s) => (
            <UpsCard source={s} history={feed.history.get(s.id) ?? []} now={now} />
          ))}
        </div>
      </section>
      <section aria-labelledby="hosts-title">
        <h2 id="hosts-title">Hosts</h2>
        <Table head={['Host', 'Kind', 'Agent', 'Last seen', 'Version', 'State']}>
          {state.hosts.map((h) => (
            <tr data-testid={`host-${h.id}`}>
              <th scope="row">{h.id}</th>
              <td>{h.kind}</td>
              <td>
                {h.agent === null ? (
                  <span class="muted">no agent</span>
                ) : h.agent.connected ? (
                  <span class="good">connected</span>
                ) : (
                  <span class="bad">disconnected</span>
                )}
              </td>
              <td>{h.agent ? (h.agent.connected ? 'now' : ago(h.agent.lastSeenAt, now)) : dash}</td>
              <td>{h.agent?.version ?? dash}</td>
              <td>{h.phase ?? (h.kind === 'agent' && !h.agent?.connected ? 'not ready' : 'ready')}</td>
            </tr>
          ))}
        </Table>
        <p>
          <a href={href('readiness')}>Readiness board</a> · <a href={href('add-host')}>Add a host</a>
        </p>
      </section>
    </>
  );
}
