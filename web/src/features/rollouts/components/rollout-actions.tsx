import type { RolloutAction, RolloutDetail } from '@fleet/protocol/browser';
import { useId, useState } from 'react';
import { ConfirmDialog } from '../../../components/confirm-dialog.js';
import { ErrorBox } from '../../../components/feedback.js';
import { actionsFor, useRolloutAction } from '../api/rollout-action.js';

const COPY: Record<RolloutAction, { label: string; title: string; body: string; danger: boolean }> = {
  pause: {
    label: 'Pause',
    title: 'Pause this rollout?',
    body: 'No further devices are dispatched. Devices already updating finish their update.',
    danger: false,
  },
  resume: {
    label: 'Resume',
    title: 'Resume this rollout?',
    body: 'Dispatching continues with the current phase.',
    danger: false,
  },
  abort: {
    label: 'Abort',
    title: 'Abort this rollout?',
    body: 'Devices that have not started never start. Devices already updated keep the new release.',
    danger: true,
  },
  rollback: {
    label: 'Roll back',
    title: 'Roll back every device?',
    body: 'Every device of this rollout returns to its last good revision, which it still holds. This cannot be undone.',
    danger: true,
  },
};

export function RolloutActions({ rollout }: { rollout: RolloutDetail }) {
  const act = useRolloutAction(rollout.id);
  const [pending, setPending] = useState<RolloutAction | null>(null);
  const [reason, setReason] = useState('');
  const reasonId = useId();
  const actions = actionsFor(rollout.state);
  if (actions.length === 0) return null;
  const copy = pending ? COPY[pending] : null;

  return (
    <div className="actions" role="group" aria-label="Rollout actions">
      {actions.map((a) => (
        <button
          key={a}
          type="button"
          className={COPY[a].danger ? 'btn danger' : 'btn'}
          onClick={() => setPending(a)}
        >
          {COPY[a].label}…
        </button>
      ))}
      {act.error && <ErrorBox error={act.error} title="The hub refused the action" />}
      <ConfirmDialog
        open={pending !== null}
        title={copy?.title ?? ''}
        confirmLabel={copy?.label ?? ''}
        danger={copy?.danger ?? false}
        busy={act.isPending}
        onCancel={() => setPending(null)}
        onConfirm={() =>
          act.mutate(
            { action: pending!, ...(reason.trim() ? { reason: reason.trim() } : {}) },
            { onSettled: () => (setPending(null), setReason('')) },
          )
        }
      >
        <p>{copy?.body}</p>
        <label htmlFor={reasonId}>Reason (optional, kept in the audit log)</label>
        <input id={reasonId} value={reason} onChange={(e) => setReason(e.target.value)} />
      </ConfirmDialog>
    </div>
  );
}
