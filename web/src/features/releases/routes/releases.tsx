import { useId } from 'react';
import { Link, useSearchParams } from 'react-router';
import { Empty, ErrorBox, Loading, PageHeader } from '../../../components/feedback.js';
import { Badge } from '../../../components/status-badge.js';
import { formatDate } from '../../../lib/format.js';
import { useReleases } from '../api/list-releases.js';

export function ReleasesRoute() {
  const [params, setParams] = useSearchParams();
  const includeYanked = params.get('yanked') === 'true';
  const releases = useReleases(includeYanked);
  const yankedId = useId();
  const rows = releases.data?.pages.flatMap((p) => p.items) ?? [];

  return (
    <>
      <PageHeader title="Releases">
        <label className="check" htmlFor={yankedId}>
          <input
            id={yankedId}
            type="checkbox"
            checked={includeYanked}
            onChange={(e) => setParams(e.target.checked ? { yanked: 'true' } : {}, { replace: true })}
          />{' '}
          Show yanked
        </label>
      </PageHeader>
      {releases.isPending ? (
        <Loading label="Loading releases" />
      ) : releases.isError ? (
        <ErrorBox error={releases.error} />
      ) : rows.length === 0 ? (
        <Empty>No releases yet. Create one with `hubctl release create -f release.yaml`.</Empty>
      ) : (
        <div className="card">
          <table>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Sequence</th>
                <th scope="col">Boards</th>
                <th scope="col">Created</th>
                <th scope="col">Notes</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id}>
                  <th scope="row">
                    <Link to={`/releases/${encodeURIComponent(r.version)}`}>{r.version}</Link>{' '}
                    {r.yankedAt && <Badge tone="bad">yanked</Badge>}
                  </th>
                  <td>{r.sequence}</td>
                  <td>{r.compatibleBoards.join(', ')}</td>
                  <td>
                    {formatDate(r.createdAt)} <span className="muted">by {r.createdBy}</span>
                  </td>
                  <td className="truncate">{r.notes}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {releases.hasNextPage && (
            <button
              type="button"
              className="btn"
              onClick={() => void releases.fetchNextPage()}
              disabled={releases.isFetchingNextPage}
            >
              {releases.isFetchingNextPage ? 'Loading…' : 'Load older releases'}
            </button>
          )}
        </div>
      )}
    </>
  );
}
