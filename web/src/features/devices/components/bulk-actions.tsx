import { useId, useState } from 'react';
import { ConfirmDialog } from '../../../components/confirm-dialog.js';
import { ErrorBox } from '../../../components/feedback.js';
import { useBulkTagDevices } from '../api/bulk-tag-devices.js';
import { useBulkCommand } from '../api/send-command.js';
import { Tag } from '../types.js';

/**
 * Bulk tag and bulk reboot for the selected devices (operators and admins only). A reboot ends
 * the selection, which unmounts this bar: its outcome goes to `onDone` for the page to show.
 */
export function BulkActions({ selected, onDone }: { selected: string[]; onDone: (outcome: string) => void }) {
  const tagId = useId();
  const [tag, setTag] = useState('');
  const [tagError, setTagError] = useState<string | null>(null);
  const [confirmReboot, setConfirmReboot] = useState(false);
  const [result, setResult] = useState<string | null>(null);
  const bulkTag = useBulkTagDevices();
  const bulkCommand = useBulkCommand();

  function applyTag(mode: 'add' | 'remove') {
    const parsed = Tag.safeParse(tag.trim());
    if (!parsed.success) {
      setTagError(parsed.error.issues[0]?.message ?? 'invalid tag');
      return;
    }
    setTagError(null);
    bulkTag.mutate(
      {
        deviceIds: selected,
        add: mode === 'add' ? [parsed.data] : [],
        remove: mode === 'remove' ? [parsed.data] : [],
      },
      {
        onSuccess: (r) => {
          setResult(
            `${mode === 'add' ? 'Tagged' : 'Untagged'} ${r.updated} device${r.updated === 1 ? '' : 's'} with ${parsed.data}.`,
          );
          setTag('');
        },
      },
    );
  }

  function reboot() {
    bulkCommand.mutate(
      { deviceIds: selected, command: { kind: 'reboot' } },
      {
        onSuccess: (r) => {
          setConfirmReboot(false);
          onDone(
            `Reboot sent to ${r.sent} device${r.sent === 1 ? '' : 's'}${r.failed.length ? `; ${r.failed.length} failed (${r.failed[0]?.message})` : ''}.`,
          );
        },
      },
    );
  }

  return (
    <section className="bulk-bar" aria-label="Bulk actions">
      <strong>{selected.length} selected</strong>
      <label htmlFor={tagId} className="visually-hidden">
        Tag for the selected devices
      </label>
      <input
        id={tagId}
        placeholder="tag or key=value"
        value={tag}
        onChange={(e) => setTag(e.target.value)}
        aria-invalid={!!tagError}
      />
      <button
        type="button"
        className="btn"
        disabled={!selected.length || !tag || bulkTag.isPending}
        onClick={() => applyTag('add')}
      >
        Add tag
      </button>
      <button
        type="button"
        className="btn"
        disabled={!selected.length || !tag || bulkTag.isPending}
        onClick={() => applyTag('remove')}
      >
        Remove tag
      </button>
      <button
        type="button"
        className="btn danger"
        disabled={!selected.length}
        onClick={() => setConfirmReboot(true)}
      >
        Reboot…
      </button>
      {tagError && (
        <p role="alert" className="error-text">
          {tagError}
        </p>
      )}
      {result && (
        <p role="status" className="ok-text">
          {result}
        </p>
      )}
      {bulkTag.error && <ErrorBox error={bulkTag.error} title="Tagging failed" />}
      <ConfirmDialog
        open={confirmReboot}
        title={`Reboot ${selected.length} device${selected.length === 1 ? '' : 's'}?`}
        confirmLabel="Reboot"
        danger
        busy={bulkCommand.isPending}
        onConfirm={reboot}
        onCancel={() => setConfirmReboot(false)}
      >
        <p>Each device restarts now; its containers are down until it is back.</p>
      </ConfirmDialog>
    </section>
  );
}
