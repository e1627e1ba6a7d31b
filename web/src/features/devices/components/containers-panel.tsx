import type { DeviceContainer } from '@fleet/protocol/browser';
import { useState } from 'react';
import { ConfirmDialog } from '../../../components/confirm-dialog.js';
import { Empty, ErrorBox } from '../../../components/feedback.js';
import { Badge } from '../../../components/status-badge.js';
import { formatAgo } from '../../../lib/format.js';
import { useCan } from '../../auth/components/can.js';
import { useSendCommand } from '../api/send-command.js';
import { containerTone } from '../types.js';

export function ContainersPanel({
  deviceId,
  containers,
}: {
  deviceId: string;
  containers: DeviceContainer[];
}) {
  const canOperate = useCan('operator');
  const send = useSendCommand(deviceId);
  const [restart, setRestart] = useState<string | null>(null);

  return (
    <section className="card" aria-labelledby="containers-title">
      <h2 id="containers-title">Containers</h2>
      {containers.length === 0 ? (
        <Empty>The device has reported no containers.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Restarts</th>
              <th scope="col">Exit code</th>
              <th scope="col">Started</th>
              <th scope="col">Message</th>
              {canOperate && (
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              )}
            </tr>
          </thead>
          <tbody>
            {containers.map((c) => (
              <tr key={c.name}>
                <th scope="row">{c.name}</th>
                <td>
                  <Badge tone={containerTone(c.state)}>{c.state}</Badge>
                </td>
                <td>{c.restartCount}</td>
                <td>{c.exitCode ?? '–'}</td>
                <td>{c.startedAt ? formatAgo(c.startedAt) : '–'}</td>
                <td>{c.message ?? ''}</td>
                {canOperate && (
                  <td>
                    <button type="button" className="btn small" onClick={() => setRestart(c.name)}>
                      Restart {c.name}
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {send.error && <ErrorBox error={send.error} title="Command failed" />}
      <ConfirmDialog
        open={restart !== null}
        title={`Restart container ${restart ?? ''}?`}
        confirmLabel="Restart"
        danger
        busy={send.isPending}
        onCancel={() => setRestart(null)}
        onConfirm={() =>
          send.mutate(
            { kind: 'restart-container', container: restart! },
            { onSettled: () => setRestart(null) },
          )
        }
      >
        <p>The container is stopped and started again on the device.</p>
      </ConfirmDialog>
    </section>
  );
}
