import { Navigate, useNavigate, useSearchParams } from 'react-router';
import { useMe } from '../api/get-me.js';
import { LoginForm } from '../components/login-form.js';

/** Only same-app paths: an open redirect through ?next= would be a phishing aid. */
export function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : '/';
}

export function LoginRoute() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const me = useMe();
  const next = safeNext(params.get('next'));
  if (me.data) return <Navigate to={next} replace />;
  return (
    <main className="login-page">
      <LoginForm onSuccess={() => navigate(next, { replace: true })} />
    </main>
  );
}
