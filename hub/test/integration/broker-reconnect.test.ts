import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { deviceTopics, type Report } from '@fleet/protocol';
import { brokerUsernameFor } from '../../src/devices/broker-authority.js';
import { IngestMetrics } from '../../src/ingest/ingest-metrics.js';
import type { IngestSink } from '../../src/ingest/ingest-sink.js';
import { DEFAULT_INGEST_OPTIONS, IngestService } from '../../src/ingest/ingest.service.js';
import { MetricsRegistry } from '../../src/metrics/metrics.registry.js';
import { BrokerConnection } from '../../src/mqtt/broker-connection.js';
import { RecordingLogger } from './helpers/mosquitto-brokers.js';
import { startMosquitto, type MosquittoInstance } from './helpers/mosquitto.js';
import { connectRaw, publishOutcome } from './helpers/mosquitto-clients.js';
import { aReport, wire } from './helpers/mosquitto-device-messages.js';

// The hub's session outlives a broker restart: it reconnects by itself, renews its shared
// subscriptions, and ingest goes on.

let mosquitto: MosquittoInstance;
let connection: BrokerConnection;
let ingest: IngestService;
const logger = new RecordingLogger();
const reports: { deviceId: string; report: Report }[] = [];

/** TEST FAKE of the hub-core services: records reports only. */
const sink: IngestSink = {
  recordPresence: async () => undefined,
  recordReport: async (deviceId, report) => void reports.push({ deviceId, report }),
  recordProgress: async () => undefined,
  recordCommandAck: async () => undefined,
  insertTelemetry: async () => undefined,
  insertLogs: async () => undefined,
};

async function until(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; log: ${logger.lines.slice(-5).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  mosquitto = await startMosquitto();
  connection = await BrokerConnection.open(
    {
      mode: 'mosquitto',
      url: mosquitto.url,
      adminUsername: mosquitto.admin.username,
      adminPassword: mosquitto.admin.password,
      hubUsername: 'fleet-hub',
      hubPassword: randomBytes(12).toString('hex'),
    },
    logger,
  );
  ingest = new IngestService(sink, new IngestMetrics(new MetricsRegistry()), logger, DEFAULT_INGEST_OPTIONS);
  await ingest.attach(connection.session, { shared: true });
});

afterAll(async () => {
  await ingest?.close();
  await connection?.close();
  await mosquitto?.stop();
});

test('after a broker restart the hub reconnects, resubscribes and ingests again; devices provisioned before still work', async () => {
  const id = randomUUID();
  const password = randomBytes(12).toString('hex');
  await connection.authority.upsertDevice(id, brokerUsernameFor(id), password);
  const options = { protocolVersion: 5 as const, username: brokerUsernameFor(id), password, clientId: id };
  const before = await connectRaw(mosquitto.url, options);
  await publishOutcome(
    before,
    deviceTopics(id).report,
    wire('report', aReport({ board: 'before-restart' })).toString(),
  );
  await until('report before the restart', () => reports.some((r) => r.report.board === 'before-restart'));
  before.client.end(true);

  await mosquitto.restart();
  await until('the hub to notice the restart', () =>
    logger.lines.some((l) => l.includes('closed; reconnecting')),
  );
  await until('the hub session to come back', () => connection.session.connected);

  const after = await connectRaw(mosquitto.url, options);
  // Until the hub's SUBSCRIBE is renewed a report could pass unseen: publish until one lands.
  let n = 0;
  await until('a report after the restart', () => {
    if (reports.some((r) => r.report.board.startsWith('after-restart'))) return true;
    void publishOutcome(
      after,
      deviceTopics(id).report,
      wire('report', aReport({ board: `after-restart-${n++}` })).toString(),
    );
    return false;
  });
  expect(reports.filter((r) => r.deviceId === id).length).toBeGreaterThanOrEqual(2);
  // And the authority still manages the broker through the renewed admin session.
  await connection.authority.revokeDevice(id);
  expect((await after.closed).disconnectReason).toBe(0x98);
});
