import type { ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router';
import { ErrorBox, Loading } from '../../../components/feedback.js';
import { useMe } from '../api/get-me.js';

/** Sends anyone without a session to /login, remembering where they were going. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const me = useMe();
  const location = useLocation();
  if (me.isPending) return <Loading label="Checking your session" />;
  if (me.isError) return <ErrorBox error={me.error} />;
  if (!me.data) {
    const next = `${location.pathname}${location.search}`;
    return <Navigate to={`/login?next=${encodeURIComponent(next)}`} replace />;
  }
  return children;
}
