import { useId } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { z } from 'zod';
import { Empty, ErrorBox, Loading, PageHeader } from '../../../components/feedback.js';
import { Badge } from '../../../components/status-badge.js';
import { formatAgo, formatDate } from '../../../lib/format.js';
import { Can } from '../../auth/components/can.js';
import { reasonLabel } from '../../devices/types.js';
import { useRollout, useRolloutDevices } from '../api/get-rollout.js';
import { DEVICE_ROLLOUT_STATES } from '../api/types.js';
import { FailuresByReason } from '../components/failures-by-reason.js';
import { RolloutActions } from '../components/rollout-actions.js';
import { RolloutProgress } from '../components/rollout-progress.js';
import { describePhase } from '../phases.js';
import { ROLLOUT_TONES } from './rollouts.js';

const DeviceStateParam = z.enum(DEVICE_ROLLOUT_STATES).optional().catch(undefined);
const DEVICE_TONES: Record<string, 'ok' | 'bad' | 'info' | 'warn' | 'muted'> = {
  succeeded: 'ok',
  failed: 'bad',
  'timed-out': 'bad',
  'rolled-back': 'warn',
  pending: 'muted',
};

export function RolloutRoute() {
  const { id = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const deviceState = DeviceStateParam.parse(params.get('deviceState') ?? undefined);
  const rollout = useRollout(id);
  const devices = useRolloutDevices(id, deviceState);
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
            <Link to={`/releases/${encodeURIComponent(r.releaseVersion)}`}>{r.releaseVersion}</Link>
          </>
        }
      >
        <Badge tone={ROLLOUT_TONES[r.state]}>{r.state}</Badge>
        <Can role="operator">
          <RolloutActions rollout={r} />
        </Can>
      </PageHeader>
      {r.pausedReason && r.state === 'paused' && (
        <p role="status" className="warn-text">
          Paused: {r.pausedReason}
        </p>
      )}
      <section className="card" aria-labelledby="overall-title">
        <h2 id="overall-title">Overall</h2>
        <RolloutProgress label="Overall progress" counts={r.counts} total={r.total} />
        <p className="muted">
          Started {formatDate(r.createdAt)} by {r.createdBy}
          {r.thresholds?.maxFailurePercent !== undefined &&
            ` · auto-pause above ${r.thresholds.maxFailurePercent}% failures`}
          {r.thresholds?.minSuccessPercent !== undefined &&
            ` · advance at ${r.thresholds.minSuccessPercent}% success`}
        </p>
      </section>
      <section className="card" aria-labelledby="phases-title">
        <h2 id="phases-title">Phases</h2>
        <ol className="phase-list">
          {r.phases.map((p) => (
            <li key={p.index} aria-current={r.currentPhase === p.index ? 'step' : undefined}>
              <div className="card-head">
                <strong>
                  Phase {p.index + 1}: {describePhase(p)}
                </strong>
                <Badge
                  tone={
                    p.state === 'done' || p.state === 'completed'
                      ? 'ok'
                      : p.state === 'pending'
                        ? 'muted'
                        : 'info'
                  }
                >
                  {p.state}
                </Badge>
                <span className="muted">
                  {p.deviceCount} devices · bake {Math.round(p.bakeSeconds / 60)} min
                </span>
              </div>
              <RolloutProgress
                label={`Phase ${p.index + 1} progress`}
                counts={p.counts}
                total={p.deviceCount}
              />
            </li>
          ))}
        </ol>
      </section>
      <FailuresByReason groups={r.failures} />
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
            {DEVICE_ROLLOUT_STATES.map((s) => (
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
                <th scope="col">Updated</th>
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
                    <Badge tone={DEVICE_TONES[d.state] ?? 'info'}>
                      {d.state}
                      {d.percent !== null &&
                      d.percent !== undefined &&
                      (d.state === 'downloading' || d.state === 'installing')
                        ? ` ${d.percent}%`
                        : ''}
                    </Badge>
                  </td>
                  <td>{d.reason ? reasonLabel(d.reason) : ''}</td>
                  <td>{formatAgo(d.updatedAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}
