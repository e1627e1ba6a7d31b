import type { ClaimToken, Fleet, NewClaimToken } from '@fleet/protocol/browser';
import { useId, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { ConfirmDialog } from '../../../components/confirm-dialog.js';
import { Empty, ErrorBox, Loading, PageHeader } from '../../../components/feedback.js';
import { Badge } from '../../../components/status-badge.js';
import { formatDate } from '../../../lib/format.js';
import { Can, useCan } from '../../auth/components/can.js';
import { deviceSearchParams } from '../../devices/search.js';
import { Tag } from '../../devices/types.js';
import { useClaimTokens, useCreateClaimToken, useRevokeClaimToken } from '../api/claim-tokens.js';
import { CreateFleetInput, useCreateFleet } from '../api/create-fleet.js';
import { useFleets } from '../api/list-fleets.js';

export function FleetsRoute() {
  const fleets = useFleets();
  const [open, setOpen] = useState<string | null>(null);
  return (
    <>
      <PageHeader title="Fleets" />
      <Can role="operator">
        <CreateFleetForm />
      </Can>
      {fleets.isPending ? (
        <Loading label="Loading fleets" />
      ) : fleets.isError ? (
        <ErrorBox error={fleets.error} />
      ) : fleets.data.length === 0 ? (
        <Empty>No fleets yet.</Empty>
      ) : (
        <ul className="card-list">
          {fleets.data.map((f) => (
            <FleetCard
              key={f.id}
              fleet={f}
              open={open === f.id}
              onToggle={() => setOpen(open === f.id ? null : f.id)}
            />
          ))}
        </ul>
      )}
    </>
  );
}

function CreateFleetForm() {
  const create = useCreateFleet();
  const [error, setError] = useState<string | null>(null);
  const nameId = useId();
  const descId = useId();
  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    const parsed = CreateFleetInput.safeParse({
      name: data.get('name'),
      description: data.get('description') ?? '',
    });
    if (!parsed.success) return setError(parsed.error.issues[0]?.message ?? 'invalid');
    setError(null);
    create.mutate(parsed.data, { onSuccess: () => form.reset() });
  }
  return (
    <form className="card inline-form" onSubmit={submit} aria-label="Create a fleet" noValidate>
      <div className="field">
        <label htmlFor={nameId}>New fleet name</label>
        <input id={nameId} name="name" placeholder="e.g. kiosks-eu" />
      </div>
      <div className="field grow">
        <label htmlFor={descId}>Description</label>
        <input id={descId} name="description" />
      </div>
      <button type="submit" className="btn primary" disabled={create.isPending}>
        Create fleet
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

function FleetCard({ fleet, open, onToggle }: { fleet: Fleet; open: boolean; onToggle: () => void }) {
  const canOperate = useCan('operator');
  const panelId = useId();
  return (
    <li className="card">
      <div className="card-head">
        <h2>{fleet.name}</h2>
        <Link to={`/devices?${deviceSearchParams({ fleetId: fleet.id }).toString()}`}>
          {fleet.deviceCount} devices
        </Link>
        <span className="muted">created {formatDate(fleet.createdAt)}</span>
        {canOperate && (
          <button
            type="button"
            className="btn small"
            aria-expanded={open}
            aria-controls={panelId}
            onClick={onToggle}
          >
            Claim tokens
          </button>
        )}
      </div>
      {fleet.description && <p>{fleet.description}</p>}
      {open && canOperate && (
        <div id={panelId}>
          <ClaimTokens fleetId={fleet.id} />
        </div>
      )}
    </li>
  );
}

function ClaimTokens({ fleetId }: { fleetId: string }) {
  const tokens = useClaimTokens(fleetId);
  const create = useCreateClaimToken(fleetId);
  const revoke = useRevokeClaimToken(fleetId);
  const [created, setCreated] = useState<NewClaimToken | null>(null);
  const [toRevoke, setToRevoke] = useState<ClaimToken | null>(null);
  const [error, setError] = useState<string | null>(null);
  const id = useId();

  function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    const name = String(data.get('name') ?? '').trim();
    const tags = String(data.get('tags') ?? '')
      .split(/[\s,]+/)
      .filter(Boolean);
    const maxUses = data.get('maxUses') ? Number(data.get('maxUses')) : undefined;
    const expiresInHours = data.get('expires') ? Number(data.get('expires')) : undefined;
    if (!name) return setError('give the token a name');
    const badTag = tags.find((t) => !Tag.safeParse(t).success);
    if (badTag) return setError(`"${badTag}" is not a tag (key or key=value)`);
    if (maxUses !== undefined && !(Number.isInteger(maxUses) && maxUses >= 1))
      return setError('max uses must be a whole number ≥ 1');
    if (expiresInHours !== undefined && !(Number.isInteger(expiresInHours) && expiresInHours >= 1))
      return setError('expiry must be a whole number of hours ≥ 1');
    setError(null);
    create.mutate({ name, tags, maxUses, expiresInHours }, { onSuccess: setCreated });
  }

  return (
    <section aria-label="Claim tokens">
      <form className="inline-form" onSubmit={submit} aria-label="Create a claim token" noValidate>
        <div className="field">
          <label htmlFor={`${id}-name`}>Token name</label>
          <input id={`${id}-name`} name="name" />
        </div>
        <div className="field">
          <label htmlFor={`${id}-tags`}>Tags for new devices</label>
          <input id={`${id}-tags`} name="tags" placeholder="site=berlin" />
        </div>
        <div className="field">
          <label htmlFor={`${id}-uses`}>Max uses</label>
          <input id={`${id}-uses`} name="maxUses" type="number" min={1} />
        </div>
        <div className="field">
          <label htmlFor={`${id}-exp`}>Expires in (hours)</label>
          <input id={`${id}-exp`} name="expires" type="number" min={1} />
        </div>
        <button type="submit" className="btn primary" disabled={create.isPending}>
          Create claim token
        </button>
      </form>
      {error && (
        <p role="alert" className="error-text">
          {error}
        </p>
      )}
      {create.error && <ErrorBox error={create.error} />}
      {created && (
        <div className="secret" role="status">
          <p>
            Claim token <strong>{created.name}</strong> (shown once, copy it now):
          </p>
          <code className="secret-value">{created.token}</code>
        </div>
      )}
      {tokens.isPending ? (
        <Loading label="Loading claim tokens" />
      ) : tokens.isError ? (
        <ErrorBox error={tokens.error} />
      ) : tokens.data.length === 0 ? (
        <Empty>No claim tokens.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Tags</th>
              <th scope="col">Uses</th>
              <th scope="col">Expires</th>
              <th scope="col">State</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.data.map((t) => {
              const expired = t.expiresAt !== null && new Date(t.expiresAt).getTime() < Date.now();
              return (
                <tr key={t.id}>
                  <th scope="row">{t.name}</th>
                  <td>{t.tags.join(', ')}</td>
                  <td>
                    {t.uses}
                    {t.maxUses !== null ? ` / ${t.maxUses}` : ''}
                  </td>
                  <td>{t.expiresAt ? formatDate(t.expiresAt) : 'never'}</td>
                  <td>
                    {t.revokedAt ? (
                      <Badge tone="bad">revoked</Badge>
                    ) : expired ? (
                      <Badge tone="muted">expired</Badge>
                    ) : (
                      <Badge tone="ok">active</Badge>
                    )}
                  </td>
                  <td>
                    {!t.revokedAt && (
                      <button type="button" className="btn small danger" onClick={() => setToRevoke(t)}>
                        Revoke {t.name}
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <ConfirmDialog
        open={toRevoke !== null}
        title={`Revoke claim token ${toRevoke?.name ?? ''}?`}
        confirmLabel="Revoke"
        danger
        busy={revoke.isPending}
        onCancel={() => setToRevoke(null)}
        onConfirm={() => revoke.mutate(toRevoke!.id, { onSettled: () => setToRevoke(null) })}
      >
        <p>Devices can no longer register with it. Devices already registered are not affected.</p>
      </ConfirmDialog>
    </section>
  );
}
