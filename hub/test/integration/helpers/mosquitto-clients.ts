import { EventEmitter } from 'node:events';
import { connect, type IClientOptions, type MqttClient } from './mqtt-client.js';

export interface Received {
  topic: string;
  payload: string;
}

/** Records messages and lets a test await one matching a predicate (no sleeps, no wall time). */
export class Inbox {
  readonly messages: Received[] = [];
  readonly #events = new EventEmitter();

  push(topic: string, payload: Buffer | string): void {
    const m = { topic, payload: payload.toString() };
    this.messages.push(m);
    this.#events.emit('message', m);
  }

  waitFor(predicate: (m: Received) => boolean, what: string, timeoutMs = 10_000): Promise<Received> {
    const found = this.messages.find(predicate);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#events.off('message', onMessage);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages.slice(-10))}`));
      }, timeoutMs);
      const onMessage = (m: Received) => {
        if (!predicate(m)) return;
        clearTimeout(timer);
        this.#events.off('message', onMessage);
        resolve(m);
      };
      this.#events.on('message', onMessage);
    });
  }
}

export interface DeviceSession {
  client: MqttClient;
  inbox: Inbox;
  /** Resolves when the connection closes; carries the MQTT 5 DISCONNECT reason code if one came. */
  closed: Promise<{ disconnectReason?: number }>;
}

/** Connects a raw MQTT client as a device would (no reconnect: a refusal is the result). */
export async function connectRaw(url: string, options: IClientOptions): Promise<DeviceSession> {
  const client = connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  const inbox = new Inbox();
  client.on('message', (topic, payload) => inbox.push(topic, payload));
  let disconnectReason: number | undefined;
  client.on('disconnect', (packet) => (disconnectReason = packet.reasonCode));
  const closed = new Promise<{ disconnectReason?: number }>((resolve) =>
    client.once('close', () => resolve(disconnectReason === undefined ? {} : { disconnectReason })),
  );
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
    client.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
  return { client, inbox, closed };
}

/** The CONNACK code of a refused connection attempt, or 'connected'. */
export async function connectOutcome(
  url: string,
  options: IClientOptions,
): Promise<number | 'connected' | 'closed'> {
  try {
    const s = await connectRaw(url, options);
    s.client.end(true);
    return 'connected';
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'number' ? code : 'closed';
  }
}

export type PublishOutcome =
  { kind: 'acked' } | { kind: 'refused'; code: number | undefined; message: string } | { kind: 'closed' };

/** Publishes QoS 1 and reports what the broker did: PUBACK, a reason code, or closing the connection. */
export function publishOutcome(
  session: DeviceSession,
  topic: string,
  payload: string,
  retain = false,
): Promise<PublishOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (o: PublishOutcome) => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
    void session.closed.then(() => settle({ kind: 'closed' }));
    session.client.publish(topic, payload, { qos: 1, retain }, (error) => {
      if (error === undefined || error === null) settle({ kind: 'acked' });
      else if (session.client.connected)
        settle({ kind: 'refused', code: (error as { code?: number }).code, message: error.message });
      else settle({ kind: 'closed' });
    });
  });
}

/** Subscribes and returns the granted QoS / reason code per filter (a refusal is not thrown). */
export async function subscribeOutcome(session: DeviceSession, filter: string): Promise<number | 'closed'> {
  return new Promise((resolve) => {
    void session.closed.then(() => resolve('closed'));
    session.client.subscribe(filter, { qos: 1 }, (error, granted) => {
      // On a refusal mqtt.js passes an error carrying the SUBACK packet, and the request as sent.
      if (error) {
        const reason = (error as { packet?: { granted?: unknown[] } }).packet?.granted?.[0];
        return resolve(typeof reason === 'number' ? reason : -1);
      }
      resolve(granted?.[0]?.qos ?? -1);
    });
  });
}
