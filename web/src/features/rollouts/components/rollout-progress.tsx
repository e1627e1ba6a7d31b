import { type RolloutStateCounts, totalOf } from '@fleet/protocol/browser';
import { ProgressBar, type ProgressSegment } from '../../../components/progress-bar.js';

export function segmentsOf(counts: RolloutStateCounts): ProgressSegment[] {
  return [
    { label: 'succeeded', value: counts.succeeded, tone: 'ok' },
    {
      label: 'in progress',
      value: counts.dispatched + counts.downloading + counts.installing + counts.testing,
      tone: 'info',
    },
    { label: 'failed', value: counts.failed + counts['timed-out'], tone: 'bad' },
    { label: 'rolled back', value: counts['rolled-back'], tone: 'warn' },
    { label: 'pending', value: counts.pending, tone: 'muted' },
  ];
}

export function RolloutProgress({
  label,
  counts,
  total,
}: {
  label: string;
  counts: RolloutStateCounts;
  /** Devices targeted; the sum of the counts when not given. */
  total?: number;
}) {
  const segs = segmentsOf(counts);
  total ??= totalOf(counts);
  return (
    <div className="rollout-progress">
      <ProgressBar label={label} segments={segs} total={total} />
      <p className="legend">
        {segs.map((s) => (
          <span key={s.label} className={`legend-item ${s.tone}`}>
            {s.value} {s.label}
          </span>
        ))}
      </p>
    </div>
  );
}
