import { ROLLOUT_STATES } from '@fleet/protocol/browser';
import { Link, useSearchParams } from 'react-router';
import { z } from 'zod';
import { Empty, ErrorBox, Loading, PageHeader } from '../../../components/feedback.js';
import { Badge } from '../../../components/status-badge.js';
import { formatDate } from '../../../lib/format.js';
import { Can } from '../../auth/components/can.js';
import { useRollouts } from '../api/list-rollouts.js';
import { RolloutProgress } from '../components/rollout-progress.js';

const StateParam = z.enum(ROLLOUT_STATES).optional().catch(undefined);

export const ROLLOUT_TONES = {
  running: 'info',
  paused: 'warn',
  completed: 'ok',
  aborted: 'bad',
  'rolled-back': 'warn',
} as const;

export function RolloutsRoute() {
  const [params, setParams] = useSearchParams();
  const state = StateParam.parse(params.get('state') ?? undefined);
  const rollouts = useRollouts(state);

  return (
    <>
      <PageHeader title="Rollouts">
        <label htmlFor="rollout-state">State</label>
        <select
          id="rollout-state"
          value={state ?? ''}
          onChange={(e) => setParams(e.target.value ? { state: e.target.value } : {}, { replace: true })}
        >
          <option value="">any</option>
          {ROLLOUT_STATES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <Can role="operator">
          <Link to="/rollouts/new" className="btn primary">
            New rollout
          </Link>
        </Can>
      </PageHeader>
      {rollouts.isPending ? (
        <Loading label="Loading rollouts" />
      ) : rollouts.isError ? (
        <ErrorBox error={rollouts.error} title="Could not load rollouts" />
      ) : rollouts.data.items.length === 0 ? (
        <Empty>No rollouts{state ? ` in state ${state}` : ''}.</Empty>
      ) : (
        <ul className="card-list">
          {rollouts.data.items.map((r) => (
            <li key={r.id} className="card">
              <div className="card-head">
                <h2>
                  <Link to={`/rollouts/${r.id}`}>Release {r.releaseVersion}</Link>
                </h2>
                <Badge tone={ROLLOUT_TONES[r.state]}>{r.state}</Badge>
                <span className="muted">
                  {formatDate(r.createdAt)} by {r.createdBy}
                </span>
              </div>
              <RolloutProgress label={`Progress of rollout ${r.releaseVersion}`} counts={r.counts} />
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
