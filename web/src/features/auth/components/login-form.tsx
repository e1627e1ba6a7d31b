import { useState, type FormEvent } from 'react';
import { ApiError } from '../../../lib/api-client.js';
import { LoginInput, useLogin } from '../api/login.js';

export function LoginForm({ onSuccess }: { onSuccess: () => void }) {
  const login = useLogin();
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<keyof LoginInput, string>>>({});

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const parsed = LoginInput.safeParse({ email: form.get('email'), password: form.get('password') });
    if (!parsed.success) {
      const errs: Partial<Record<keyof LoginInput, string>> = {};
      for (const i of parsed.error.issues) errs[i.path[0] as keyof LoginInput] ??= i.message;
      setFieldErrors(errs);
      return;
    }
    setFieldErrors({});
    login.mutate(parsed.data, { onSuccess });
  }

  const error = login.error;
  const message =
    error instanceof ApiError && error.status === 401
      ? 'Wrong e-mail or password.'
      : error
        ? error.message
        : null;

  return (
    <form className="card login" onSubmit={submit} noValidate aria-labelledby="login-title">
      <h1 id="login-title">Sign in to fleet</h1>
      <div className="field">
        <label htmlFor="login-email">E-mail</label>
        <input
          id="login-email"
          name="email"
          type="email"
          autoComplete="username"
          required
          aria-invalid={!!fieldErrors.email}
          aria-describedby={fieldErrors.email ? 'login-email-error' : undefined}
        />
        {fieldErrors.email && (
          <p id="login-email-error" className="field-error">
            {fieldErrors.email}
          </p>
        )}
      </div>
      <div className="field">
        <label htmlFor="login-password">Password</label>
        <input
          id="login-password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          aria-invalid={!!fieldErrors.password}
          aria-describedby={fieldErrors.password ? 'login-password-error' : undefined}
        />
        {fieldErrors.password && (
          <p id="login-password-error" className="field-error">
            {fieldErrors.password}
          </p>
        )}
      </div>
      {message && (
        <p role="alert" className="error-text">
          {message}
        </p>
      )}
      <button type="submit" className="btn primary" disabled={login.isPending}>
        {login.isPending ? 'Signing in…' : 'Sign in'}
      </button>
    </form>
  );
}
