import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allDevicesFilter, sharedFilter, type UplinkKind } from '@fleet/protocol';
import type { BrokerAuthority } from '../../../src/devices/broker-authority.js';
import { BrokerCredentialStore } from '../../../src/mqtt/broker-credential-file.js';
import { openDynsecClient } from '../../../src/mqtt/dynsec-client.js';
import { EmbeddedBroker } from '../../../src/mqtt/embedded-broker.js';
import { HubMqttClient, type MqttLogger, type MqttProtocolVersion } from '../../../src/mqtt/hub-mqtt-client.js';
import { HUB_SHARE_GROUP, MosquittoBrokerAuthority } from '../../../src/mqtt/mosquitto-authority.js';
import { startMosquitto } from './mosquitto.js';

/** Collects log lines instead of printing them; tests read them to check what was reported. */
export class RecordingLogger implements MqttLogger {
  readonly lines: string[] = [];
  log(message: string): void {
    this.lines.push(`log ${message}`);
  }
  warn(message: string): void {
    this.lines.push(`warn ${message}`);
  }
  error(message: string): void {
    this.lines.push(`error ${message}`);
  }
}

/** One broker as the hub sees it, with the same BrokerAuthority surface for both kinds. */
export interface BrokerUnderTest {
  kind: 'mosquitto' | 'aedes';
  url: string;
  /** What devices and the hub speak to this broker. */
  protocolVersion: MqttProtocolVersion;
  authority: BrokerAuthority;
  hub: { username: string; password: string };
  /** The hub's ingest filter for a kind: shared on Mosquitto, plain on aedes (no `$share`). */
  ingestFilter(kind: UplinkKind): string;
  /** Opens a hub session (each with its own client id). */
  connectHub(logger?: MqttLogger): Promise<HubMqttClient>;
  stop(): Promise<void>;
}

export async function startMosquittoUnderTest(): Promise<BrokerUnderTest> {
  const instance = await startMosquitto();
  const logger = new RecordingLogger();
  const hub = { username: 'fleet-hub', password: randomBytes(16).toString('hex') };
  const admin = await HubMqttClient.connect(
    { url: instance.url, username: instance.admin.username, password: instance.admin.password, clientId: 'fleet-admin-test', protocolVersion: 5 },
    logger,
  );
  const dynsec = await openDynsecClient(admin, { timeoutMs: 5000 });
  const authority = new MosquittoBrokerAuthority(dynsec);
  await authority.ensureHubIdentity(hub.username, hub.password);
  const hubs: HubMqttClient[] = [];
  return {
    kind: 'mosquitto',
    url: instance.url,
    protocolVersion: 5,
    authority,
    hub,
    ingestFilter: (kind) => sharedFilter(HUB_SHARE_GROUP, kind),
    async connectHub(log = logger) {
      const c = await HubMqttClient.connect(
        { url: instance.url, ...hub, clientId: `fleet-hub-${randomBytes(4).toString('hex')}`, protocolVersion: 5, reconnectPeriodMs: 200 },
        log,
      );
      hubs.push(c);
      return c;
    },
    async stop() {
      for (const c of hubs) await c.close(true);
      dynsec.close();
      await admin.close(true);
      await instance.stop();
    },
  };
}

export async function startAedesUnderTest(): Promise<BrokerUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-aedes-'));
  const logger = new RecordingLogger();
  const hub = { username: 'fleet-hub', password: randomBytes(16).toString('hex') };
  const credentials = await BrokerCredentialStore.open(join(dir, 'broker-credentials.json'));
  const broker = await EmbeddedBroker.start({ host: '127.0.0.1', port: 0, credentials, hubUsername: hub.username, hubPassword: hub.password }, logger);
  const hubs: HubMqttClient[] = [];
  return {
    kind: 'aedes',
    url: broker.url,
    protocolVersion: 4,
    authority: broker,
    hub,
    ingestFilter: (kind) => allDevicesFilter(kind),
    async connectHub(log = logger) {
      const c = await HubMqttClient.connect(
        { url: broker.url, ...hub, clientId: `fleet-hub-${randomBytes(4).toString('hex')}`, protocolVersion: 4, reconnectPeriodMs: 200 },
        log,
      );
      hubs.push(c);
      return c;
    },
    async stop() {
      for (const c of hubs) await c.close(true);
      await broker.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
