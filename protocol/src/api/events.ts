import { z } from 'zod';
import { parseWith, err, ProtocolError, type Result } from '../result.js';
import { Role, Scope } from './common.js';

// The hub's event stream (`GET /api/v1/events`, text/event-stream): each frame is
// `event: <type>` and `data: <HubEvent as JSON>`. Events are notifications, not a log: a client
// that reconnects reloads state over the REST API.

/** Every event type. Wire literals: never renamed, only added. */
export const HUB_EVENT_TYPES = [
  'device.created',
  'device.updated',
  'device.presence',
  'device.report',
  'device.progress',
  'device.decommissioned',
  'device.command',
  'device.logs',
  'device.telemetry',
  'fleet.changed',
  'release.created',
  'release.yanked',
  'rollout.progress',
  'audit.entry',
] as const;
export const HubEventType = z.enum(HUB_EVENT_TYPES);
export type HubEventType = z.infer<typeof HubEventType>;

export const HubEvent = z.object({
  type: HubEventType,
  at: z.string(),
  /** Area, checked against an API token's scopes. */
  scope: Scope,
  /** Least role allowed to see it. */
  minRole: Role,
  fleetId: z.string().optional(),
  deviceId: z.string().optional(),
  data: z.record(z.string(), z.unknown()),
});
export type HubEvent = z.infer<typeof HubEvent>;

/** A `device.logs` line: the agent's LogLine (MQTT logs message) as the hub received it. */
export const LiveLogLine = z.object({
  time: z.string(),
  source: z.string(),
  stream: z.string(),
  text: z.string(),
});
export type LiveLogLine = z.infer<typeof LiveLogLine>;

/** `data` of a `device.logs` event. */
export const DeviceLogsEventData = z.object({ lines: z.array(LiveLogLine) });
export type DeviceLogsEventData = z.infer<typeof DeviceLogsEventData>;

/**
 * One SSE frame's `data:` text → HubEvent. A frame that is not JSON or not an event of a known
 * type is an error (clients skip it: a newer hub may send types they do not know).
 */
export function parseHubEvent(data: string): Result<HubEvent> {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch (e) {
    return err(
      new ProtocolError('HubEvent', [
        { path: '$', code: 'invalid_json', message: e instanceof Error ? e.message : String(e) },
      ]),
    );
  }
  return parseWith('HubEvent', HubEvent, json);
}
