import { ROLLOUT_DEVICE_STATES, type RolloutDevice } from '@fleet/protocol/browser';
import { useId, useMemo } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { z } from 'zod';
import { Empty, ErrorBox, Loading, PageHeader } from '../../../components/feedback.js';
import { Badge } from '../../../components/status-badge.js';
import { formatAgo, formatDate } from '../../../lib/format.js';
import { Can } from '../../auth/components/can.js';
import { reasonLabel } from '../../devices/types.js';
import { useRollout, useRolloutDevices } from '../api/get-rollout.js';
import { FailuresByReason } from '../components/failures-by-reason.js';
import { RolloutActions } from '../components/rollout-actions.js';
import { RolloutProgress } from '../components/rollout-progress.js';
import { describePhase } from '../phases.js';
import { ROLLOUT_TONES } from './rollouts.js';

const DeviceStateParam = z.enum(ROLLOUT_DEVICE_STATES).optional().catch(undefined);
const DEVICE_TONES: Record<string, 'ok' | 'bad' | 'info' | 'warn' | 'muted'> = {
  succeeded: 'ok',
  failed: 'bad',
  'timed-out': 'bad',
  'rolled-back': 'warn',
  pending: 'muted',
};
const FAILED_STATES = new Set(['failed', 'timed-out', 'rolled-back']);

/** Failed, timed-out and rolled-back devices grouped by reason, largest group first. */
export function failuresByReason(devices: RolloutDevice[]): Array<{ reason: string | null; count: number }> {
  const by = new Map<string | null, number>();
  for (const d of devices) {
    if (!FAILED_STATES.has(d.state)) continue;
    const key = d.reason ?? (d.state === 'timed-out' ? 'timed-out' : null);
    by.set(key, (by.get(key) ?? 0) + 1);
  }
  return [...by.entries()].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count);
}

export function RolloutRoute() {
  const { id = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const deviceState = DeviceStateParam.parse(params.get('deviceState') ?? undefined);
  const rollout = useRollout(id);
  // All devices (one page of up to 1000) feed the failure groups; the table may be filtered.
  const all = useRolloutDevices(id, undefined);
  const filtered = useRolloutDevices(id, deviceState);
  const devices = deviceState ? filtered : all;
  const failures = useMemo(() => failuresByReason(all.data?.items ?? []), [all.data]);
  const filterId = useId();

  if (rollout.isPending) return <Loading label="Loading rollout" />;
  if (rollout.isError) return <ErrorBox error={rollout.error} title="Could not load the rollout" />;
  const r = rollout.data;

  return (
    <>
      <PageHeader
        title={
          <>
            Rollout of{' '}
            <Link to={`/releases/${encodeURIComponent(r.releaseVersion)}`}>{r.releaseVersion}</Link> to{' '}
            {r.fleetName}
          </>
        }
      >
        <Badge tone={ROLLOUT_TONES[r.state]}>{r.state}</Badge>
        <Can role="operator">
          <RolloutActions rollout={r} />
        </Can>
      </PageHeader>
      {r.stateReason && (
        <p role="status" className={r.state === 'paused' ? 'warn-text' : 'muted'}>
          {r.stateReason}
        </p>
      )}
      <section className="card" aria-labelledby="overall-title">
        <h2 id="overall-title">Overall</h2>
        <RolloutProgress label="Overall progress" counts={r.counts} />
        <p className="muted">
          {r.name ? `${r.name} · ` : ''}started {formatDate(r.createdAt)} by {r.createdBy}
          {r.tags.length > 0 && ` · tags ${r.tags.join(', ')}`}
          {` · auto-pause above ${r.maxFailurePercent}% failures · advance at ${r.minSuccessPercent}% success`}
          {` · ${r.maxParallel} downloads at once · device deadline ${Math.round(r.deviceTimeoutSeconds / 60)} min`}
          {r.finishedAt && ` · finished ${formatDate(r.finishedAt)}`}
        </p>
      </section>
      <section className="card" aria-labelledby="phases-title">
        <h2 id="phases-title">Phases</h2>
        <ol className="phase-list">
          {r.phases.map((p, i) => {
            const pc = r.phaseCounts.find((c) => c.phase === i);
            const current = r.currentPhase === i && (r.state === 'running' || r.state === 'paused');
            const state =
              i < r.currentPhase || r.state === 'completed'
                ? 'done'
                : current
                  ? r.bakeStartedAt
                    ? 'baking'
                    : 'in progress'
                  : 'waiting';
            return (
              <li key={i} aria-current={current ? 'step' : undefined}>
                <div className="card-head">
                  <strong>
                    Phase {i + 1}: up to {describePhase(p)}
                  </strong>
                  <Badge tone={state === 'done' ? 'ok' : state === 'waiting' ? 'muted' : 'info'}>
                    {state}
                  </Badge>
                  <span className="muted">
                    {pc?.total ?? 0} device{pc?.total === 1 ? '' : 's'} · bake{' '}
                    {Math.round(p.bakeSeconds / 60)} min
                    {current && r.bakeStartedAt ? ` · baking since ${formatAgo(r.bakeStartedAt)}` : ''}
                  </span>
                </div>
                {pc && (
                  <RolloutProgress label={`Phase ${i + 1} progress`} counts={pc.counts} total={pc.total} />
                )}
              </li>
            );
          })}
        </ol>
      </section>
      <FailuresByReason groups={failures} />
      <section className="card" aria-labelledby="rdevices-title">
        <div className="card-head">
          <h2 id="rdevices-title">Devices</h2>
          <label htmlFor={filterId}>State</label>
          <select
            id={filterId}
            value={deviceState ?? ''}
            onChange={(e) =>
              setParams(e.target.value ? { deviceState: e.target.value } : {}, { replace: true })
            }
          >
            <option value="">any</option>
            {ROLLOUT_DEVICE_STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </div>
        {devices.isPending ? (
          <Loading label="Loading devices" />
        ) : devices.isError ? (
          <ErrorBox error={devices.error} />
        ) : devices.data.items.length === 0 ? (
          <Empty>No devices{deviceState ? ` in state ${deviceState}` : ''}.</Empty>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Phase</th>
                <th scope="col">State</th>
                <th scope="col">Reason</th>
                <th scope="col">Last progress</th>
              </tr>
            </thead>
            <tbody>
              {devices.data.items.map((d) => (
                <tr key={d.deviceId}>
                  <th scope="row">
                    <Link to={`/devices/${d.deviceId}`}>{d.deviceName}</Link>
                  </th>
                  <td>{d.phase + 1}</td>
                  <td>
                    <Badge tone={DEVICE_TONES[d.state] ?? 'info'}>{d.state}</Badge>
                  </td>
                  <td>{d.reason ? reasonLabel(d.reason) : ''}</td>
                  <td>{formatAgo(d.lastProgressAt ?? d.dispatchedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {devices.data?.nextCursor && (
          <p className="muted">First {devices.data.items.length} devices shown.</p>
        )}
      </section>
    </>
  );
}
