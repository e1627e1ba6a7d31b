import { Role, type User } from '@fleet/protocol/browser';
import { useId, useState, type FormEvent } from 'react';
import { ConfirmDialog } from '../../../components/confirm-dialog.js';
import { Empty, ErrorBox, Loading, PageHeader } from '../../../components/feedback.js';
import { Badge } from '../../../components/status-badge.js';
import { formatDate } from '../../../lib/format.js';
import { useMe } from '../../auth/api/get-me.js';
import { useCan } from '../../auth/components/can.js';
import { CreateUserInput, useCreateUser, useUpdateUser, useUsers } from '../api/users.js';

export function UsersRoute() {
  const isAdmin = useCan('admin');
  if (!isAdmin) {
    return (
      <>
        <PageHeader title="Users" />
        <p role="alert">Managing users needs the admin role.</p>
      </>
    );
  }
  return <UsersAdmin />;
}

function UsersAdmin() {
  const users = useUsers();
  const update = useUpdateUser();
  const me = useMe().data;
  const [toDisable, setToDisable] = useState<User | null>(null);
  return (
    <>
      <PageHeader title="Users" />
      <CreateUserForm />
      {update.error && <ErrorBox error={update.error} />}
      {users.isPending ? (
        <Loading label="Loading users" />
      ) : users.isError ? (
        <ErrorBox error={users.error} />
      ) : users.data.length === 0 ? (
        <Empty>No users.</Empty>
      ) : (
        <div className="card">
          <table>
            <thead>
              <tr>
                <th scope="col">E-mail</th>
                <th scope="col">Role</th>
                <th scope="col">State</th>
                <th scope="col">Last login</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => {
                const self = u.id === me?.userId;
                return (
                  <tr key={u.id}>
                    <th scope="row">{u.email}</th>
                    <td>
                      <label className="visually-hidden" htmlFor={`role-${u.id}`}>
                        Role of {u.email}
                      </label>
                      <select
                        id={`role-${u.id}`}
                        value={u.role}
                        disabled={self || update.isPending}
                        onChange={(e) =>
                          update.mutate({ id: u.id, input: { role: Role.parse(e.target.value) } })
                        }
                      >
                        {Role.options.map((r) => (
                          <option key={r}>{r}</option>
                        ))}
                      </select>
                    </td>
                    <td>
                      {u.disabled ? <Badge tone="bad">disabled</Badge> : <Badge tone="ok">active</Badge>}
                    </td>
                    <td>{formatDate(u.lastLoginAt)}</td>
                    <td>
                      {!self &&
                        (u.disabled ? (
                          <button
                            type="button"
                            className="btn small"
                            onClick={() => update.mutate({ id: u.id, input: { disabled: false } })}
                          >
                            Enable {u.email}
                          </button>
                        ) : (
                          <button type="button" className="btn small danger" onClick={() => setToDisable(u)}>
                            Disable {u.email}
                          </button>
                        ))}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        open={toDisable !== null}
        title={`Disable ${toDisable?.email ?? ''}?`}
        confirmLabel="Disable"
        danger
        busy={update.isPending}
        onCancel={() => setToDisable(null)}
        onConfirm={() =>
          update.mutate(
            { id: toDisable!.id, input: { disabled: true } },
            { onSettled: () => setToDisable(null) },
          )
        }
      >
        <p>They are signed out and their API tokens stop working until the account is enabled again.</p>
      </ConfirmDialog>
    </>
  );
}

function CreateUserForm() {
  const create = useCreateUser();
  const [error, setError] = useState<string | null>(null);
  const id = useId();
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    const parsed = CreateUserInput.safeParse({
      email: data.get('email'),
      password: data.get('password'),
      role: data.get('role'),
    });
    if (!parsed.success)
      return setError(parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join('; '));
    setError(null);
    create.mutate(parsed.data, { onSuccess: () => form.reset() });
  }
  return (
    <form className="card inline-form" onSubmit={submit} aria-label="Create a user" noValidate>
      <div className="field">
        <label htmlFor={`${id}-email`}>E-mail</label>
        <input id={`${id}-email`} name="email" type="email" autoComplete="off" />
      </div>
      <div className="field">
        <label htmlFor={`${id}-pw`}>Initial password</label>
        <input id={`${id}-pw`} name="password" type="password" autoComplete="new-password" />
      </div>
      <div className="field">
        <label htmlFor={`${id}-role`}>Role</label>
        <select id={`${id}-role`} name="role" defaultValue="viewer">
          {Role.options.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
      </div>
      <button type="submit" className="btn primary" disabled={create.isPending}>
        Create user
      </button>
      {error && (
        <p role="alert" className="error-text">
          {error}
        </p>
      )}
      {create.error && <ErrorBox error={create.error} />}
    </form>
  );
}
