import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeMessage, deviceTopics } from '@fleet/protocol';
import { createApp } from '../../src/app.js';
import { AuthService } from '../../src/auth/auth.service.js';
import { BrokerDeviceUrlModule } from '../../src/broker-device-url.module.js';
import { HubConfig } from '../../src/config/hub-config.js';
import { runMigrations } from '../../src/database/migration-runner.js';
import { IngestModule } from '../../src/ingest/ingest.module.js';
import { mqttSettingsFromEnv } from '../../src/mqtt/mqtt-settings.js';
import { MqttModule } from '../../src/mqtt/mqtt.module.js';
import { startMosquitto, type MosquittoInstance } from './helpers/mosquitto.js';
import {
  connectOutcome,
  connectRaw,
  publishOutcome,
  type DeviceSession,
} from './helpers/mosquitto-clients.js';
import { aProgress, aReport, aSample, wire } from './helpers/mosquitto-device-messages.js';
import { createTestDatabase, type TestDatabase } from './support/hub-harness.js';

// The whole way in, on real parts: a device provisioned through the hub's API publishes over a
// real Mosquitto (dynamic security, shared subscriptions) and its messages land in a real
// Postgres through the hub's ingest and services.

let mosquitto: MosquittoInstance;
let db: TestDatabase;
let dir: string;
let app: NestFastifyApplication;
let sql: pg.Pool;
let admin: Record<string, string>;

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function row(query: string, params: unknown[]): Promise<Record<string, unknown> | undefined> {
  return (await sql.query(query, params)).rows[0];
}

beforeAll(async () => {
  mosquitto = await startMosquitto();
  db = await createTestDatabase('hub_ingest');
  await runMigrations(db.url);
  dir = await mkdtemp(join(tmpdir(), 'fleet-ingest-pg-'));
  const config = HubConfig.parse({
    databaseUrl: db.url,
    mqttUrl: mosquitto.url,
    port: 0,
    publicUrl: 'http://127.0.0.1:8080',
    dataDir: dir,
    adminEmail: 'admin@example.com',
    adminPassword: 'admin-password-1',
    logLevel: 'error',
  });
  const env = {
    MQTT_ADMIN_USERNAME: mosquitto.admin.username,
    MQTT_ADMIN_PASSWORD: mosquitto.admin.password,
    MQTT_HUB_PASSWORD: randomBytes(12).toString('hex'),
  };
  app = await createApp(config, {
    broker: MqttModule.forRoot(mqttSettingsFromEnv(env, config)),
    extraModules: [BrokerDeviceUrlModule, IngestModule.forRoot()],
    logger: false,
  });
  await app.get(AuthService).bootstrapAdmin(() => undefined);
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  const login = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: 'admin@example.com', password: 'admin-password-1' },
  });
  const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
  const token = (
    await app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: { cookie },
      payload: { name: 'ingest-test' },
    })
  ).json() as { token: string };
  admin = { authorization: `Bearer ${token.token}` };
});

