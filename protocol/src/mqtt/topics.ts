import { err, ok, ProtocolError, type Result } from '../result.js';

// The only place topic strings are spelled (CONVENTIONS 2). Segments are wire API: never rename.
export const TOPIC_ROOT = 'fleet/v1/devices';

/** Device → hub kinds. */
export const UPLINK_KINDS = ['presence', 'report', 'progress', 'telemetry', 'logs', 'ack'] as const;
/** Hub → device kinds. */
export const DOWNLINK_KINDS = ['target', 'command'] as const;
export const TOPIC_KINDS = [...UPLINK_KINDS, ...DOWNLINK_KINDS] as const;

export type UplinkKind = (typeof UPLINK_KINDS)[number];
export type DownlinkKind = (typeof DOWNLINK_KINDS)[number];
export type TopicKind = (typeof TOPIC_KINDS)[number];

/**
 * Device ids are used as topic segments and broker user names: no MQTT wildcards, no `/`, no
 * `$`, nothing a broker treats specially.
 */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export function isDeviceId(id: string): boolean {
  return DEVICE_ID_PATTERN.test(id);
}

function assertDeviceId(id: string): void {
  // A bad id here is a programming error (ids come from the hub's database or our own config).
  if (!isDeviceId(id)) throw new RangeError(`not a device id: ${JSON.stringify(id)}`);
}

export type DeviceTopics = Record<TopicKind, string>;

/** Every topic of one device: `topics.device(id).report`. */
export function deviceTopics(deviceId: string): DeviceTopics {
  assertDeviceId(deviceId);
  const base = `${TOPIC_ROOT}/${deviceId}`;
  return Object.fromEntries(TOPIC_KINDS.map((k) => [k, `${base}/${k}`])) as DeviceTopics;
}

/** A filter matching one kind of message from every device, for the hub. */
export function allDevicesFilter(kind: TopicKind): string {
  return `${TOPIC_ROOT}/+/${kind}`;
}

/**
 * The same filter as a shared subscription: the broker hands each message to one member of
 * `group`, which is how several hub replicas split ingest. Brokers without shared
 * subscriptions (the embedded aedes) take `$share/...` as a literal filter, so callers choose.
 */
export function sharedFilter(group: string, kind: TopicKind): string {
  if (!/^[A-Za-z0-9_-]+$/.test(group)) throw new RangeError(`not a share group name: ${group}`);
  return `$share/${group}/${allDevicesFilter(kind)}`;
}

/** Topics a device may publish to, and subscribe to: what the broker's ACL grants it. */
export function deviceAcl(deviceId: string): { publish: string[]; subscribe: string[] } {
  const t = deviceTopics(deviceId);
  return { publish: UPLINK_KINDS.map((k) => t[k]), subscribe: DOWNLINK_KINDS.map((k) => t[k]) };
}

export interface ParsedTopic {
  deviceId: string;
  kind: TopicKind;
}

/** Reads a concrete topic back into device id and kind. */
export function parseTopic(topic: unknown): Result<ParsedTopic> {
  const fail = (message: string) =>
    err(new ProtocolError('Topic', [{ path: '$', code: 'invalid_topic', message }]));
  if (typeof topic !== 'string') return fail('topic is not a string');
  const parts = topic.split('/');
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}/${parts[2]}` !== TOPIC_ROOT) {
    return fail(`"${topic.slice(0, 200)}" is not a ${TOPIC_ROOT}/{id}/{kind} topic`);
  }
  const deviceId = parts[3] as string;
  const kind = parts[4] as string;
  if (!isDeviceId(deviceId)) return fail(`"${deviceId.slice(0, 200)}" is not a device id`);
  if (!(TOPIC_KINDS as readonly string[]).includes(kind))
    return fail(`"${kind.slice(0, 50)}" is not a topic kind`);
  return ok({ deviceId, kind: kind as TopicKind });
}

/** `topics.device(id).report`, `topics.all('report')`, `topics.shared('hub', 'report')`. */
export const topics = { device: deviceTopics, all: allDevicesFilter, shared: sharedFilter } as const;
