import { Link, useParams } from 'react-router';
import { ErrorBox, Loading, PageHeader } from '../../../components/feedback.js';
import { Badge, PresenceBadge } from '../../../components/status-badge.js';
import { ApiError } from '../../../lib/api-client.js';
import { formatAgo, formatDate, shortDigest } from '../../../lib/format.js';
import { useFleets } from '../../fleets/api/list-fleets.js';
import { useDevice } from '../api/get-device.js';
import { deviceSearchParams } from '../search.js';
import { CommandsPanel } from '../components/commands-panel.js';
import { ContainersPanel } from '../components/containers-panel.js';
import { LiveLogs } from '../components/live-logs.js';
import { TagEditor } from '../components/tag-editor.js';
import { TelemetryPanel } from '../components/telemetry-panel.js';
import { UpdateHistory } from '../components/update-history.js';
import { reasonLabel, statusTone } from '../types.js';

export function DeviceRoute() {
  const { id = '' } = useParams();
  const device = useDevice(id);
  const fleets = useFleets();

  if (device.isPending) return <Loading label="Loading device" />;
  if (device.isError)
    return (
      <ErrorBox
        error={device.error}
        title={
          device.error instanceof ApiError && device.error.status === 404
            ? 'No such device'
            : 'Could not load the device'
        }
      />
    );
  const d = device.data;
  const fleet = fleets.data?.find((f) => f.id === d.fleetId);

  return (
    <>
      <PageHeader title={d.name}>
        <PresenceBadge online={d.online} />
      </PageHeader>
      <section className="card" aria-labelledby="identity-title">
        <h2 id="identity-title">Identity</h2>
        <dl className="facts">
          <dt>Device id</dt>
          <dd>
            <code>{d.id}</code>
          </dd>
          <dt>Hardware id</dt>
          <dd>
            <code>{d.hardwareId}</code>
          </dd>
          <dt>Fleet</dt>
          <dd>
            {fleet ? (
              <Link to={`/devices?${deviceSearchParams({ fleetId: fleet.id }).toString()}`}>
                {fleet.name}
              </Link>
            ) : (
              d.fleetId
            )}
          </dd>
          <dt>Board</dt>
          <dd>{d.board}</dd>
          <dt>Agent version</dt>
          <dd>{d.agentVersion}</dd>
          <dt>Presence</dt>
          <dd>
            {d.online ? 'online' : 'offline'}, last seen {formatAgo(d.lastSeenAt)}{' '}
            <span className="muted">({formatDate(d.lastSeenAt)})</span>
          </dd>
          <dt>Current release</dt>
          <dd>
            {d.currentRelease ?? 'none reported'}{' '}
            {d.currentSequence !== null && <span className="muted">sequence {d.currentSequence}</span>}{' '}
            <span className="muted" title={d.currentRevisionDigest ?? ''}>
              {shortDigest(d.currentRevisionDigest)}
            </span>
          </dd>
          <dt>Update</dt>
          <dd>
            {d.updateState}
            {d.updateStatus && (
              <>
                {' '}
                <Badge tone={statusTone(d.updateStatus)}>{d.updateStatus}</Badge>
              </>
            )}
            {d.updateReason && ` — ${reasonLabel(d.updateReason)}`}
          </dd>
          <dt>Tags</dt>
          <dd>
            <TagEditor deviceId={d.id} tags={d.tags} />
          </dd>
          <dt>Registered</dt>
          <dd>{formatDate(d.createdAt)}</dd>
        </dl>
      </section>
      <ContainersPanel deviceId={d.id} containers={d.containers} />
      <TelemetryPanel deviceId={d.id} />
      <LiveLogs deviceId={d.id} sources={d.containers.map((c) => c.name)} />
      <UpdateHistory deviceId={d.id} />
      <CommandsPanel deviceId={d.id} deviceName={d.name} />
    </>
  );
}
