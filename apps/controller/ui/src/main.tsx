import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, errorText, get, onUnauthorized, post } from './api.ts';
import { live, useLive } from './live.ts';
import { href, useRoute } from './router.ts';
import { AddHost } from './screens/add-host.tsx';
import { Dashboard } from './screens/dashboard.tsx';
import { Login } from './screens/login.tsx';
import { Notifications } from './screens/notifications.tsx';
import { OutageDetail, Outages } from './screens/outages.tsx';
import { PlanEditor } from './screens/plan-editor.tsx';
import { ReadinessBoard } from './screens/readiness.tsx';
import { SessionContext } from './session.ts';
import type { Me } from './types.ts';

const NAV: Array<[string, string, string]> = [
  ['', 'Dashboard', 'dashboard'],
  ['outages', 'Outages', 'outages'],
  ['plan', 'Plan', 'plan'],
  ['readiness', 'Readiness', 'readiness'],
  ['add-host', 'Add a host', 'add-host'],
  ['notifications', 'Notifications', 'notifications'],
];

function Screen(props: { route: string[] }) {
  const [first, second] = props.route;
  switch (first) {
    case undefined:
      return <Dashboard />;
    case 'outages':
      return second ? <OutageDetail id={second} /> : <Outages />;
    case 'plan':
      return <PlanEditor />;
    case 'readiness':
      return <ReadinessBoard />;
    case 'add-host':
      return <AddHost />;
    case 'notifications':
      return <Notifications />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            There is no screen <code>#/{props.route.join('/')}</code>. <a href="#/">Back to the dashboard</a>.
          </p>
        </section>
      );
  }
}

function ConnectionBadge() {
  const feed = useLive();
  const label =
    feed.connection === 'open' ? 'live' : feed.connection === 'connecting' ? 'connecting…' : 'offline';
  return (
    <span class={`badge conn-${feed.connection}`} role="status" title="live updates from the controller">
      {label}
    </span>
  );
}

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [failure, setFailure] = useState<string>();
  const route = useRoute();

  useEffect(() => {
    get<Me>('/api/v1/auth/me').then(setMe, (error) => {
      if (error instanceof ApiError && error.status === 401) setMe(null);
      else setFailure(errorText(error));
    });
    return onUnauthorized(() => setMe(null));
  }, []);

  useEffect(() => {
    if (me) live.start();
    else live.stop();
  }, [me]);

  useEffect(() => {
    const name = NAV.find(([path]) => path === (route[0] ?? ''))?.[1];
    document.title = name ? `${name} · Blackstart` : 'Blackstart';
  }, [route[0]]);

  if (failure) return <p class="error">The controller does not answer: {failure}</p>;
  if (me === undefined) return <p class="loading">Loading…</p>;
  if (me === null) return <Login onLogin={setMe} />;

  const logout = async () => {
    await post('/api/v1/auth/logout').catch(() => undefined);
    setMe(null);
  };
  const current = route[0] ?? '';
  return (
    <SessionContext.Provider value={me}>
      <button type="button" class="skip" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <span class="brand">Blackstart</span>
        <nav aria-label="screens">
          <ul>
            {NAV.map(([path, label, id]) => (
              <li>
                <a
                  href={href(...(path ? [path] : []))}
                  id={`nav-${id}`}
                  aria-current={current === path ? 'page' : undefined}
                >
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span class="who">
          <ConnectionBadge />
          <span>
            {me.name} <span class="role">({me.role})</span>
          </span>
          <button type="button" class="secondary" onClick={logout}>
            Log out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <Screen route={route} />
      </main>
    </SessionContext.Provider>
  );
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  const announcer = document.createElement('div');
  announcer.id = 'announcer';
  announcer.className = 'visually-hidden';
  announcer.setAttribute('aria-live', 'polite');
  document.body.append(announcer);
  render(<App />, root);
}
