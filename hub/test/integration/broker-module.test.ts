import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeMessage, deviceTopics } from '@fleet/protocol';
import { aRelease } from '@fleet/protocol/testing';
import {
  BROKER_AUTHORITY,
  brokerUsernameFor,
  type BrokerAuthority,
} from '../../src/devices/broker-authority.js';
import { COMMAND_PUBLISHER, type CommandPublisher } from '../../src/devices/command-publisher.js';
import { BrokerConnection } from '../../src/mqtt/broker-connection.js';
import { DevicePublisher } from '../../src/mqtt/device-publisher.js';
import { MqttModule } from '../../src/mqtt/mqtt.module.js';
import { mqttSettingsFromEnv } from '../../src/mqtt/mqtt-settings.js';
import { startMosquitto, type MosquittoInstance } from './helpers/mosquitto.js';
import { connectOutcome, connectRaw } from './helpers/mosquitto-clients.js';

// The Nest wiring as the app uses it: MqttModule.forRoot(settings from the environment) gives
// the devices module a working BrokerAuthority and CommandPublisher, on both brokers.

async function withModule(settings: Parameters<typeof MqttModule.forRoot>[0]) {
  const moduleRef = await Test.createTestingModule({ imports: [MqttModule.forRoot(settings)] }).compile();
  // An application context (no HTTP adapter): the lifecycle hooks run as in the hub.
  const app = await moduleRef.init();
  return {
    app,
    connection: app.get(BrokerConnection),
    authority: app.get<BrokerAuthority>(BROKER_AUTHORITY),
    commands: app.get<CommandPublisher>(COMMAND_PUBLISHER),
    targets: app.get(DevicePublisher),
  };
}

describe('MqttModule', () => {
  let dir: string;
  let mosquitto: MosquittoInstance;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleet-mqtt-module-'));
    mosquitto = await startMosquitto();
  });
  afterAll(async () => {
    await mosquitto?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test.each(['embedded', 'mosquitto'] as const)(
    '%s: provisions a device, sends it a command and a retained target, and closes cleanly',
    async (mode) => {
      const settings =
        mode === 'embedded'
          ? mqttSettingsFromEnv(
              { MQTT_EMBEDDED_HOST: '127.0.0.1', MQTT_EMBEDDED_PORT: '0' },
              { dataDir: dir },
            )
          : mqttSettingsFromEnv(
              {
                MQTT_ADMIN_USERNAME: mosquitto.admin.username,
                MQTT_ADMIN_PASSWORD: mosquitto.admin.password,
                MQTT_HUB_PASSWORD: randomBytes(12).toString('hex'),
              },
              { dataDir: dir, mqttUrl: mosquitto.url },
            );
      const { app, connection, authority, commands, targets } = await withModule(settings);
      expect(connection.sharedSubscriptions).toBe(mode === 'mosquitto');
      const id = randomUUID();
      const password = randomBytes(16).toString('hex');
      await authority.upsertDevice(id, brokerUsernameFor(id), password);
      const device = await connectRaw(connection.deviceUrl, {
        protocolVersion: mode === 'mosquitto' ? 5 : 4,
        username: brokerUsernameFor(id),
        password,
        clientId: id,
      });
      await device.client.subscribeAsync([deviceTopics(id).command, deviceTopics(id).target], { qos: 1 });
      await commands.publishCommand(id, { commandId: 'c-1', name: 'restart-container', container: 'web' });
      const got = await device.inbox.waitFor((m) => m.topic === deviceTopics(id).command, 'the command');
      const decoded = decodeMessage('command', got.payload);
      expect(decoded.ok && decoded.value.body).toEqual({
        commandId: 'c-1',
        name: 'restart-container',
        container: 'web',
      });
      await expect(commands.publishCommand(id, { commandId: '', name: 'reboot' })).rejects.toThrow(
        /invalid command/,
      );
      await targets.publishTarget(id, {
        updateId: 'u-1',
        release: aRelease(),
        objectBaseUrl: 'http://127.0.0.1:8080/api/v1/objects',
      });
      // Retained: a device subscribing later still gets it.
      const late = await connectRaw(connection.deviceUrl, {
        protocolVersion: mode === 'mosquitto' ? 5 : 4,
        username: brokerUsernameFor(id),
        password,
        clientId: id,
      });
      await late.client.subscribeAsync(deviceTopics(id).target, { qos: 1 });
      const target = await late.inbox.waitFor(
        (m) => m.topic === deviceTopics(id).target,
        'the retained target',
      );
      const decodedTarget = decodeMessage('target', target.payload);
      expect(decodedTarget.ok && decodedTarget.value.body.updateId).toBe('u-1');
      await device.closed; // the second session with the same client id took over the first
      const deviceSession = late;
      await app.close();
      if (mode === 'mosquitto') {
        // The hub's shutdown leaves the external broker (and the device) running.
        expect(deviceSession.client.connected).toBe(true);
        deviceSession.client.end(true);
      } else {
        await deviceSession.closed; // the embedded broker went down with the hub
        expect(
          await connectOutcome(connection.deviceUrl, {
            protocolVersion: 4,
            username: brokerUsernameFor(id),
            password,
            clientId: id,
          }),
        ).toBe('closed');
        // The credential file survives the hub: the device is known again after a restart.
        expect((await stat(join(dir, 'broker-credentials.json'))).mode & 0o777).toBe(0o600);
        expect(await readFile(join(dir, 'broker-credentials.json'), 'utf8')).toContain(id);
      }
    },
  );

  test('embedded: a restarted hub still admits a device provisioned before the restart', async () => {
    const settings = mqttSettingsFromEnv(
      { MQTT_EMBEDDED_HOST: '127.0.0.1', MQTT_EMBEDDED_PORT: '0' },
      { dataDir: join(dir, 'restart') },
    );
    const first = await withModule(settings);
    const id = randomUUID();
    const password = randomBytes(16).toString('hex');
    await first.authority.upsertDevice(id, brokerUsernameFor(id), password);
    await first.app.close();
    const second = await withModule(settings);
    const device = await connectRaw(second.connection.deviceUrl, {
      protocolVersion: 4,
      username: brokerUsernameFor(id),
      password,
      clientId: id,
    });
    expect(device.client.connected).toBe(true);
    device.client.end(true);
    await second.app.close();
  });
});
