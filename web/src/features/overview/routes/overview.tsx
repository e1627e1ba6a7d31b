import { Link } from 'react-router';
import { Empty, ErrorBox, Loading, PageHeader } from '../../../components/feedback.js';
import { formatPercent } from '../../../lib/format.js';
import { useDeviceSummary } from '../../devices/api/get-device-summary.js';
import { useRecentFailures } from '../../devices/api/list-recent-failures.js';
import { deviceSearchParams } from '../../devices/search.js';
import { reasonLabel } from '../../devices/types.js';
import { useRollouts } from '../../rollouts/api/list-rollouts.js';
import { RolloutProgress } from '../../rollouts/components/rollout-progress.js';

const STATUS_CARDS = [
  { key: 'online', label: 'Online', tone: 'ok' },
  { key: 'offline', label: 'Offline', tone: 'muted' },
  { key: 'updating', label: 'Updating', tone: 'info' },
  { key: 'failed', label: 'Failed', tone: 'bad' },
] as const;

export function OverviewRoute() {
  const summary = useDeviceSummary();
  const failures = useRecentFailures();
  // Active = running or paused (a paused rollout still needs someone to look at it).
  const rollouts = useRollouts();
  const active = rollouts.data?.items.filter((r) => r.state === 'running' || r.state === 'paused') ?? [];

  return (
    <>
      <PageHeader title="Fleet overview" />
      {summary.isPending ? (
        <Loading label="Loading device counts" />
      ) : summary.isError ? (
        <ErrorBox error={summary.error} />
      ) : (
        <>
          <section aria-label="Device status">
            <ul className="stat-cards">
              {STATUS_CARDS.map((c) => (
                <li key={c.key} className={`stat-card ${c.tone}`}>
                  <Link
                    to={`/devices?${deviceSearchParams({ status: c.key }).toString()}`}
                    aria-label={`${summary.data[c.key]} ${c.label.toLowerCase()} devices`}
                  >
                    <span className="stat-value">{summary.data[c.key]}</span>
                    <span className="stat-label">{c.label}</span>
                    <span className="stat-sub">
                      {formatPercent(summary.data[c.key], summary.data.total)} of {summary.data.total}
                    </span>
                  </Link>
                </li>
              ))}
            </ul>
          </section>
          <section className="card" aria-labelledby="dist-title">
            <h2 id="dist-title">Release distribution</h2>
            {summary.data.releases.length === 0 ? (
              <Empty>No devices yet.</Empty>
            ) : (
              <ul className="bars">
                {summary.data.releases.map((r) => (
                  <li key={r.release ?? 'none'}>
                    <span className="bar-label">
                      {r.release ? (
                        <Link to={`/devices?${deviceSearchParams({ release: r.release }).toString()}`}>
                          {r.release}
                        </Link>
                      ) : (
                        'no release reported'
                      )}
                    </span>
                    <span className="bar-track" aria-hidden="true">
                      <span
                        className="bar-fill info"
                        style={{ width: `${(r.count / Math.max(1, summary.data.total)) * 100}%` }}
                      />
                    </span>
                    <span className="bar-value">
                      {r.count} ({formatPercent(r.count, summary.data.total)})
                    </span>
                  </li>
                ))}
              </ul>
            )}
          </section>
        </>
      )}
      <section className="card" aria-labelledby="active-title">
        <h2 id="active-title">Active rollouts</h2>
        {rollouts.isPending ? (
          <Loading label="Loading rollouts" />
        ) : rollouts.isError ? (
          <ErrorBox error={rollouts.error} title="Rollouts unavailable" />
        ) : active.length === 0 ? (
          <Empty>No rollout is running or paused.</Empty>
        ) : (
          <ul className="plain-list">
            {active.map((r) => (
              <li key={r.id}>
                <Link to={`/rollouts/${r.id}`}>Release {r.releaseVersion}</Link>{' '}
                <span className="muted">to {r.fleetName}</span>
                {r.state === 'paused' && <span className="badge warn">paused</span>}
                <RolloutProgress label={`Progress of rollout ${r.releaseVersion}`} counts={r.counts} />
              </li>
            ))}
          </ul>
        )}
      </section>
      <section className="card" aria-labelledby="fail-title">
        <h2 id="fail-title">Recent failures by reason</h2>
        {failures.isPending ? (
          <Loading label="Loading failures" />
        ) : failures.isError ? (
          <ErrorBox error={failures.error} />
        ) : failures.data.groups.length === 0 ? (
          <Empty>No device reports a failed update.</Empty>
        ) : (
          <>
            <ul className="failure-groups">
              {failures.data.groups.map((g) => (
                <li key={g.reason ?? 'none'}>
                  <strong>{reasonLabel(g.reason)}</strong> <span className="badge bad">{g.count}</span>
                  <span className="muted">
                    {' '}
                    {g.devices.map((d, i) => (
                      <span key={d.id}>
                        {i > 0 && ', '}
                        <Link to={`/devices/${d.id}`}>{d.name}</Link>
                      </span>
                    ))}
                    {g.count > g.devices.length && ` and ${g.count - g.devices.length} more`}
                  </span>
                </li>
              ))}
            </ul>
            {failures.data.truncated && (
              <p className="muted">
                Grouped from the {failures.data.sampled} most recently seen failed devices.
              </p>
            )}
          </>
        )}
      </section>
    </>
  );
}
