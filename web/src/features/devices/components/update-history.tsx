import { Empty, ErrorBox, Loading } from '../../../components/feedback.js';
import { Badge } from '../../../components/status-badge.js';
import { formatDate, shortDigest } from '../../../lib/format.js';
import { useUpdates } from '../api/list-updates.js';
import { reasonLabel, statusTone } from '../types.js';

export function UpdateHistory({ deviceId }: { deviceId: string }) {
  const updates = useUpdates(deviceId);
  return (
    <section className="card" aria-labelledby="updates-title">
      <h2 id="updates-title">Update history</h2>
      {updates.isPending ? (
        <Loading label="Loading update history" />
      ) : updates.isError ? (
        <ErrorBox error={updates.error} />
      ) : updates.data.items.length === 0 ? (
        <Empty>No updates yet.</Empty>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Release</th>
              <th scope="col">Status</th>
              <th scope="col">State</th>
              <th scope="col">Reason</th>
            </tr>
          </thead>
          <tbody>
            {updates.data.items.map((u) => (
              <tr key={u.id}>
                <td>{formatDate(u.at)}</td>
                <td title={u.revisionDigest}>
                  {u.releaseVersion} <span className="muted">{shortDigest(u.revisionDigest)}</span>
                </td>
                <td>
                  <Badge tone={statusTone(u.status)}>
                    {u.status}
                    {u.status === 'downloading' || u.status === 'installing' ? ` ${u.percent}%` : ''}
                  </Badge>
                </td>
                <td>{u.state}</td>
                <td>
                  {u.reason ? reasonLabel(u.reason) : ''}
                  {u.message && <div className="muted">{u.message}</div>}
                  {u.failedBootLog && (
                    <details>
                      <summary>Failed boot log</summary>
                      <pre className="boot-log">{u.failedBootLog}</pre>
                    </details>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
