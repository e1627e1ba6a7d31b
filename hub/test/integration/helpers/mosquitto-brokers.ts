import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allDevicesFilter, sharedFilter, type UplinkKind } from '@fleet/protocol';
import type { BrokerAuthority } from '../../../src/devices/broker-authority.js';
import { BrokerCredentialStore } from '../../../src/mqtt/broker-credential-file.js';
import { openDynsecClient, type DynsecClient } from '../../../src/mqtt/dynsec-client.js';
import { EmbeddedBroker } from '../../../src/mqtt/embedded-broker.js';
import {
  HubMqttClient,
  type MqttLogger,
  type MqttProtocolVersion,
} from '../../../src/mqtt/hub-mqtt-client.js';
import { HUB_SHARE_GROUP, MosquittoBrokerAuthority } from '../../../src/mqtt/mosquitto-authority.js';
import { certificateAclFile, certificateListenerConfig } from '../../../src/mqtt/certificate-acl.js';
import { CertificateBrokerAuthority } from '../../../src/mqtt/certificate-broker-authority.js';
import { DeviceCertificates } from '../../../src/pki/device-certificates.js';
import { Inbox } from './mosquitto-clients.js';
import { startMosquitto, type MosquittoInstance } from './mosquitto.js';

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

/** A hub session subscribed to every device report on `broker`, and the reports it received. */
export async function hubReportInbox(
  broker: Pick<BrokerUnderTest, 'connectHub' | 'ingestFilter'>,
): Promise<{ hub: HubMqttClient; inbox: Inbox }> {
  const hub = await broker.connectHub();
  const inbox = new Inbox();
  hub.addListener((topic, payload) => inbox.push(topic, payload));
  await hub.subscribe([broker.ingestFilter('report')]);
  return { hub, inbox };
}

type HubCredentials = BrokerUnderTest['hub'];

const newHubCredentials = (): HubCredentials => ({
  username: 'fleet-hub',
  password: randomBytes(16).toString('hex'),
});

/** The hub's sessions on one broker, each with its own client id; `closeAll` ends them. */
function hubSessions(
  url: string,
  hub: HubCredentials,
  protocolVersion: MqttProtocolVersion,
  logger: MqttLogger,
) {
  const open: HubMqttClient[] = [];
  return {
    async connect(log: MqttLogger = logger): Promise<HubMqttClient> {
      const c = await HubMqttClient.connect(
        {
          url,
          ...hub,
          clientId: `fleet-hub-${randomBytes(4).toString('hex')}`,
          protocolVersion,
          reconnectPeriodMs: 200,
        },
        log,
      );
      open.push(c);
      return c;
    },
    async closeAll(): Promise<void> {
      for (const c of open) await c.close(true);
    },
  };
}

/** Mosquitto's dynamic-security admin session, with the hub's identity ensured through it. */
async function mosquittoAdmin(
  instance: MosquittoInstance,
  hub: HubCredentials,
  logger: MqttLogger,
): Promise<{ dynsec: DynsecClient; close(): Promise<void> }> {
  const admin = await HubMqttClient.connect(
    {
      url: instance.url,
      username: instance.admin.username,
      password: instance.admin.password,
      clientId: 'fleet-admin-test',
      protocolVersion: 5,
    },
    logger,
  );
  const dynsec = await openDynsecClient(admin, { timeoutMs: 5000 });
  await new MosquittoBrokerAuthority(dynsec).ensureHubIdentity(hub.username, hub.password);
  return {
    dynsec,
    async close() {
      dynsec.close();
      await admin.close(true);
    },
  };
}

export async function startMosquittoUnderTest(): Promise<BrokerUnderTest> {
  const instance = await startMosquitto();
  const logger = new RecordingLogger();
  const hub = newHubCredentials();
  const admin = await mosquittoAdmin(instance, hub, logger);
  const hubs = hubSessions(instance.url, hub, 5, logger);
  return {
    kind: 'mosquitto',
    url: instance.url,
    protocolVersion: 5,
    authority: new MosquittoBrokerAuthority(admin.dynsec),
    hub,
    ingestFilter: (kind) => sharedFilter(HUB_SHARE_GROUP, kind),
    connectHub: hubs.connect,
    async stop() {
      await hubs.closeAll();
      await admin.close();
      await instance.stop();
    },
  };
}

