// The hub's MQTT sessions on a real Mosquitto while ingest holds incoming packets (its
// backpressure): the session survives a backlog held longer than its keepalive, and targets
// published on the dispatch session (openSibling) are acknowledged meanwhile.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { deviceTopics, sharedFilter } from '@fleet/protocol';
import { brokerUsernameFor } from '../../src/devices/broker-authority.js';
import { BrokerConnection } from '../../src/mqtt/broker-connection.js';
import { HubMqttClient } from '../../src/mqtt/hub-mqtt-client.js';
import { HUB_SHARE_GROUP } from '../../src/mqtt/mosquitto-authority.js';
import { RecordingLogger } from './helpers/mosquitto-brokers.js';
import { startMosquitto, type MosquittoInstance } from './helpers/mosquitto.js';
import { connectRaw, publishOutcome, type DeviceSession } from './helpers/mosquitto-clients.js';
import { aReport, wire } from './helpers/mosquitto-device-messages.js';

let mosquitto: MosquittoInstance;
let connection: BrokerConnection;
let device: DeviceSession;
let deviceId: string;
const hub = { username: 'fleet-hub', password: randomBytes(12).toString('hex') };

beforeAll(async () => {
  mosquitto = await startMosquitto();
  connection = await BrokerConnection.open(
    {
      mode: 'mosquitto',
      url: mosquitto.url,
      adminUsername: mosquitto.admin.username,
      adminPassword: mosquitto.admin.password,
      hubUsername: hub.username,
      hubPassword: hub.password,
    },
    new RecordingLogger(),
  );
  deviceId = randomUUID();
  const password = randomBytes(12).toString('hex');
  await connection.authority.upsertDevice(deviceId, brokerUsernameFor(deviceId), password);
  device = await connectRaw(mosquitto.url, {
    protocolVersion: 5,
    username: brokerUsernameFor(deviceId),
    password,
    clientId: deviceId,
  });
});

afterAll(async () => {
  device?.client.end(true);
  await connection?.close();
  await mosquitto?.stop();
});

async function hubSession(logger: RecordingLogger, keepaliveSeconds?: number): Promise<HubMqttClient> {
  return HubMqttClient.connect(
    {
      url: mosquitto.url,
      ...hub,
      clientId: `fleet-hub-${randomUUID()}`,
      protocolVersion: 5,
      ...(keepaliveSeconds !== undefined ? { keepaliveSeconds } : {}),
    },
    logger,
  );
}

test('a backlog held longer than the keepalive does not drop the session or lose a message', async () => {
  const logger = new RecordingLogger();
  const session = await hubSession(logger, 1);
  await session.subscribe([sharedFilter(HUB_SHARE_GROUP, 'report')]);
  const received: string[] = [];
  // 12 messages held 300 ms each: the PINGRESP sits behind ~3.6 s of backlog, more than the
  // 1.5 s mqtt.js waits for it with a keepalive of 1 s.
  session.addListener(async (_topic, payload) => {
    await new Promise((r) => setTimeout(r, 300));
    received.push(payload.toString());
  });
  for (let i = 0; i < 12; i++) {
    const outcome = await publishOutcome(
      device,
      deviceTopics(deviceId).report,
      wire('report', aReport({ board: `held-${i}` })).toString(),
    );
    expect(outcome).toEqual({ kind: 'acked' });
  }
  for (let i = 0; i < 100 && received.length < 12; i++) await new Promise((r) => setTimeout(r, 200));
  expect(received.map((p) => (JSON.parse(p) as { body: { board: string } }).body.board)).toEqual(
    Array.from({ length: 12 }, (_, i) => `held-${i}`),
  );
  expect(logger.lines.filter((l) => l.includes('Keepalive timeout') || l.includes('reconnecting'))).toEqual(
    [],
  );
  expect(session.connected).toBe(true);
  await session.close();
});

test('a target published on the dispatch session is acknowledged while ingest holds the main session', async () => {
  const logger = new RecordingLogger();
  const main = await hubSession(logger);
  const dispatch = await main.openSibling('dispatch');
  await main.subscribe([sharedFilter(HUB_SHARE_GROUP, 'report')]);
  let release: () => void = () => undefined;
  const held = new Promise<void>((r) => (release = r));
  let holding = false;
  main.addListener(async () => {
    holding = true;
    await held;
  });
  await publishOutcome(device, deviceTopics(deviceId).report, wire('report', aReport({})).toString());
  for (let i = 0; i < 100 && !holding; i++) await new Promise((r) => setTimeout(r, 50));
  expect(holding).toBe(true);

  // Both sessions publish while the main one is held: only the dispatch session's PUBACK is read.
  let mainAcked = false;
  const onMain = main.publish(`${deviceTopics(deviceId).target}`, 'on-main', { retain: true }).then(() => {
    mainAcked = true;
  });
  await dispatch.publish(deviceTopics(deviceId).target, 'on-dispatch', { retain: true });
  expect(mainAcked).toBe(false);
  release();
  await onMain;
  expect(mainAcked).toBe(true);
  await dispatch.clearRetained(deviceTopics(deviceId).target);
  await dispatch.close();
  await main.close();
});

test('QoS 1 holds: an acknowledged message is not redelivered, a held one is, after a crash', async () => {
  // The session acknowledges a turn's messages together (one write, #startTurn): what it must
  // keep is MQTT's rule that only a message a listener has let go of is acknowledged. A
  // persistent session tells: after the hub's connection dies, the broker redelivers exactly
  // the messages it had no PUBACK for.
  const clientId = `fleet-hub-${randomUUID()}`;
  const options = {
    url: mosquitto.url,
    ...hub,
    clientId,
    protocolVersion: 5 as const,
    sessionExpirySeconds: 60,
  };
  const first = await HubMqttClient.connect(options, new RecordingLogger());
  await first.subscribe([sharedFilter(HUB_SHARE_GROUP, 'report')]);
  const boards = (ps: Buffer[]) =>
    ps.map((p) => (JSON.parse(p.toString()) as { body: { board: string } }).body.board);
  const firstGot: Buffer[] = [];
  first.addListener((_topic, payload) => {
    firstGot.push(payload);
    // The first three are taken at once (no promise); the fourth is held for good.
    return firstGot.length <= 3 ? undefined : new Promise<void>(() => undefined);
  });
  for (let i = 0; i < 4; i++)
    device.client.publish(deviceTopics(deviceId).report, wire('report', aReport({ board: `m${i}` })), {
      qos: 1,
    });
  for (let i = 0; i < 100 && firstGot.length < 4; i++) await new Promise((r) => setTimeout(r, 50));
  expect(boards(firstGot)).toEqual(['m0', 'm1', 'm2', 'm3']);
  await first.close(true); // the connection dies with m3 unacknowledged

  const second = await HubMqttClient.connect(options, new RecordingLogger());
  const secondGot: Buffer[] = [];
  second.addListener((_topic, payload) => {
    secondGot.push(payload);
  });
  for (let i = 0; i < 100 && secondGot.length < 1; i++) await new Promise((r) => setTimeout(r, 50));
  // A marker published now arrives after anything the broker still had queued or in flight.
  device.client.publish(deviceTopics(deviceId).report, wire('report', aReport({ board: 'marker' })), {
    qos: 1,
  });
  for (let i = 0; i < 100 && !boards(secondGot).includes('marker'); i++)
    await new Promise((r) => setTimeout(r, 50));
  expect(boards(secondGot)).toEqual(['m3', 'marker']);
  await second.close();
});
