import { Badge } from '../../../components/status-badge.js';
import { formatBytes } from '../../../lib/format.js';
import type { DryRun } from '../api/types.js';

const SHOWN = 500;

/** The dry run's summary and per-device table (what each device would download, and why not). */
export function DryRunView({ dryRun }: { dryRun: DryRun }) {
  const s = dryRun.summary;
  const devices = [...dryRun.devices].sort(
    (a, b) =>
      Number(a.enoughSpace && a.boardCompatible && a.agentCompatible) -
      Number(b.enoughSpace && b.boardCompatible && b.agentCompatible),
  );
  return (
    <section aria-labelledby="dry-run-title">
      <h2 id="dry-run-title">Dry run</h2>
      <dl className="stat-row">
        <div className="stat">
          <dt>Targeted</dt>
          <dd>{s.devices}</dd>
        </div>
        <div className="stat ok">
          <dt>Eligible</dt>
          <dd>{s.eligible}</dd>
        </div>
        <div className="stat bad">
          <dt>Incompatible board</dt>
          <dd>{s.incompatibleBoard}</dd>
        </div>
        <div className="stat bad">
          <dt>Agent too old</dt>
          <dd>{s.agentTooOld}</dd>
        </div>
        <div className="stat warn">
          <dt>Not enough space</dt>
          <dd>{s.insufficientSpace}</dd>
        </div>
        <div className="stat">
          <dt>Total download</dt>
          <dd>{formatBytes(s.totalDownloadBytes)}</dd>
        </div>
      </dl>
      {dryRun.phases.length > 0 && (
        <p>
          Phases:{' '}
          {dryRun.phases.map((p) => `${p.deviceCount} device${p.deviceCount === 1 ? '' : 's'}`).join(' → ')}
        </p>
      )}
      <table>
        <caption className="visually-hidden">Per-device dry run, problems first</caption>
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">Board</th>
            <th scope="col">Agent</th>
            <th scope="col">Download</th>
            <th scope="col">Free space</th>
            <th scope="col">Verdict</th>
          </tr>
        </thead>
        <tbody>
          {devices.slice(0, SHOWN).map((d) => {
            const ok = d.enoughSpace && d.boardCompatible && d.agentCompatible;
            return (
              <tr key={d.deviceId}>
                <th scope="row">{d.name}</th>
                <td>{d.boardCompatible ? d.board : <Badge tone="bad">{d.board} (incompatible)</Badge>}</td>
                <td>
                  {d.agentCompatible ? d.agentVersion : <Badge tone="bad">{d.agentVersion} (too old)</Badge>}
                </td>
                <td>{formatBytes(d.downloadBytes)}</td>
                <td>
                  {d.enoughSpace ? (
                    formatBytes(d.freeBytes)
                  ) : (
                    <Badge tone="warn">{formatBytes(d.freeBytes)} (not enough)</Badge>
                  )}
                </td>
                <td>
                  {ok ? (
                    <Badge tone="ok">will update</Badge>
                  ) : (
                    <Badge tone="bad">skipped{d.problems.length ? `: ${d.problems.join('; ')}` : ''}</Badge>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {devices.length > SHOWN && (
        <p className="muted">
          First {SHOWN} of {devices.length} devices shown.
        </p>
      )}
    </section>
  );
}
