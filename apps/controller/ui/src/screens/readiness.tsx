import { useEffect, useState } from 'preact/hooks';
import { errorText, get, post } from '../api.ts';
import { Swimlanes } from '../charts.tsx';
import { dash, dateTime, duration, time } from '../format.ts';
import { useLive } from '../live.ts';
import { announce, useIsAdmin } from '../session.ts';
import { lanesFromDrill } from '../timeline.ts';
import type { DrillReport, Readiness } from '../types.ts';
import { Alert, Table } from '../widgets.tsx';

/** How far a drill had got when its report was made: ended, then steps recorded. */
function drillProgress(r: DrillReport): number {
  let steps = r.status === 'running' ? 0 : 1_000_000;
  for (const h of r.hosts) steps += h.steps.length + (h.commandedAt ? 1 : 0) + (h.downAt ? 1 : 0);
  return steps;
}

/** `next`, unless `prev` is a report of the same drill that had got further. */
function newerDrill(prev: DrillReport | undefined, next: DrillReport): DrillReport {
  return prev && prev.id === next.id && drillProgress(prev) > drillProgress(next) ? prev : next;
}

function DrillProgress(props: { report: DrillReport; now: number }) {
  const { report, now } = props;
  const start = new Date(report.startedAt).getTime();
  const end = report.endedAt ? new Date(report.endedAt).getTime() : Math.max(now, start + 1000);
  return (
    <section class="card" aria-labelledby="drill-title" data-testid="drill">
      <h2 id="drill-title">
        Drill {report.id}: <span data-testid="drill-status">{report.status}</span>
      </h2>
      <p>
        Started {dateTime(report.startedAt)}
        {report.endedAt && <>, ended {time(report.endedAt)}</>} · simulated outage{' '}
        {duration(report.simulatedSeconds)}
        {report.message && <> · {report.message}</>}
      </p>
      <Swimlanes title="Hosts in the drill" lanes={lanesFromDrill(report, end)} from={start} to={end} />
      <Table head={['Host', 'Trigger', 'Commanded', 'Steps', 'Down', 'Took']}>
        {report.hosts.map((h) => (
          <tr data-testid={`drill-host-${h.host}`}>
            <th scope="row">{h.host}</th>
            <td>
              {h.trigger ?? dash}
              {h.triggeredAfter !== undefined && <> (+{duration(h.triggeredAfter)})</>}
            </td>
            <td>{time(h.commandedAt)}</td>
            <td>{h.steps.map((s) => s.step + (s.hook ? ` ${s.hook}` : '')).join(' → ') || dash}</td>
            <td>{h.downAt ? `${time(h.downAt)} (${h.how ?? ''})` : (h.note ?? dash)}</td>
            <td>{duration(h.seconds)}</td>
          </tr>
        ))}
      </Table>
    </section>
  );
}

export function ReadinessBoard() {
  const admin = useIsAdmin();
  const feed = useLive();
  const [board, setBoard] = useState<Readiness>();
  const [error, setError] = useState<string>();
  const [drillId, setDrillId] = useState<string>();
  const [drill, setDrill] = useState<DrillReport>();
  const liveDrill = feed.state?.drill ?? null;
  const connectedCount = feed.state?.hosts.filter((h) => h.agent?.connected).length;

  useEffect(() => {
    get<Readiness>('/api/v1/readiness').then(setBoard, (e) => setError(errorText(e)));
  }, [connectedCount, liveDrill?.status]);

  // The live feed carries the running drill; once it ends, the stored report is the final word.
  // Reports arrive from both (a fetch may answer late), so an older one never replaces a newer one:
  // the timeline only ever grows.
  const keepNewer = (next: DrillReport) => setDrill((prev) => newerDrill(prev, next));
  useEffect(() => {
    if (liveDrill && liveDrill.id === drillId) keepNewer(liveDrill);
  }, [liveDrill, drillId]);
  const shown = liveDrill && (!drillId || liveDrill.id === drillId) ? newerDrill(drill, liveDrill) : drill;
  useEffect(() => {
    if (!drillId || liveDrill?.id === drillId) return;
    get<DrillReport>(`/api/v1/drills/${encodeURIComponent(drillId)}`).then(keepNewer, () => undefined);
  }, [drillId, liveDrill?.id, liveDrill?.status]);

  const start = async () => {
    setError(undefined);
    try {
      const report = await post<DrillReport>('/api/v1/drills', {});
      setDrillId(report.id);
      keepNewer(report);
      announce('Drill started');
    } catch (e) {
      setError(errorText(e));
    }
  };
  const abort = async () => {
    if (!shown) return;
    try {
      keepNewer(await post<DrillReport>(`/api/v1/drills/${encodeURIComponent(shown.id)}/abort`));
    } catch (e) {
      setError(errorText(e));
    }
  };

  const now = feed.state ? new Date(feed.state.at).getTime() : Date.now();
  const report = shown ?? board?.lastDrill ?? undefined;
  return (
    <>
      <h1>Readiness</h1>
      {error && <Alert>{error}</Alert>}
      {admin && (
        <p class="actions">
          <button
            type="button"
            onClick={start}
            disabled={shown?.status === 'running' || !!feed.state?.outage}
          >
            Start a drill
          </button>
          {shown?.status === 'running' && (
            <button type="button" class="secondary" onClick={abort}>
              Abort the drill
            </button>
          )}
          <span class="muted">
            {' '}
            A drill runs the plan against a simulated outage: agents run their hooks, nothing powers off.
          </span>
        </p>
      )}
      {!board && !error && <p class="loading">Loading…</p>}
      {board && (
        <>
          <section aria-labelledby="ready-hosts">
            <h2 id="ready-hosts">Hosts</h2>
            <Table head={['Host', 'Kind', 'Agent', 'Wake', 'Last drill']}>
              {board.hosts.map((h) => (
                <tr>
                  <th scope="row">{h.id}</th>
                  <td>{h.kind}</td>
                  <td>
                    {h.agent === null ? (
                      <span class="muted">none</span>
                    ) : h.agent.connected ? (
                      <span class="good">connected {h.agent.version && `(${h.agent.version})`}</span>
                    ) : (
                      <span class="bad">not connected</span>
                    )}
                  </td>
                  <td>
                    {h.wake ? (
                      <span class={h.wake.ready ? 'good' : 'bad'}>
                        {h.wake.method}: {h.wake.detail}
                      </span>
                    ) : (
                      dash
                    )}
                  </td>
                  <td>
                    {h.lastDrill
                      ? `${dateTime(h.lastDrill.at)} — ${h.lastDrill.status}, ${duration(h.lastDrill.seconds)}`
                      : 'never'}
                  </td>
                </tr>
              ))}
            </Table>
          </section>
          <section aria-labelledby="ready-ups">
            <h2 id="ready-ups">UPS</h2>
            <Table head={['UPS', 'Source', 'Power-off and restart']}>
              {board.ups.map((u) => (
                <tr>
                  <th scope="row">{u.id}</th>
                  <td>{u.kind}</td>
                  <td>
                    {u.capabilities?.summary ?? 'unknown'}
                    {u.warnings.map((w) => (
                      <p class="warning">{w}</p>
                    ))}
                  </td>
                </tr>
              ))}
            </Table>
          </section>
        </>
      )}
      {report && <DrillProgress report={report} now={now} />}
    </>
  );
}