export async function startAedesUnderTest(): Promise<BrokerUnderTest> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-aedes-'));
  const logger = new RecordingLogger();
  const hub = newHubCredentials();
  const credentials = await BrokerCredentialStore.open(join(dir, 'broker-credentials.json'));
  const broker = await EmbeddedBroker.start(
    { host: '127.0.0.1', port: 0, credentials, hubUsername: hub.username, hubPassword: hub.password },
    logger,
  );
  const hubs = hubSessions(broker.url, hub, 4, logger);
  return {
    kind: 'aedes',
    url: broker.url,
    protocolVersion: 4,
    authority: broker,
    hub,
    ingestFilter: (kind) => allDevicesFilter(kind),
    connectHub: hubs.connect,
    async stop() {
      await hubs.closeAll();
      await broker.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A broker with a certificate listener (HUB_DEVICE_IDENTITY=certificate): Mosquitto with a second
 * listener, or the embedded aedes with its TLS listener.
 */
export interface CertificateBrokerUnderTest {
  kind: 'mosquitto' | 'aedes';
  protocolVersion: MqttProtocolVersion;
  tlsUrl: string;
  /** The hub CA (PEM) devices and the test trust for the broker's server certificate. */
  caPem: string;
  certificates: DeviceCertificates;
  authority: CertificateBrokerAuthority;
  ingestFilter(kind: UplinkKind): string;
  connectHub(logger?: MqttLogger): Promise<HubMqttClient>;
  stop(): Promise<void>;
}

export async function startMosquittoCertificateUnderTest(): Promise<CertificateBrokerUnderTest> {
  const pkiDir = await mkdtemp(join(tmpdir(), 'fleet-pki-'));
  const logger = new RecordingLogger();
  let certificates: DeviceCertificates | undefined;
  const instance = await startMosquitto({
    tls: async (dir, port) => {
      const file = (n: string) => join(dir, n);
      certificates = await DeviceCertificates.open(
        { dir: pkiDir, crlFile: file('crl.pem'), brokerPidFile: file('mosquitto.pid'), certDays: 30 },
        logger,
      );
      const server = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const cert = certificates.ca.issueServerCertificate({
        hosts: ['127.0.0.1', 'localhost'],
        publicKey: server.publicKey,
        days: 30,
      });
      await writeFile(file('ca.crt'), certificates.caCertificatePem);
      await writeFile(file('server.crt'), cert.pem);
      await writeFile(file('server.key'), server.privateKey.export({ type: 'pkcs8', format: 'pem' }), {
        mode: 0o600,
      });
      await writeFile(file('fleet.acl'), certificateAclFile());
      const lines = [
        `acl_file ${file('fleet.acl')}`,
        certificateListenerConfig({
          port,
          host: '127.0.0.1',
          caFile: file('ca.crt'),
          certFile: file('server.crt'),
          keyFile: file('server.key'),
          crlFile: file('crl.pem'),
        }),
      ].join('\n');
      return { lines, files: ['ca.crt', 'server.crt', 'server.key', 'fleet.acl', 'crl.pem'].map(file) };
    },
  });
  if (certificates === undefined || instance.tlsUrl === undefined)
    throw new Error('TLS listener was not set up');
  const certs = certificates;
  const hub = newHubCredentials();
  const admin = await mosquittoAdmin(instance, hub, logger);
  const hubs = hubSessions(instance.url, hub, 5, logger);
  return {
    kind: 'mosquitto',
    protocolVersion: 5,
    tlsUrl: instance.tlsUrl,
    caPem: certs.caCertificatePem,
    certificates: certs,
    authority: new CertificateBrokerAuthority(certs, admin.dynsec),
    ingestFilter: (kind) => sharedFilter(HUB_SHARE_GROUP, kind),
    connectHub: hubs.connect,
    async stop() {
      await hubs.closeAll();
      await admin.close();
      await instance.stop();
      await rm(pkiDir, { recursive: true, force: true });
    },
  };
}

/**
 * The embedded aedes in certificate mode, wired as the hub wires it (BrokerConnection): the hub CA
 * issues the TLS listener's certificate, the CRL lives in the PKI dir, and revocations are applied
 * by the broker re-reading it.
 */
export async function startAedesCertificateUnderTest(): Promise<
  CertificateBrokerUnderTest & { embedded: EmbeddedBroker }
> {
  const pkiDir = await mkdtemp(join(tmpdir(), 'fleet-pki-'));
  const logger = new RecordingLogger();
  const hub = newHubCredentials();
  const ref: { broker?: EmbeddedBroker } = {};
  const certificates = await DeviceCertificates.open(
    {
      dir: pkiDir,
      crlFile: join(pkiDir, 'crl.pem'),
      certDays: 30,
      reloadBroker: async () => ref.broker?.reloadCrl(),
    },
    logger,
  );
  const server = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const started = await EmbeddedBroker.start(
    {
      host: '127.0.0.1',
      port: 0,
      hubUsername: hub.username,
      hubPassword: hub.password,
      certificates: {
        host: '127.0.0.1',
        port: 0,
        ca: certificates.ca.certificate,
        serverCertificate: certificates.ca.issueServerCertificate({
          hosts: ['127.0.0.1', 'localhost'],
          publicKey: server.publicKey,
          days: 30,
        }).pem,
        serverKey: server.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        crlFile: join(pkiDir, 'crl.pem'),
      },
    },
    logger,
  );
  ref.broker = started;
  const hubs = hubSessions(started.url, hub, 4, logger);
  return {
    kind: 'aedes',
    embedded: started,
    protocolVersion: 4,
    tlsUrl: started.tlsUrl,
    caPem: certificates.caCertificatePem,
    certificates,
    authority: new CertificateBrokerAuthority(certificates, started),
    ingestFilter: (kind) => allDevicesFilter(kind),
    connectHub: hubs.connect,
    async stop() {
      await hubs.closeAll();
      await started.close();
      await rm(pkiDir, { recursive: true, force: true });
    },
  };
}
