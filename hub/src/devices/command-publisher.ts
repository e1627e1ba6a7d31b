import type { Command } from '@fleet/protocol';

/**
 * Sends a persisted command to a device over MQTT. Implemented in hub/src/mqtt/ and injected
 * under COMMAND_PUBLISHER. DevicesService persists the command first (status `pending`), then
 * publishes and marks it `sent` (or `publish_failed` when this rejects); the device's
 * CommandAck arrives through ingest and is recorded with `DevicesService.recordCommandAck`.
 */
export interface CommandPublisher {
  /** Publishes the protocol Command on the device's command topic (QoS 1). Rejects when the broker refuses. */
  publishCommand(deviceId: string, command: Command): Promise<void>;
}

/** Nest injection token for the CommandPublisher implementation. */
export const COMMAND_PUBLISHER = Symbol.for('fleet.hub.CommandPublisher');
