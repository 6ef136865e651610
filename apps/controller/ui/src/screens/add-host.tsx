import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText, get, post } from '../api.ts';
import { ago, dash, dateTime } from '../format.ts';
import { useLive } from '../live.ts';
import { announce, useIsAdmin } from '../session.ts';
import type { AgentInfo } from '../types.ts';
import { Alert, Table } from '../widgets.tsx';

interface Minted {
  token: string;
  host: string | null;
  expiresAt: string;
  installCommand?: string;
  ttlSeconds: number;
}

/** Agents as the controller knows them, fetched again whenever the live state moves (at most every 2 s). */
function useAgents(): AgentInfo[] | undefined {
  const feed = useLive();
  const [agents, setAgents] = useState<AgentInfo[]>();
  const last = useRef(0);
  const stamp = feed.state?.at;
  useEffect(() => {
    const wait = Math.max(0, last.current + 2000 - Date.now());
    const timer = window.setTimeout(() => {
      last.current = Date.now();
      get<{ agents: AgentInfo[] }>('/api/v1/agents').then(
        (r) => setAgents(r.agents),
        () => undefined,
      );
    }, wait);
    return () => window.clearTimeout(timer);
  }, [stamp]);
  return agents;
}

export function AddHost() {
  const admin = useIsAdmin();
  const [host, setHost] = useState('');
  const [hours, setHours] = useState(1);
  const [minted, setMinted] = useState<Minted>();
  const [error, setError] = useState<string>();
  const [copied, setCopied] = useState(false);
  const agents = useAgents();
  const commandRef = useRef<HTMLTextAreaElement>(null);

  const mint = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    setCopied(false);
    try {
      const ttlSeconds = Math.round(hours * 3600);
      const result = await post<Minted>('/api/v1/enrollment-tokens', {
        ...(host.trim() && { host: host.trim() }),
        ttlSeconds,
      });
      setMinted({ ...result, ttlSeconds });
      announce('Install command ready');
    } catch (e) {
      setError(errorText(e));
    }
  };

  const copy = async () => {
    const text = minted?.installCommand ?? '';
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard permission (plain HTTP on a LAN address): select the text for Ctrl+C instead.
      commandRef.current?.select();
      document.execCommand('copy');
    }
    setCopied(true);
    announce('Copied');
  };

  // Agents enrolled since the token was minted (the server's clock: expiry minus validity).
  const mintedAt = minted ? new Date(minted.expiresAt).getTime() - minted.ttlSeconds * 1000 : 0;
  const newAgents = minted
    ? (agents ?? []).filter((a) => new Date(a.enrolledAt).getTime() >= mintedAt - 1000)
    : [];

  return (
    <>
      <h1>Add a host</h1>
      {admin ? (
        <form class="card form" onSubmit={mint}>
          <p>
            Mint a one-time enrollment token and run the command it gives on the new host (Debian or any
            systemd Linux, as root or with sudo).
          </p>
          <label>
            Host id (optional; default: the host's name)
            <input
              name="host"
              pattern="[a-z0-9][a-z0-9._\-]{0,62}"
              value={host}
              onInput={(e) => setHost(e.currentTarget.value)}
              placeholder="e.g. nas"
            />
          </label>
          <label>
            Valid for (hours)
            <input
              name="hours"
              type="number"
              min={0.5}
              max={168}
              step={0.5}
              value={hours}
              onInput={(e) => setHours(Number(e.currentTarget.value))}
            />
          </label>
          {error && <Alert>{error}</Alert>}
          <button type="submit">Create install command</button>
        </form>
      ) : (
        <p class="notice">Adding hosts needs the admin login.</p>
      )}
      {minted && (
        <section class="card" aria-labelledby="command-title">
          <h2 id="command-title">Install command</h2>
          <p>
            Valid until {dateTime(minted.expiresAt)}, once
            {minted.host && (
              <>
                {' '}
                for host <strong>{minted.host}</strong>
              </>
            )}
            .
          </p>
          {minted.installCommand ? (
            <>
              <label>
                Run this on the new host
                <textarea
                  ref={commandRef}
                  class="command"
                  readOnly
                  rows={3}
                  data-testid="install-command"
                  value={minted.installCommand}
                  onFocus={(e) => e.currentTarget.select()}
                />
              </label>
              <button type="button" onClick={copy}>
                Copy command
              </button>
              <span role="status">{copied ? ' Copied.' : ''}</span>
            </>
          ) : (
            <p>
              Token: <code>{minted.token}</code>
            </p>
          )}
          <h3>New agents</h3>
          <p role="status" data-testid="enrolled">
            {newAgents.length === 0
              ? 'Waiting for the agent to enroll…'
              : newAgents.map((a) => `${a.host} ${a.connected ? 'connected' : 'enrolled'}`).join(', ')}
          </p>
        </section>
      )}
      <section aria-labelledby="agents-title">
        <h2 id="agents-title">Enrolled agents</h2>
        {!agents ? (
          <p class="loading">Loading…</p>
        ) : agents.length === 0 ? (
          <p>None yet.</p>
        ) : (
          <Table head={['Host', 'Connected', 'Version', 'Enrolled', 'Last seen']}>
            {agents.map((a) => (
              <tr data-testid={`agent-${a.host}`}>
                <th scope="row">{a.host}</th>
                <td>{a.connected ? <span class="good">yes</span> : <span class="bad">no</span>}</td>
                <td>{a.version ?? dash}</td>
                <td>{dateTime(a.enrolledAt)}</td>
                <td>{a.connected ? 'now' : ago(a.lastSeenAt)}</td>
              </tr>
            ))}
          </Table>
        )}
      </section>
    </>
  );
}