afterAll(async () => {
  await app?.close();
  await sql?.end();
  await db?.drop();
  await mosquitto?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function provisionDevice(): Promise<{
  deviceId: string;
  mqtt: { url: string; username: string; password: string; clientId: string };
}> {
  const fleet = (
    await app.inject({
      method: 'POST',
      url: '/api/v1/fleets',
      headers: admin,
      payload: { name: `f-${randomUUID().slice(0, 8)}` },
    })
  ).json() as { id: string };
  const claim = (
    await app.inject({
      method: 'POST',
      url: `/api/v1/fleets/${fleet.id}/claim-tokens`,
      headers: admin,
      payload: { name: 'lab' },
    })
  ).json() as { token: string };
  const der = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
  const r = await app.inject({
    method: 'POST',
    url: '/api/v1/provision',
    payload: {
      claimToken: claim.token,
      hardwareId: `hw-${randomUUID()}`,
      publicKey: der.subarray(der.length - 32).toString('base64'),
      board: 'qemu-aarch64',
      agentVersion: '1.0.0',
    },
  });
  expect(r.statusCode).toBe(200);
  return r.json();
}

describe('ingest into Postgres through Mosquitto', () => {
  let device: Awaited<ReturnType<typeof provisionDevice>>;
  let session: DeviceSession;

  test('a provisioned device connects and its presence, report, progress, telemetry and logs land in the database', async () => {
    device = await provisionDevice();
    expect(device.mqtt.url).toBe(mosquitto.url);
    const id = device.deviceId;
    session = await connectRaw(device.mqtt.url, {
      protocolVersion: 5,
      username: device.mqtt.username,
      password: device.mqtt.password,
      clientId: device.mqtt.clientId,
      will: {
        topic: deviceTopics(id).presence,
        payload: wire('presence', { state: 'offline' }),
        qos: 1,
        retain: true,
      },
    });
    const publish = async (topic: string, payload: Buffer, retain = false) =>
      expect(await publishOutcome(session, topic, payload.toString(), retain)).toEqual({ kind: 'acked' });
    await publish(
      deviceTopics(id).presence,
      wire('presence', { state: 'online', agentVersion: '1.0.0' }),
      true,
    );
    await publish(
      deviceTopics(id).report,
      wire(
        'report',
        aReport({ updateState: 'idle', containers: [{ name: 'web', state: 'running', restarts: 2 }] }),
      ),
    );
    await publish(
      deviceTopics(id).progress,
      wire('progress', aProgress({ status: 'downloading', percent: 40 })),
    );
    const t0 = Date.UTC(2026, 10, 30, 10, 0, 0);
    for (let m = 0; m < 3; m++) {
      await publish(
        deviceTopics(id).telemetry,
        wire('telemetry', {
          samples: [0, 1, 2, 3, 4].map((k) => aSample(new Date(t0 + (m * 5 + k) * 1000))),
        }),
      );
    }
    await publish(
      deviceTopics(id).logs,
      wire('logs', {
        lines: [
          { time: new Date(t0).toISOString(), source: 'web', stream: 'stdout', text: 'listening on :80' },
        ],
      }),
    );

    const online = await until('online', () =>
      row('SELECT online, last_seen_at FROM devices WHERE id = $1 AND online', [id]),
    );
    expect(online.last_seen_at).toBeInstanceOf(Date);
    await until('container state', () =>
      row("SELECT state, restart_count FROM device_containers WHERE device_id = $1 AND name = 'web'", [id]),
    );
    expect(
      await row("SELECT state, restart_count FROM device_containers WHERE device_id = $1 AND name = 'web'", [
        id,
      ]),
    ).toEqual({ state: 'running', restart_count: 2 });
    await until('update event', () =>
      row("SELECT status, percent FROM update_events WHERE device_id = $1 AND status = 'downloading'", [id]),
    );
    await until(
      '15 telemetry rows',
      async () =>
        Number((await row('SELECT count(*) AS n FROM telemetry WHERE device_id = $1', [id]))?.n) === 15,
    );
    await until('the log line', () =>
      row("SELECT text FROM logs WHERE device_id = $1 AND text = 'listening on :80'", [id]),
    );
  });

  test('a command sent through the API reaches the device, and its ack updates the command', async () => {
    const id = device.deviceId;
    await session.client.subscribeAsync(deviceTopics(id).command, { qos: 1 });
    const sent = await app.inject({
      method: 'POST',
      url: `/api/v1/devices/${id}/commands`,
      headers: admin,
      payload: { kind: 'restart-container', container: 'web' },
    });
    expect(sent.statusCode).toBe(201);
    const command = sent.json() as { id: string; status: string };
    expect(command.status).toBe('sent');
    const received = await session.inbox.waitFor((m) => m.topic === deviceTopics(id).command, 'the command');
    const decoded = decodeMessage('command', received.payload);
    expect(decoded.ok && decoded.value.body).toEqual({
      commandId: command.id,
      name: 'restart-container',
      container: 'web',
    });
    await publishOutcome(
      session,
      deviceTopics(id).ack,
      wire('ack', { commandId: command.id, status: 'done' }).toString(),
    );
    await until('command done', () =>
      row("SELECT status FROM device_commands WHERE id = $1 AND status = 'done'", [command.id]),
    );
  });

  test('an invalid message is counted on /metrics and dropped; the next valid one is stored', async () => {
    const id = device.deviceId;
    await publishOutcome(session, deviceTopics(id).report, '{"v":1,"kind":"report","body":{}}');
    await publishOutcome(
      session,
      deviceTopics(id).report,
      wire(
        'report',
        aReport({ containers: [{ name: 'web', state: 'exited', restarts: 3, exitCode: 1 }] }),
      ).toString(),
    );
    await until('the valid report after the invalid one', () =>
      row("SELECT state FROM device_containers WHERE device_id = $1 AND name = 'web' AND state = 'exited'", [
        id,
      ]),
    );
    const metrics = (await app.inject({ url: '/metrics', headers: admin })).body;
    expect(metrics).toMatch(/fleet_ingest_messages_total\{kind="report"\} 3/);
    expect(metrics).toMatch(/fleet_ingest_invalid_messages_total\{kind="report",reason="payload"\} 1/);
    expect(metrics).toMatch(/fleet_ingest_rows_written_total\{kind="telemetry"\} 15/);
    const history = await sql.query(
      "SELECT from_state, to_state FROM device_container_events WHERE device_id = $1 AND name = 'web' ORDER BY id",
      [id],
    );
    expect(history.rows.at(-1)).toEqual({ from_state: 'running', to_state: 'exited' });
  });

  test('the Last Will marks the device offline when its connection drops', async () => {
    session.client.stream.destroy();
    await until('offline', () =>
      row('SELECT online FROM devices WHERE id = $1 AND NOT online', [device.deviceId]),
    );
  });

  test('decommission through the API kicks a connected device at once and it cannot come back', async () => {
    const d = await provisionDevice();
    const s = await connectRaw(d.mqtt.url, {
      protocolVersion: 5,
      username: d.mqtt.username,
      password: d.mqtt.password,
      clientId: d.mqtt.clientId,
    });
    const r = await app.inject({ method: 'DELETE', url: `/api/v1/devices/${d.deviceId}`, headers: admin });
    expect(r.statusCode).toBeLessThan(300);
    expect((await s.closed).disconnectReason).toBe(0x98);
    expect(
      await connectOutcome(d.mqtt.url, {
        protocolVersion: 5,
        username: d.mqtt.username,
        password: d.mqtt.password,
        clientId: d.mqtt.clientId,
      }),
    ).toBe(0x87);
  });
});
