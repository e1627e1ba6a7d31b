import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, type ReactNode } from 'react';
import { NavLink, useNavigate } from 'react-router';
import { useApi, useHubEvents } from '../lib/api-context.js';
import type { ConnectionState } from '../lib/hub-events.js';
import { connectLiveUpdates } from '../lib/live-updates.js';
import { useMe } from '../features/auth/api/get-me.js';
import { useLogout } from '../features/auth/api/logout.js';
import { useTheme } from './theme-context.js';

const NAV = [
  { to: '/', label: 'Overview', end: true },
  { to: '/devices', label: 'Devices' },
  { to: '/releases', label: 'Releases' },
  { to: '/rollouts', label: 'Rollouts' },
  { to: '/fleets', label: 'Fleets' },
  { to: '/tokens', label: 'API tokens' },
] as const;

function useConnection(): ConnectionState {
  const events = useHubEvents();
  const [state, setState] = useState(events.state);
  useEffect(() => events.onState(setState), [events]);
  return state;
}

/** The signed-in shell: navigation, user, theme, live indicator; owns the event stream. */
export function Layout({ children }: { children: ReactNode }) {
  const me = useMe().data;
  const qc = useQueryClient();
  const api = useApi();
  const events = useHubEvents();
  const navigate = useNavigate();
  const logout = useLogout();
  const theme = useTheme();
  const conn = useConnection();

  useEffect(() => connectLiveUpdates(qc, events), [qc, events]);

  // Any 401 from now on means the session ended (expired, revoked, user disabled).
  useEffect(() => {
    api.onUnauthorized = () => {
      qc.setQueryData(['auth', 'me'], null);
      navigate(`/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`, {
        replace: true,
      });
    };
    return () => {
      api.onUnauthorized = undefined;
    };
  }, [api, qc, navigate]);

  return (
    <div className="shell">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">fleet</span>
        <span
          className={`live ${conn}`}
          role="status"
          aria-label={`Live updates ${conn === 'open' ? 'connected' : conn}`}
        >
          <span aria-hidden="true">●</span>{' '}
          {conn === 'open' ? 'live' : conn === 'connecting' ? 'reconnecting' : 'offline'}
        </span>
        <span className="spacer" />
        <button
          type="button"
          className="btn small"
          onClick={theme.cycle}
          aria-label={`Theme: ${theme.choice}. Switch theme`}
        >
          {theme.choice === 'system' ? '◐ system' : theme.choice === 'light' ? '☀ light' : '☾ dark'}
        </button>
        {me && (
          <span className="user">
            {me.email} <span className="badge muted">{me.role}</span>
          </span>
        )}
        <button
          type="button"
          className="btn small"
          onClick={() => logout.mutate(undefined, { onSettled: () => navigate('/login', { replace: true }) })}
        >
          Sign out
        </button>
      </header>
      <nav className="sidebar" aria-label="Main">
        <ul>
          {NAV.map((n) => (
            <li key={n.to}>
              <NavLink to={n.to} end={'end' in n ? n.end : false}>
                {n.label}
              </NavLink>
            </li>
          ))}
          {me?.role === 'admin' && (
            <li>
              <NavLink to="/users">Users</NavLink>
            </li>
          )}
        </ul>
      </nav>
      <main id="main" className="content" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
