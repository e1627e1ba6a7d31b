import { useNavigate, useSearchParams } from 'react-router';
import { PageHeader } from '../../../components/feedback.js';
import { useCan } from '../../auth/components/can.js';
import { RolloutWizard } from '../components/rollout-wizard.js';

export function NewRolloutRoute() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const canOperate = useCan('operator');
  return (
    <>
      <PageHeader title="New rollout" />
      {canOperate ? (
        <RolloutWizard
          initialRelease={params.get('release') ?? undefined}
          onStarted={(r) => navigate(`/rollouts/${r.id}`)}
        />
      ) : (
        <p role="alert">Starting a rollout needs the operator role.</p>
      )}
    </>
  );
}
