import {
  type ApiTokenInfo,
  type NewApiToken,
  Role,
  roleAtLeast,
  Scope,
  SCOPES,
} from '@fleet/protocol/browser';
import { useId, useState, type FormEvent } from 'react';
import { ConfirmDialog } from '../../../components/confirm-dialog.js';
import { Empty, ErrorBox, Loading, PageHeader } from '../../../components/feedback.js';
import { Badge } from '../../../components/status-badge.js';
import { formatDate } from '../../../lib/format.js';
import { useMe } from '../../auth/api/get-me.js';
import { useApiTokens, useCreateApiToken, useRevokeApiToken } from '../api/api-tokens.js';

/** Everyone manages their own API tokens (for hubctl and CI); admins also see everyone's. */
export function ApiTokensRoute() {
  const me = useMe().data;
  const isAdmin = !!me && roleAtLeast(me.role, 'admin');
  const [all, setAll] = useState(false);
  const tokens = useApiTokens(isAdmin && all);
  const create = useCreateApiToken();
  const revoke = useRevokeApiToken();
  const [created, setCreated] = useState<NewApiToken | null>(null);
  const [toRevoke, setToRevoke] = useState<ApiTokenInfo | null>(null);
  const [error, setError] = useState<string | null>(null);
  const id = useId();

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    const name = String(data.get('name') ?? '').trim();
    const role = data.get('role') ? Role.parse(data.get('role')) : undefined;
    const days = data.get('days') ? Number(data.get('days')) : undefined;
    const scopes = data.getAll('scope').map((s) => Scope.parse(s));
    if (!name) return setError('give the token a name');
    if (days !== undefined && !(Number.isInteger(days) && days >= 1 && days <= 3650))
      return setError('expiry must be 1–3650 days');
    if (role && me && !roleAtLeast(me.role, role))
      return setError(`a token cannot have more than your role (${me.role})`);
    setError(null);
    create.mutate(
      { name, role, scopes, expiresInDays: days },
      { onSuccess: (t) => (setCreated(t), form.reset()) },
    );
  }

  return (
    <>
      <PageHeader title="API tokens">
        {isAdmin && (
          <label className="check">
            <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> All users'
            tokens
          </label>
        )}
      </PageHeader>
      <form className="card inline-form" onSubmit={submit} aria-label="Create an API token" noValidate>
        <div className="field">
          <label htmlFor={`${id}-name`}>Token name</label>
          <input id={`${id}-name`} name="name" placeholder="e.g. ci-deploy" />
        </div>
        <div className="field">
          <label htmlFor={`${id}-role`}>Role</label>
          <select id={`${id}-role`} name="role" defaultValue="">
            <option value="">same as mine</option>
            {Role.options
              .filter((r) => me && roleAtLeast(me.role, r))
              .map((r) => (
                <option key={r}>{r}</option>
              ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor={`${id}-days`}>Expires in (days)</label>
          <input id={`${id}-days`} name="days" type="number" min={1} max={3650} defaultValue={90} />
        </div>
        <fieldset className="field">
          <legend>Scopes (none: everything the role allows)</legend>
          <div className="check-grid">
            {SCOPES.map((s) => (
              <label key={s} className="check">
                <input type="checkbox" name="scope" value={s} /> {s}
              </label>
            ))}
          </div>
        </fieldset>
        <button type="submit" className="btn primary" disabled={create.isPending}>
          Create token
        </button>
        {error && (
          <p role="alert" className="error-text">
            {error}
          </p>
        )}
        {create.error && <ErrorBox error={create.error} />}
      </form>
      {created && (
        <div className="secret card" role="status">
          <p>
            Token <strong>{created.name}</strong> (shown once, copy it now; use it as{' '}
            <code>hubctl login --token</code>):
          </p>
          <code className="secret-value">{created.token}</code>
        </div>
      )}
      {tokens.isPending ? (
        <Loading label="Loading tokens" />
      ) : tokens.isError ? (
        <ErrorBox error={tokens.error} />
      ) : tokens.data.length === 0 ? (
        <Empty>No API tokens.</Empty>
      ) : (
        <div className="card">
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Scopes</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">State</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {tokens.data.map((t) => (
                <tr key={t.id}>
                  <th scope="row">{t.name}</th>
                  <td>{t.role}</td>
                  <td>{t.scopes.length ? t.scopes.join(', ') : 'all'}</td>
                  <td>{t.expiresAt ? formatDate(t.expiresAt) : 'never'}</td>
                  <td>{formatDate(t.lastUsedAt)}</td>
                  <td>{t.revokedAt ? <Badge tone="bad">revoked</Badge> : <Badge tone="ok">active</Badge>}</td>
                  <td>
                    {!t.revokedAt && (
                      <button type="button" className="btn small danger" onClick={() => setToRevoke(t)}>
                        Revoke {t.name}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        open={toRevoke !== null}
        title={`Revoke token ${toRevoke?.name ?? ''}?`}
        confirmLabel="Revoke"
        danger
        busy={revoke.isPending}
        onCancel={() => setToRevoke(null)}
        onConfirm={() => revoke.mutate(toRevoke!.id, { onSettled: () => setToRevoke(null) })}
      >
        <p>Anything using it (hubctl, CI) is refused from now on.</p>
      </ConfirmDialog>
    </>
  );
}
