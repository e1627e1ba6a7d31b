import { reasonLabel } from '../../devices/types.js';

export interface FailureGroupView {
  reason: string | null;
  count: number;
}

export function FailuresByReason({
  groups,
  title = 'Failures by reason',
}: {
  groups: FailureGroupView[];
  title?: string;
}) {
  const total = groups.reduce((n, g) => n + g.count, 0);
  return (
    <section className="card" aria-label={title}>
      <h2>{title}</h2>
      {total === 0 ? (
        <p className="muted">No failures.</p>
      ) : (
        <ul className="bars">
          {groups.map((g) => (
            <li key={g.reason ?? 'none'}>
              <span className="bar-label">{reasonLabel(g.reason)}</span>
              <span className="bar-track" aria-hidden="true">
                <span className="bar-fill bad" style={{ width: `${(g.count / total) * 100}%` }} />
              </span>
              <span className="bar-value">{g.count}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
