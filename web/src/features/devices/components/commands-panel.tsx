import { useState } from 'react';
import { ConfirmDialog } from '../../../components/confirm-dialog.js';
import { ErrorBox } from '../../../components/feedback.js';
import { Badge } from '../../../components/status-badge.js';
import { formatAgo } from '../../../lib/format.js';
import { Can } from '../../auth/components/can.js';
import { useCommands, useSendCommand } from '../api/send-command.js';

const TONE: Record<string, 'ok' | 'bad' | 'info' | 'muted'> = {
  done: 'ok',
  accepted: 'info',
  sent: 'info',
  pending: 'muted',
  failed: 'bad',
  rejected: 'bad',
  publish_failed: 'bad',
};

export function CommandsPanel({ deviceId, deviceName }: { deviceId: string; deviceName: string }) {
  const commands = useCommands(deviceId);
  const send = useSendCommand(deviceId);
  const [confirm, setConfirm] = useState(false);

  return (
    <section className="card" aria-labelledby="commands-title">
      <div className="card-head">
        <h2 id="commands-title">Commands</h2>
        <Can role="operator">
          <button type="button" className="btn danger" onClick={() => setConfirm(true)}>
            Reboot device…
          </button>
        </Can>
      </div>
      {send.error && <ErrorBox error={send.error} title="Command failed" />}
      {commands.data && commands.data.length > 0 ? (
        <ul className="plain-list">
          {commands.data.map((c) => (
            <li key={c.id}>
              <strong>{c.kind}</strong>
              {typeof c.params.container === 'string' ? ` ${c.params.container}` : ''}{' '}
              <Badge tone={TONE[c.status] ?? 'muted'}>{c.status}</Badge>{' '}
              <span className="muted">
                {formatAgo(c.createdAt)} by {c.createdBy}
                {c.message ? ` — ${c.message}` : ''}
              </span>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted">No commands sent yet.</p>
      )}
      <ConfirmDialog
        open={confirm}
        title={`Reboot ${deviceName}?`}
        confirmLabel="Reboot"
        danger
        busy={send.isPending}
        onCancel={() => setConfirm(false)}
        onConfirm={() => send.mutate({ kind: 'reboot' }, { onSettled: () => setConfirm(false) })}
      >
        <p>The device restarts now; its containers are down until it is back.</p>
      </ConfirmDialog>
    </section>
  );
}
