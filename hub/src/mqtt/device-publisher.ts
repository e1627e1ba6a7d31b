import { deviceTopics, encodeMessage, type Command, type MessageBodyInput } from '@fleet/protocol';
import type { CommandPublisher } from '../devices/command-publisher.js';

/** What the publisher needs from the session: QoS 1 publishes, retained or not. */
export interface PublishSession {
  publish(topic: string, payload: string | Uint8Array, options?: { retain?: boolean }): Promise<void>;
}

/** A body that protocol refused to encode: a bug in the caller, never sent to a device. */
export class InvalidOutgoingMessageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'InvalidOutgoingMessageError';
  }
}

/**
 * Hub → device messages. Targets are retained, so a device that was offline (or reconnects with
 * a clean session) gets its desired state the moment it subscribes; commands are not retained:
 * a reboot must not replay on every reconnect.
 */
export class DevicePublisher implements CommandPublisher {
  constructor(private readonly session: PublishSession) {}

  async publishCommand(deviceId: string, command: Command): Promise<void> {
    const encoded = encodeMessage('command', command);
    if (!encoded.ok)
      throw new InvalidOutgoingMessageError(
        `refusing to send an invalid command to ${deviceId}: ${encoded.error.message}`,
        { cause: encoded.error },
      );
    await this.session.publish(deviceTopics(deviceId).command, encoded.value.payload);
  }

  /** Publishes the device's desired state as the retained target (QoS 1). Returns the envelope id. */
  async publishTarget(deviceId: string, target: MessageBodyInput<'target'>): Promise<string> {
    const encoded = encodeMessage('target', target);
    if (!encoded.ok)
      throw new InvalidOutgoingMessageError(
        `refusing to send an invalid target to ${deviceId}: ${encoded.error.message}`,
        { cause: encoded.error },
      );
    await this.session.publish(deviceTopics(deviceId).target, encoded.value.payload, { retain: true });
    return encoded.value.envelope.id;
  }

  /** Removes the retained target (an empty retained payload), e.g. on decommission. */
  async clearTarget(deviceId: string): Promise<void> {
    await this.session.publish(deviceTopics(deviceId).target, Buffer.alloc(0), { retain: true });
  }
}
