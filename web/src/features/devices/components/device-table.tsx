import type { Device, DeviceSort } from '@fleet/protocol/browser';
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useRef } from 'react';
import { Link } from 'react-router';
import { formatAgo } from '../../../lib/format.js';
import { Badge, PresenceBadge } from '../../../components/status-badge.js';
import type { DeviceSearch } from '../search.js';
import { reasonLabel, statusTone } from '../types.js';

const ROW_HEIGHT = 44;

export interface DeviceTableProps {
  devices: Device[];
  hasMore: boolean;
  loadingMore: boolean;
  onLoadMore: () => void;
  sort: DeviceSearch['sort'];
  onSort: (sort: DeviceSort) => void;
  selectable: boolean;
  selected: ReadonlySet<string>;
  onToggle: (id: string) => void;
  onToggleAll: (select: boolean) => void;
  /** For the virtualizer in environments without layout (tests). */
  initialHeight?: number;
}

const SORTABLE: Array<{ key: 'name' | 'lastSeenAt' | 'createdAt'; label: string }> = [
  { key: 'name', label: 'Name' },
  { key: 'lastSeenAt', label: 'Last seen' },
  { key: 'createdAt', label: 'Registered' },
];

function sortState(sort: DeviceSort, key: string): 'ascending' | 'descending' | 'none' {
  if (sort === key) return 'ascending';
  if (sort === `-${key}`) return 'descending';
  return 'none';
}

function SortHeader({
  col,
  sort,
  onSort,
}: {
  col: (typeof SORTABLE)[number];
  sort: DeviceSort;
  onSort: (s: DeviceSort) => void;
}) {
  const state = sortState(sort, col.key);
  const next = (state === 'ascending' ? `-${col.key}` : col.key) as DeviceSort;
  return (
    <div role="columnheader" aria-sort={state} className={`cell col-${col.key}`}>
      <button type="button" className="sort" onClick={() => onSort(next)}>
        {col.label}{' '}
        <span aria-hidden="true">{state === 'ascending' ? '▲' : state === 'descending' ? '▼' : '↕'}</span>
      </button>
    </div>
  );
}

/**
 * The device list as an ARIA table whose rows are virtualized: only the rows on screen exist in
 * the DOM, so 10k+ loaded devices scroll smoothly. Scrolling near the end loads the next
 * server page (cursor pagination).
 */
export function DeviceTable(props: DeviceTableProps) {
  const {
    devices,
    hasMore,
    loadingMore,
    onLoadMore,
    sort,
    onSort,
    selectable,
    selected,
    onToggle,
    onToggleAll,
    initialHeight = 600,
  } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: devices.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    initialRect: { width: 1000, height: initialHeight },
  });
  const items = virtualizer.getVirtualItems();
  const lastIndex = items.at(-1)?.index ?? -1;

  useEffect(() => {
    if (hasMore && !loadingMore && lastIndex >= devices.length - 30) onLoadMore();
  }, [lastIndex, devices.length, hasMore, loadingMore, onLoadMore]);

  const allSelected = devices.length > 0 && devices.every((d) => selected.has(d.id));

  return (
    <div
      role="table"
      aria-label="Devices"
      aria-rowcount={devices.length + 1 + (hasMore ? 1 : 0)}
      className="device-table"
    >
      <div role="rowgroup" className="thead">
        <div role="row" aria-rowindex={1} className="row">
          {selectable && (
            <div role="columnheader" className="cell col-select">
              <input
                type="checkbox"
                aria-label="Select all loaded devices"
                checked={allSelected}
                onChange={(e) => onToggleAll(e.target.checked)}
              />
            </div>
          )}
          <SortHeader col={SORTABLE[0]!} sort={sort} onSort={onSort} />
          <div role="columnheader" className="cell col-status">
            Status
          </div>
          <div role="columnheader" className="cell col-release">
            Release
          </div>
          <div role="columnheader" className="cell col-board">
            Board
          </div>
          <div role="columnheader" className="cell col-tags">
            Tags
          </div>
          <SortHeader col={SORTABLE[1]!} sort={sort} onSort={onSort} />
          <SortHeader col={SORTABLE[2]!} sort={sort} onSort={onSort} />
        </div>
      </div>
      <div ref={scroller} className="tbody-scroll" tabIndex={-1}>
        <div role="rowgroup" style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
          {items.map((vi) => {
            const d = devices[vi.index]!;
            return (
              <div
                role="row"
                key={d.id}
                aria-rowindex={vi.index + 2}
                aria-selected={selectable ? selected.has(d.id) : undefined}
                className="row"
                style={{
                  position: 'absolute',
                  top: 0,
                  left: 0,
                  right: 0,
                  height: vi.size,
                  transform: `translateY(${vi.start}px)`,
                }}
              >
                {selectable && (
                  <div role="cell" className="cell col-select">
                    <input
                      type="checkbox"
                      aria-label={`Select ${d.name}`}
                      checked={selected.has(d.id)}
                      onChange={() => onToggle(d.id)}
                    />
                  </div>
                )}
                <div role="cell" className="cell col-name">
                  <Link to={`/devices/${d.id}`}>{d.name}</Link>
                </div>
                <div role="cell" className="cell col-status">
                  <PresenceBadge online={d.online} />{' '}
                  {d.updateStatus && d.updateStatus !== 'succeeded' && (
                    <Badge tone={statusTone(d.updateStatus)}>
                      {d.updateStatus === 'failed' || d.updateStatus === 'rolled-back'
                        ? `${d.updateStatus}: ${reasonLabel(d.updateReason)}`
                        : d.updateStatus}
                    </Badge>
                  )}
                </div>
                <div role="cell" className="cell col-release">
                  {d.currentRelease ?? '–'}
                </div>
                <div role="cell" className="cell col-board">
                  {d.board}
                </div>
                <div role="cell" className="cell col-tags">
                  {d.tags.map((t) => (
                    <span key={t} className="chip small">
                      {t}
                    </span>
                  ))}
                </div>
                <div role="cell" className="cell col-lastSeenAt">
                  {formatAgo(d.lastSeenAt)}
                </div>
                <div role="cell" className="cell col-createdAt">
                  {new Date(d.createdAt).toLocaleDateString()}
                </div>
              </div>
            );
          })}
        </div>
        {loadingMore && (
          <p className="loading" role="status">
            Loading more devices…
          </p>
        )}
      </div>
    </div>
  );
}
