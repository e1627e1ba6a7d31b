import { useId, useState } from 'react';
import { Link, useParams } from 'react-router';
import { ConfirmDialog } from '../../../components/confirm-dialog.js';
import { ErrorBox, Loading, PageHeader } from '../../../components/feedback.js';
import { Badge } from '../../../components/status-badge.js';
import { formatBytes, formatDate, shortDigest } from '../../../lib/format.js';
import { Can } from '../../auth/components/can.js';
import { useRelease } from '../api/get-release.js';
import { useSigningKeys } from '../api/list-signing-keys.js';
import { useYankRelease } from '../api/yank-release.js';

export function ReleaseRoute() {
  const { version = '' } = useParams();
  const release = useRelease(version);
  const keys = useSigningKeys();
  const yank = useYankRelease(version);
  const [confirm, setConfirm] = useState(false);
  const [reason, setReason] = useState('');
  const reasonId = useId();

  if (release.isPending) return <Loading label="Loading release" />;
  if (release.isError) return <ErrorBox error={release.error} />;
  const r = release.data;
  const sizeOf = new Map(r.objects.map((o) => [o.digest, o.size]));
  const total = r.objects.reduce((n, o) => n + o.size, 0);

  return (
    <>
      <PageHeader title={`Release ${r.version}`}>
        {r.yankedAt ? (
          <Badge tone="bad">yanked</Badge>
        ) : (
          <Can role="operator">
            <Link className="btn primary" to={`/rollouts/new?release=${encodeURIComponent(r.version)}`}>
              Roll out…
            </Link>
            <button type="button" className="btn danger" onClick={() => setConfirm(true)}>
              Yank…
            </button>
          </Can>
        )}
      </PageHeader>
      <section className="card" aria-labelledby="rel-facts">
        <h2 id="rel-facts">Summary</h2>
        <dl className="facts">
          <dt>Sequence</dt>
          <dd>{r.sequence}</dd>
          <dt>Manifest digest</dt>
          <dd>
            <code title={r.manifestDigest}>{shortDigest(r.manifestDigest)}</code>
          </dd>
          <dt>Compatible boards</dt>
          <dd>
            {r.compatibleBoards.map((b) => (
              <span key={b} className="chip small">
                {b}
              </span>
            ))}
          </dd>
          <dt>Minimum agent</dt>
          <dd>{r.manifest.minAgentVersion ?? '0.0.0'}</dd>
          <dt>Total object size</dt>
          <dd>{formatBytes(total)}</dd>
          <dt>Created</dt>
          <dd>
            {formatDate(r.createdAt)} by {r.createdBy}
          </dd>
          {r.yankedAt && (
            <>
              <dt>Yanked</dt>
              <dd>
                {formatDate(r.yankedAt)}: {r.yankReason}
              </dd>
            </>
          )}
          <dt>Notes</dt>
          <dd className="pre">{r.notes || '–'}</dd>
        </dl>
      </section>
      <section className="card" aria-labelledby="rel-containers">
        <h2 id="rel-containers">Containers</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Image</th>
              <th scope="col">Group</th>
              <th scope="col">Rootfs object</th>
              <th scope="col">Size</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(r.manifest.containers).map(([name, c]) => (
              <tr key={name}>
                <th scope="row">{name}</th>
                <td>
                  {c.image.ref} <div className="muted">{shortDigest(c.image.digest)}</div>
                </td>
                <td>{c.group ?? 'app'}</td>
                <td>
                  <code title={c.rootfs.digest}>{shortDigest(c.rootfs.digest)}</code>
                </td>
                <td>{formatBytes(sizeOf.get(c.rootfs.digest) ?? c.rootfs.size)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="card" aria-labelledby="rel-objects">
        <h2 id="rel-objects">Objects</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Digest</th>
              <th scope="col">Role</th>
              <th scope="col">Size</th>
            </tr>
          </thead>
          <tbody>
            {r.objects.map((o) => (
              <tr key={`${o.digest}-${o.role}`}>
                <td>
                  <code title={o.digest}>{shortDigest(o.digest)}</code>
                </td>
                <td>{o.role}</td>
                <td>{formatBytes(o.size)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="card" aria-labelledby="rel-sigs">
        <h2 id="rel-sigs">Signatures</h2>
        <ul className="plain-list">
          {r.manifest.signatures.map((s) => {
            const key = keys.data?.find((k) => k.keyId === s.keyId);
            return (
              <li key={s.keyId}>
                <code>{s.keyId}</code> ({s.alg}) {key ? <>— {key.name}</> : null}{' '}
                {key?.revokedAt ? (
                  <Badge tone="bad">key revoked</Badge>
                ) : key ? (
                  <Badge tone="ok">trusted key</Badge>
                ) : (
                  <Badge tone="muted">key not listed</Badge>
                )}
              </li>
            );
          })}
        </ul>
      </section>
      <ConfirmDialog
        open={confirm}
        title={`Yank release ${r.version}?`}
        confirmLabel="Yank"
        danger
        busy={yank.isPending}
        onCancel={() => setConfirm(false)}
        onConfirm={() => {
          if (reason.trim()) yank.mutate(reason.trim(), { onSuccess: () => setConfirm(false) });
        }}
      >
        <p>A yanked release can no longer be rolled out. Devices already running it keep it.</p>
        <label htmlFor={reasonId}>Reason (required)</label>
        <input id={reasonId} value={reason} onChange={(e) => setReason(e.target.value)} />
        {yank.error && <ErrorBox error={yank.error} />}
      </ConfirmDialog>
    </>
  );
}
