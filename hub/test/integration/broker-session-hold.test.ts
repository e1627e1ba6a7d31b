import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { deviceTopics, sharedFilter } from '@fleet/protocol';
import { brokerUsernameFor } from '../../src/devices/broker-authority.js';
import { BrokerConnection } from '../../src/mqtt/broker-connection.js';
import { HubMqttClient } from '../../src/mqtt/hub-mqtt-client.js';
import { HUB_SHARE_GROUP } from '../../src/mqtt/mosquitto-authority.js';
import { RecordingLogger } from './helpers/mosquitto-brokers.js';
import { startMosquitto, type MosquittoInstance } from './helpers/mosquitto.js';
import { connectRaw, publishOutcome } from './helpers/mosquitto-clients.js';
import { aReport, wire } from './helpers/mosquitto-device-messages.js';

// A hub with a persistent session must not lose what devices published while it was down:
// the broker delivers those messages right after CONNACK, before anyone listens.

let mosquitto: MosquittoInstance;
let connection: BrokerConnection;
const logger = new RecordingLogger();
const hub = {
  username: 'fleet-hub',
  password: randomBytes(12).toString('hex'),
  clientId: `fleet-hub-${randomUUID()}`,
};

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
    logger,
  );
});

afterAll(async () => {
  await connection?.close();
  await mosquitto?.stop();
});

test('messages queued for an offline persistent hub session reach the listener added after connect', async () => {
  const options = {
    url: mosquitto.url,
    username: hub.username,
    password: hub.password,
    clientId: hub.clientId,
    protocolVersion: 5 as const,
    sessionExpirySeconds: 300,
  };
  const filter = sharedFilter(HUB_SHARE_GROUP, 'report');
  const first = await HubMqttClient.connect(options, logger);
  await first.subscribe([filter]);
  await first.close();

  const id = randomUUID();
  const password = randomBytes(12).toString('hex');
  await connection.authority.upsertDevice(id, brokerUsernameFor(id), password);
  const device = await connectRaw(mosquitto.url, {
    protocolVersion: 5,
    username: brokerUsernameFor(id),
    password,
    clientId: id,
  });
  const outcome = await publishOutcome(
    device,
    deviceTopics(id).report,
    wire('report', aReport({ board: 'while-hub-down' })).toString(),
  );
  expect(outcome).toEqual({ kind: 'acked' });
  device.client.end(true);

  // The hub comes back; its ingest attaches only later (as IngestLifecycle does at bootstrap).
  const again = await HubMqttClient.connect(options, logger);
  await new Promise((r) => setTimeout(r, 500));
  const received: string[] = [];
  again.addListener((_topic, payload) => void received.push(payload.toString()));
  const deadline = Date.now() + 10_000;
  while (!received.some((p) => p.includes('while-hub-down')) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 25));
  await again.close(true);
  expect(received.some((p) => p.includes('while-hub-down'))).toBe(true);
});
