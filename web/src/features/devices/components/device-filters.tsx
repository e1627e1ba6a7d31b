import { DEVICE_STATUSES } from '@fleet/protocol/browser';
import { useEffect, useId, useState } from 'react';
import { useFleets } from '../../fleets/api/list-fleets.js';
import { useTags } from '../api/list-tags.js';
import type { DeviceSearch } from '../search.js';

export interface DeviceFiltersProps {
  search: DeviceSearch;
  onChange: (next: DeviceSearch) => void;
}

/** Filters bound to the URL: every change replaces the search params (server-side filtering). */
export function DeviceFilters({ search, onChange }: DeviceFiltersProps) {
  const fleets = useFleets();
  const tags = useTags(search.fleetId);
  const ids = { q: useId(), status: useId(), fleet: useId(), tag: useId(), release: useId() };
  const [text, setText] = useState(search.q ?? '');
  const [release, setRelease] = useState(search.release ?? '');

  // Typing updates the URL after a pause, so each keystroke is not a request.
  useEffect(() => {
    const q = text.trim() || undefined;
    if (q === search.q) return;
    const t = setTimeout(() => onChange({ ...search, q }), 300);
    return () => clearTimeout(t);
  }, [text, search, onChange]);

  useEffect(() => setText(search.q ?? ''), [search.q]);
  useEffect(() => setRelease(search.release ?? ''), [search.release]);

  return (
    <form className="filters" role="search" aria-label="Filter devices" onSubmit={(e) => e.preventDefault()}>
      <div className="field">
        <label htmlFor={ids.q}>Search</label>
        <input
          id={ids.q}
          type="search"
          placeholder="name, hardware id or device id"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor={ids.status}>Status</label>
        <select
          id={ids.status}
          value={search.status ?? ''}
          onChange={(e) =>
            onChange({ ...search, status: (e.target.value || undefined) as DeviceSearch['status'] })
          }
        >
          <option value="">any</option>
          {DEVICE_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={ids.fleet}>Fleet</label>
        <select
          id={ids.fleet}
          value={search.fleetId ?? ''}
          onChange={(e) => onChange({ ...search, fleetId: e.target.value || undefined, tag: [] })}
        >
          <option value="">all fleets</option>
          {fleets.data?.map((f) => (
            <option key={f.id} value={f.id}>
              {f.name}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={ids.tag}>Tag</label>
        <select
          id={ids.tag}
          value=""
          onChange={(e) => {
            const t = e.target.value;
            if (t && !search.tag.includes(t)) onChange({ ...search, tag: [...search.tag, t] });
          }}
        >
          <option value="">add a tag filter…</option>
          {tags.data
            ?.filter((t) => !search.tag.includes(t.tag))
            .map((t) => (
              <option key={t.tag} value={t.tag}>
                {t.tag} ({t.count})
              </option>
            ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={ids.release}>Release</label>
        <input
          id={ids.release}
          value={release}
          placeholder="e.g. 1.4.0"
          onChange={(e) => setRelease(e.target.value)}
          onBlur={() => onChange({ ...search, release: release.trim() || undefined })}
          onKeyDown={(e) => {
            if (e.key === 'Enter') onChange({ ...search, release: release.trim() || undefined });
          }}
        />
      </div>
      {search.tag.length > 0 && (
        <ul className="chips" aria-label="Tag filters">
          {search.tag.map((t) => (
            <li key={t}>
              <span className="chip">
                {t}
                <button
                  type="button"
                  aria-label={`Remove tag filter ${t}`}
                  onClick={() => onChange({ ...search, tag: search.tag.filter((x) => x !== t) })}
                >
                  ×
                </button>
              </span>
            </li>
          ))}
        </ul>
      )}
    </form>
  );
}
