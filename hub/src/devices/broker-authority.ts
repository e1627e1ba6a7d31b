/**
 * The hub's view of the MQTT broker's access control. Implemented in hub/src/mqtt/ (Mosquitto
 * dynamic security in production, the embedded aedes broker by default) and injected under
 * BROKER_AUTHORITY. The devices module calls it on provisioning, credential rotation and
 * decommission; every call must have taken effect at the broker when its promise resolves.
 *
 * Identity rules shared by both ends:
 * - a device's MQTT client id is always its device id (the broker must refuse any other client
 *   id for that username, otherwise another user could take over the session);
 * - the username is returned by provisioning (`DeviceBrokerIdentity.username`);
 * - the device may publish and subscribe only under its own `topics.device(id)` subtree.
 */
export interface BrokerAuthority {
  /** Creates the device's broker client or replaces its password (rotation). Idempotent. */
  upsertDevice(deviceId: string, username: string, password: string): Promise<void>;
  /** Removes the client and disconnects any live session at once. Idempotent. */
  revokeDevice(deviceId: string): Promise<void>;
}

/** Nest injection token for the BrokerAuthority implementation. */
export const BROKER_AUTHORITY = Symbol.for('fleet.hub.BrokerAuthority');

/** Broker username for a device: one fixed rule so both the hub and the broker agree. */
export function brokerUsernameFor(deviceId: string): string {
  return `device:${deviceId}`;
}

/**
 * Optional Nest token: the broker URL handed to devices at provisioning (the broker module
 * knows it, e.g. the embedded broker's port). Absent: HUB_MQTT_PUBLIC_URL, MQTT_URL, or the
 * hub's host on 1883.
 */
export const BROKER_DEVICE_URL = Symbol.for('fleet.hub.BrokerDeviceUrl');
