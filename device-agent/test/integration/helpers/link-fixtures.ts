import { connectAsync, type MqttClient } from './mqtt-client.js';
import { decodeMessage, type MessageBodyInput, type UplinkKind } from '@fleet/protocol';
import type { LinkLogger } from '../../../src/link/logger.js';

export function aReport(marker: number): MessageBodyInput<'report'> {
  return {
    revision: null,
    updateState: 'idle',
    board: 'qemu-aarch64',
    agentVersion: '0.1.0',
    // The marker rides in configVersion so order and completeness can be checked at the far end.
    configVersion: marker,
    containers: [],
    inventory: { objects: [], freeBytes: 1_000_000, totalBytes: 2_000_000 },
  };
}

export interface RecordingLogger extends LinkLogger {
  lines: { level: string; message: string }[];
}

export function recordingLogger(echo = false): RecordingLogger {
  const lines: { level: string; message: string }[] = [];
  const rec = (level: string) => (message: string) => {
    lines.push({ level, message });
    if (echo) console.log(`[${level}] ${message}`);
  };
  return { lines, debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
}

/** Polls until `check` returns a value other than undefined/false (no wall-time assertions: only a generous cap). */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface Received {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

/**
 * A hub-side observer: a plain mqtt.js client with its own persistent session, so it keeps its
 * subscriptions across a broker restart and misses nothing the agent replays.
 */
export class Observer {
  readonly messages: Received[] = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload, packet) =>
      this.messages.push({ topic, payload: Buffer.from(payload), retain: packet.retain }),
    );
  }

  static async connect(
    url: string,
    clientId: string,
    filters: string[],
    protocolVersion: 4 | 5 = 5,
  ): Promise<Observer> {
    const client = await connectAsync(url, {
      clientId,
      clean: false,
      protocolVersion,
      reconnectPeriod: 200,
      ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
    });
    const o = new Observer(client);
    await client.subscribeAsync(filters, { qos: 1 });
    return o;
  }

  decoded<K extends UplinkKind>(topic: string, kind: K) {
    return this.messages
      .filter((m) => m.topic === topic && m.payload.length > 0)
      .map((m) => {
        const r = decodeMessage(kind, m.payload);
        if (!r.ok) throw r.error;
        return { ...r.value, retain: m.retain };
      });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
