import { useEffect, useState } from 'preact/hooks';
import { errorText, get } from '../api.ts';
import { Swimlanes, UpsCharts } from '../charts.tsx';
import { dash, dateTime, duration, time } from '../format.ts';
import { useLive } from '../live.ts';
import { href } from '../router.ts';
import { describeEvent, lanesFromEvents, mergeEvents } from '../timeline.ts';
import type { OutageSummary, OutageTimeline } from '../types.ts';
import { Alert, Table } from '../widgets.tsx';

export function Outages() {
  const [outages, setOutages] = useState<OutageSummary[]>();
  const [error, setError] = useState<string>();
  const feed = useLive();
  const running = feed.state?.outage?.id;
  useEffect(() => {
    get<{ outages: OutageSummary[] }>('/api/v1/outages').then(
      (r) => setOutages(r.outages),
      (e) => setError(errorText(e)),
    );
  }, [running]);
  return (
    <>
      <h1>Outages</h1>
      {error && <Alert>{error}</Alert>}
      {!outages && !error && <p class="loading">Loading…</p>}
      {outages?.length === 0 && <p>No outage recorded yet.</p>}
      {outages && outages.length > 0 && (
        <Table head={['Outage', 'Started', 'Lasted', 'Outcome', 'UPS']}>
          {outages.map((o) => (
            <tr>
              <th scope="row">
                <a href={href('outages', o.id)}>{o.id}</a>
              </th>
              <td>{dateTime(o.startedAt)}</td>
              <td>
                {o.endedAt
                  ? duration((new Date(o.endedAt).getTime() - new Date(o.startedAt).getTime()) / 1000)
                  : 'running'}
              </td>
              <td>{o.outcome ?? dash}</td>
              <td>{o.sources.join(', ')}</td>
            </tr>
          ))}
        </Table>
      )}
    </>
  );
}

export function OutageDetail(props: { id: string }) {
  const [timeline, setTimeline] = useState<OutageTimeline>();
  const [error, setError] = useState<string>();
  const feed = useLive();
  const running = feed.state?.outage?.id === props.id;
  useEffect(() => {
    setTimeline(undefined);
    get<OutageTimeline>(`/api/v1/outages/${encodeURIComponent(props.id)}/timeline`).then(setTimeline, (e) =>
      setError(errorText(e)),
    );
  }, [props.id, running]);

  if (error)
    return (
      <>
        <h1>Outage {props.id}</h1>
        <Alert>{error}</Alert>
      </>
    );
  if (!timeline) return <p class="loading">Loading the timeline…</p>;

  // A running outage keeps growing: the live feed's events join the stored ones.
  const events = running ? mergeEvents(timeline.events, feed.events.get(props.id) ?? []) : timeline.events;
  const start = new Date(timeline.startedAt).getTime();
  const lastAt = Math.max(
    start + 1000,
    ...events.map((e) => new Date(e.at).getTime()),
    ...timeline.readings.map((r) => new Date(r.at).getTime()),
  );
  const end = timeline.endedAt
    ? new Date(timeline.endedAt).getTime()
    : running && feed.state
      ? new Date(feed.state.at).getTime()
      : lastAt;
  const from = Math.min(start, ...timeline.readings.map((r) => new Date(r.at).getTime()));
  const sources = [...new Set(timeline.readings.map((r) => r.source))];
  const points = (source: string) => timeline.readings.filter((r) => r.source === source);
  const at = (iso: string) => new Date(iso).getTime();

  return (
    <>
      <p>
        <a href={href('outages')}>← Outages</a>
      </p>
      <h1>Outage {timeline.id}</h1>
      <p>
        {dateTime(timeline.startedAt)} – {timeline.endedAt ? dateTime(timeline.endedAt) : 'running'} ·
        outcome:{' '}
        <strong data-testid="outage-outcome">{timeline.outcome ?? (running ? 'running' : dash)}</strong> ·{' '}
        <a
          href={`/api/v1/outages/${encodeURIComponent(timeline.id)}/timeline.csv`}
          download={`${timeline.id}.csv`}
        >
          Export CSV
        </a>
      </p>
      {sources.map((source) => (
        <section class="card" aria-label={`UPS ${source}`}>
          <h2>UPS {source}</h2>
          <UpsCharts points={points(source)} from={from} to={end} />
        </section>
      ))}
      <section class="card">
        <Swimlanes title="Hosts" lanes={lanesFromEvents(events, end)} from={from} to={end} />
      </section>
      <section>
        <h2>Events</h2>
        <Table head={['Time', '+s', 'Subject', 'What']} class="events-table">
          {events.map((e) => (
            <tr>
              <td>{time(e.at)}</td>
              <td>{Math.round((at(e.at) - start) / 1000)}</td>
              <td>{e.host ?? e.source ?? dash}</td>
              <td>{describeEvent(e)}</td>
            </tr>
          ))}
        </Table>
      </section>
    </>
  );
}
