export interface ProgressSegment {
  label: string;
  value: number;
  tone: 'ok' | 'warn' | 'bad' | 'info' | 'muted';
}

/** A stacked bar (succeeded / in flight / failed …) with an accessible text equivalent. */
export function ProgressBar({
  label,
  segments,
  total,
}: {
  label: string;
  segments: ProgressSegment[];
  total: number;
}) {
  const done = segments.filter((s) => s.tone === 'ok').reduce((n, s) => n + s.value, 0);
  const text =
    segments
      .filter((s) => s.value > 0)
      .map((s) => `${s.value} ${s.label}`)
      .join(', ') || 'nothing yet';
  return (
    <div
      className="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={total}
      aria-valuenow={done}
      aria-valuetext={`${done} of ${total}: ${text}`}
    >
      {segments.map((s) =>
        s.value > 0 && total > 0 ? (
          <span
            key={s.label}
            className={`seg ${s.tone}`}
            style={{ width: `${(s.value / total) * 100}%` }}
            title={`${s.value} ${s.label}`}
          />
        ) : null,
      )}
    </div>
  );
}
