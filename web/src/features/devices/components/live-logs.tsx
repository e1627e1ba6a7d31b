import { DeviceLogsEventData } from '@fleet/protocol/browser';
import { useEffect, useId, useMemo, useRef, useState } from 'react';
import { z } from 'zod';
import { ErrorBox, Loading } from '../../../components/feedback.js';
import { useApi, useHubEvents } from '../../../lib/api-context.js';
import { logStreamUrl, useLogs } from '../api/list-logs.js';

interface Line {
  key: string;
  at: string;
  source: string;
  stream: string;
  text: string;
}

/** Lines kept in the browser while following; older ones fall off. */
const MAX_LINES = 2000;

const LogsEvent = z.object({ data: DeviceLogsEventData });

export interface LiveLogsProps {
  deviceId: string;
  sources: string[];
}

/**
 * Stored lines from the hub, then live lines from a device-scoped event stream while "Follow"
 * is on. The filter applies to both: stored lines are queried by source, live ones filtered here.
 */
export function LiveLogs({ deviceId, sources }: LiveLogsProps) {
  const api = useApi();
  const hubEvents = useHubEvents();
  const ids = { source: useId(), q: useId(), follow: useId() };
  const [source, setSource] = useState<string>('');
  const [q, setQ] = useState('');
  const [follow, setFollow] = useState(true);
  const [live, setLive] = useState<Line[]>([]);
  const stored = useLogs(deviceId, source || undefined, q || undefined);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => setLive([]), [deviceId, source, q]);

  useEffect(() => {
    if (!follow) return;
    const es = hubEvents.openStream(logStreamUrl(api, deviceId));
    let n = 0;
    es.addEventListener('device.logs', (msg) => {
      let parsed;
      try {
        parsed = LogsEvent.safeParse(JSON.parse((msg as MessageEvent<string>).data));
      } catch {
        return;
      }
      if (!parsed.success) return;
      const needle = q.toLowerCase();
      const lines = parsed.data.data.lines
        .filter((l) => (!source || l.source === source) && (!needle || l.text.toLowerCase().includes(needle)))
        .map((l) => ({ key: `live-${n++}`, at: l.time, source: l.source, stream: l.stream, text: l.text }));
      if (lines.length) setLive((prev) => [...prev, ...lines].slice(-MAX_LINES));
    });
    return () => es.close();
  }, [follow, api, hubEvents, deviceId, source, q]);

  const lines = useMemo<Line[]>(() => {
    const old = [...(stored.data?.items ?? [])]
      .reverse()
      .map((l) => ({ key: `s-${l.id}`, at: l.at, source: l.source, stream: l.stream, text: l.text }));
    return [...old, ...live].slice(-MAX_LINES);
  }, [stored.data, live]);

  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow]);

  return (
    <section className="card" aria-labelledby="logs-title">
      <div className="card-head">
        <h2 id="logs-title">Logs</h2>
        <label htmlFor={ids.source}>Container</label>
        <select id={ids.source} value={source} onChange={(e) => setSource(e.target.value)}>
          <option value="">all sources</option>
          {[...sources, 'agent', 'system'].map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
        <label htmlFor={ids.q}>Filter</label>
        <input id={ids.q} type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="text" />
        <label className="check" htmlFor={ids.follow}>
          <input
            id={ids.follow}
            type="checkbox"
            checked={follow}
            onChange={(e) => setFollow(e.target.checked)}
          />{' '}
          Follow
        </label>
      </div>
      {stored.isPending ? (
        <Loading label="Loading logs" />
      ) : stored.isError ? (
        <ErrorBox error={stored.error} />
      ) : (
        <div
          ref={box}
          className="log-view"
          role="log"
          aria-label="Device logs"
          aria-live={follow ? 'polite' : 'off'}
          tabIndex={0}
        >
          {lines.length === 0 ? (
            <p className="muted">No log lines.</p>
          ) : (
            lines.map((l) => (
              <div key={l.key} className={`log-line ${l.stream}`}>
                <time dateTime={l.at}>{new Date(l.at).toLocaleTimeString()}</time>{' '}
                <span className="log-source">{l.source}</span> <span className="log-text">{l.text}</span>
              </div>
            ))
          )}
        </div>
      )}
    </section>
  );
}
