import type { DeviceSort } from '@fleet/protocol/browser';
import { useCallback, useMemo, useState } from 'react';
import { useSearchParams } from 'react-router';
import { ErrorBox, Empty, Loading, PageHeader } from '../../../components/feedback.js';
import { useCan } from '../../auth/components/can.js';
import { useDevices } from '../api/list-devices.js';
import { BulkActions } from '../components/bulk-actions.js';
import { DeviceFilters } from '../components/device-filters.js';
import { DeviceTable } from '../components/device-table.js';
import { deviceSearchParams, parseDeviceSearch, type DeviceSearch } from '../search.js';

export function DevicesRoute() {
  const [params, setParams] = useSearchParams();
  const { search, ignored } = useMemo(() => parseDeviceSearch(params), [params]);
  const devices = useDevices(search);
  const canOperate = useCan('operator');
  const [selected, setSelected] = useState<Set<string>>(new Set());
  // What the last bulk reboot did: the bulk bar that ran it is gone with the selection.
  const [bulkOutcome, setBulkOutcome] = useState<string | null>(null);

  const setSearch = useCallback(
    (next: DeviceSearch) => {
      setSelected(new Set());
      setParams(deviceSearchParams(next), { replace: true });
    },
    [setParams],
  );

  const rows = useMemo(() => devices.data?.pages.flatMap((p) => p.items) ?? [], [devices.data]);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = devices;
  const loadMore = useCallback(() => void fetchNextPage(), [fetchNextPage]);

  return (
    <>
      <PageHeader title="Devices" />
      <DeviceFilters search={search} onChange={setSearch} />
      {ignored.length > 0 && (
        <p role="status" className="warn-text">
          Ignored invalid filter{ignored.length > 1 ? 's' : ''}: {ignored.join(', ')}
        </p>
      )}
      {canOperate && selected.size > 0 && (
        <BulkActions
          selected={[...selected]}
          onDone={(outcome) => {
            setBulkOutcome(outcome);
            setSelected(new Set());
          }}
        />
      )}
      {bulkOutcome && selected.size === 0 && (
        <p role="status" className="ok-text">
          {bulkOutcome}
        </p>
      )}
      <p className="muted" role="status" aria-live="polite">
        {devices.isSuccess
          ? `${rows.length}${hasNextPage ? '+' : ''} device${rows.length === 1 ? '' : 's'} shown${hasNextPage ? ' (scroll for more)' : ''}`
          : ''}
      </p>
      {devices.isPending ? (
        <Loading label="Loading devices" />
      ) : devices.isError ? (
        <ErrorBox error={devices.error} />
      ) : rows.length === 0 ? (
        <Empty>No device matches these filters.</Empty>
      ) : (
        <DeviceTable
          devices={rows}
          hasMore={!!hasNextPage}
          loadingMore={isFetchingNextPage}
          onLoadMore={loadMore}
          sort={search.sort}
          onSort={(sort: DeviceSort) => setSearch({ ...search, sort })}
          selectable={canOperate}
          selected={selected}
          onToggle={(id) =>
            setSelected((s) => {
              const n = new Set(s);
              if (!n.delete(id)) n.add(id);
              return n;
            })
          }
          onToggleAll={(all) => setSelected(all ? new Set(rows.map((d) => d.id)) : new Set())}
        />
      )}
    </>
  );
}
