import type { DryRunReport } from '@fleet/protocol/browser';
import { Badge } from '../../../components/status-badge.js';
import { formatBytes } from '../../../lib/format.js';

const SHOWN = 500;

/** The dry run's summary and per-device table (what each device would download, and why not). */
export function DryRunView({ dryRun }: { dryRun: DryRunReport }) {
  const s = dryRun.summary;
  // Devices that would be skipped first: they are what the operator must look at.
  const devices = [...dryRun.devices].sort((a, b) => Number(a.eligible) - Number(b.eligible));
  const stats: Array<[string, number | string, string]> = [
    ['Targeted', s.devices, ''],
    ['Eligible', s.eligible, 'ok'],
    ['Already current', s.alreadyCurrent, ''],
    ['Incompatible board', s.incompatibleBoard, 'bad'],
    ['Agent too old', s.agentTooOld, 'bad'],
    ['Not enough space', s.insufficientSpace, 'warn'],
    ['Failed before', s.failedBefore, 'warn'],
    ['Inventory unknown', s.unknownInventory, ''],
    ['Total download', formatBytes(s.downloadBytes), ''],
  ];
  return (
    <section aria-labelledby="dry-run-title">
      <h2 id="dry-run-title">Dry run: release {dryRun.release.version}</h2>
      <dl className="stat-row">
        {stats.map(([label, value, tone]) => (
          <div key={label} className={`stat ${value === 0 ? '' : tone}`}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      {s.phaseSizes.length > 0 && (
        <p>Devices per phase: {s.phaseSizes.map((n, i) => `${i + 1}: ${n}`).join(' → ')}</p>
      )}
      <table>
        <caption className="visually-hidden">Per-device dry run, skipped devices first</caption>
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">Board</th>
            <th scope="col">Agent</th>
            <th scope="col">Runs</th>
            <th scope="col">Download</th>
            <th scope="col">Free space</th>
            <th scope="col">Verdict</th>
          </tr>
        </thead>
        <tbody>
          {devices.slice(0, SHOWN).map((d) => (
            <tr key={d.deviceId}>
              <th scope="row">
                {d.name} {!d.online && <span className="muted">(offline)</span>}
              </th>
              <td>{d.boardOk ? d.board : <Badge tone="bad">{d.board} (incompatible)</Badge>}</td>
              <td>{d.agentOk ? d.agentVersion : <Badge tone="bad">{d.agentVersion} (too old)</Badge>}</td>
              <td>{d.currentRelease ?? '–'}</td>
              <td>
                {formatBytes(d.downloadBytes)}{' '}
                <span className="muted">
                  ({d.missingObjects} object{d.missingObjects === 1 ? '' : 's'})
                </span>
              </td>
              <td>
                {d.spaceOk ? (
                  formatBytes(d.freeBytes)
                ) : (
                  <Badge tone="warn">{formatBytes(d.freeBytes)} (not enough)</Badge>
                )}
              </td>
              <td>
                {d.eligible ? (
                  <Badge tone="ok">will update</Badge>
                ) : (
                  <Badge tone={d.alreadyCurrent ? 'muted' : 'bad'}>
                    {d.alreadyCurrent
                      ? 'already current'
                      : `skipped${d.problems.length ? `: ${d.problems.join('; ')}` : ''}`}
                  </Badge>
                )}
              </td>
            </tr>
          ))}
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
