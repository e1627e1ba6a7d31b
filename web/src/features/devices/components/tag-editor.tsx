import { useId, useState, type FormEvent } from 'react';
import { ErrorBox } from '../../../components/feedback.js';
import { useCan } from '../../auth/components/can.js';
import { useSetDeviceTags } from '../api/set-device-tags.js';
import { Tag } from '../types.js';

/** The device's tags; operators add and remove them in place. */
export function TagEditor({ deviceId, tags }: { deviceId: string; tags: string[] }) {
  const canOperate = useCan('operator');
  const save = useSetDeviceTags(deviceId);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const inputId = useId();

  function add(e: FormEvent) {
    e.preventDefault();
    const parsed = Tag.safeParse(text.trim());
    if (!parsed.success) return setError(parsed.error.issues[0]?.message ?? 'invalid tag');
    setError(null);
    if (!tags.includes(parsed.data)) save.mutate([...tags, parsed.data], { onSuccess: () => setText('') });
  }

  return (
    <div className="tag-editor">
      {tags.length === 0 && <span className="muted">none</span>}
      {tags.map((t) => (
        <span key={t} className="chip small">
          {t}
          {canOperate && (
            <button
              type="button"
              aria-label={`Remove tag ${t}`}
              disabled={save.isPending}
              onClick={() => save.mutate(tags.filter((x) => x !== t))}
            >
              ×
            </button>
          )}
        </span>
      ))}
      {canOperate && (
        <form className="inline-form" onSubmit={add} noValidate aria-label="Add a tag">
          <label htmlFor={inputId} className="visually-hidden">
            New tag
          </label>
          <input
            id={inputId}
            value={text}
            onChange={(e) => setText(e.target.value)}
            placeholder="key or key=value"
            aria-invalid={!!error}
          />
          <button type="submit" className="btn small" disabled={!text.trim() || save.isPending}>
            Add tag
          </button>
        </form>
      )}
      {error && (
        <p role="alert" className="error-text">
          {error}
        </p>
      )}
      {save.error && <ErrorBox error={save.error} title="Tags not saved" />}
    </div>
  );
}
