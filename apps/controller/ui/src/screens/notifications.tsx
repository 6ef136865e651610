import { useEffect, useState } from 'preact/hooks';
import { errorText, get, post } from '../api.ts';
import { dash, dateTime } from '../format.ts';
import { useLive } from '../live.ts';
import { useIsAdmin } from '../session.ts';
import type { ChannelStatus, DeliveryFailure } from '../types.ts';
import { Alert, Table } from '../widgets.tsx';

type TestResult = { ok: true; ms: number } | { ok: false; ms: number; error: string };

export function Notifications() {
  const admin = useIsAdmin();
  const feed = useLive();
  const failed = feed.state?.notifications.failed;
  const [data, setData] = useState<{ channels: ChannelStatus[]; failures: DeliveryFailure[] }>();
  const [error, setError] = useState<string>();
  const [results, setResults] = useState<Record<string, TestResult | 'sending'>>({});

  const load = () => get<typeof data>('/api/v1/notifications').then(setData, (e) => setError(errorText(e)));
  useEffect(() => {
    load();
  }, [failed]);

  const test = async (id: string) => {
    setResults((r) => ({ ...r, [id]: 'sending' }));
    try {
      const result = await post<TestResult>(`/api/v1/notifications/channels/${encodeURIComponent(id)}/test`);
      setResults((r) => ({ ...r, [id]: result }));
    } catch (e) {
      setResults((r) => ({ ...r, [id]: { ok: false, ms: 0, error: errorText(e) } }));
    }
    load();
  };

  return (
    <>
      <h1>Notifications</h1>
      {error && <Alert>{error}</Alert>}
      {!data && !error && <p class="loading">Loading…</p>}
      {data && (
        <>
          <section aria-labelledby="channels-title">
            <h2 id="channels-title">Channels</h2>
            {data.channels.length === 0 && (
              <p>
                No channel is configured. Add them under <code>notifications.channels</code> in the
                controller's configuration.
              </p>
            )}
            <Table
              head={[
                'Channel',
                'Type',
                'Events',
                'Waiting',
                'Last delivered',
                'Last failure',
                admin && 'Test',
              ]}
            >
              {data.channels.map((c) => {
                const result = results[c.id];
                return (
                  <tr>
                    <th scope="row">{c.id}</th>
                    <td>{c.type}</td>
                    <td>{c.events === 'all' ? 'all' : c.events.join(', ')}</td>
                    <td>{c.pending}</td>
                    <td>{dateTime(c.lastDeliveredAt)}</td>
                    <td>{c.lastFailedAt ? `${dateTime(c.lastFailedAt)}: ${c.lastError ?? ''}` : dash}</td>
                    {admin && (
                      <td>
                        <button type="button" onClick={() => test(c.id)} disabled={result === 'sending'}>
                          Send a test to {c.id}
                        </button>
                        <span role="status" class="test-result">
                          {result === 'sending'
                            ? ' sending…'
                            : result?.ok
                              ? ` delivered in ${result.ms} ms`
                              : result
                                ? ` failed: ${result.error}`
                                : ''}
                        </span>
                      </td>
                    )}
                  </tr>
                );
              })}
            </Table>
          </section>
          <section aria-labelledby="failures-title">
            <h2 id="failures-title">Messages that failed</h2>
            {data.failures.length === 0 ? (
              <p>None: every message was delivered.</p>
            ) : (
              <Table head={['Given up', 'Channel', 'Message', 'Attempts', 'Error']}>
                {data.failures.map((f) => (
                  <tr>
                    <td>{dateTime(f.at)}</td>
                    <td>
                      {f.channel} ({f.channelType})
                    </td>
                    <td>
                      {f.notification.title}
                      {f.notification.outage && (
                        <>
                          {' '}
                          (<a href={`#/outages/${encodeURIComponent(f.notification.outage)}`}>outage</a>)
                        </>
                      )}
                    </td>
                    <td>{f.attempts}</td>
                    <td>{f.error}</td>
                  </tr>
                ))}
              </Table>
            )}
          </section>
        </>
      )}
    </>
  );
}
