/**
 * Sends a persisted command to a device over MQTT. Implemented in hub/src/mqtt/ and injected
 * under COMMAND_PUBLISHER. The devices service persists the command first (status `pending`),
 * then publishes; the device's CommandAck arrives through ingest and is recorded with
 * `DevicesService.recordCommandAck`.
 */
export interface CommandPublisher {
  /** Publishes the command on the device's command topic (QoS 1). Rejects when the broker refuses. */
  publishCommand(deviceId: string, command: OutgoingCommand): Promise<void>;
}

export interface OutgoingCommand {
  /** Command id (uuid); the device echoes it in its ack. */
  id: string;
  kind: 'reboot' | 'restart-container' | 'upload-logs';
  /** Kind-specific parameters, e.g. `{ container: 'web' }` or `{ sinceMs, container? }`. */
  params: Record<string, unknown>;
  issuedAt: string;
}

/** Nest injection token for the CommandPublisher implementation. */
export const COMMAND_PUBLISHER = Symbol.for('fleet.hub.CommandPublisher');
