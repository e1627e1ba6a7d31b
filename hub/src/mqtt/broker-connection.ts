import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import type { BrokerAuthority } from '../devices/broker-authority.js';
import { DeviceCertificates } from '../pki/device-certificates.js';
import type { DeviceCertificateIssuer } from '../provisioning/device-certificate-issuer.js';
import { BrokerCredentialStore } from './broker-credential-file.js';
import { CertificateBrokerAuthority } from './certificate-broker-authority.js';
import { DevicePublisher } from './device-publisher.js';
import { openDynsecClient } from './dynsec-client.js';
import { EmbeddedBroker, type EmbeddedCertificateListener } from './embedded-broker.js';
import { HubMqttClient, type MqttLogger } from './hub-mqtt-client.js';
import { MosquittoBrokerAuthority } from './mosquitto-authority.js';
import type { MqttSettings } from './mqtt-settings.js';

/**
 * Everything the hub holds of its broker: the session ingest and publishers use, the
 * authority that provisions devices, and what to close on shutdown.
 */
export class BrokerConnection {
  private constructor(
    readonly mode: MqttSettings['mode'],
    /** The hub's own session: ingest subscriptions, targets and commands. */
    readonly session: HubMqttClient,
    readonly authority: BrokerAuthority,
    readonly publisher: DevicePublisher,
    /** Broker URL for devices (provisioning hands it out). */
    readonly deviceUrl: string,
    private readonly closers: (() => Promise<void>)[],
    /** Set in certificate identity mode: provisioning issues device certificates through it. */
    readonly certificateIssuer?: DeviceCertificateIssuer,
  ) {}

  /** Mosquitto splits device traffic across replicas with `$share`; aedes has no shared subscriptions. */
  get sharedSubscriptions(): boolean {
    return this.mode === 'mosquitto';
  }

  static async open(
    settings: MqttSettings,
    logger: MqttLogger,
    signal?: AbortSignal,
  ): Promise<BrokerConnection> {
    return settings.mode === 'embedded'
      ? BrokerConnection.#openEmbedded(settings, logger, signal)
      : BrokerConnection.#openMosquitto(settings, logger, signal);
  }

  static async #openEmbedded(
    settings: Extract<MqttSettings, { mode: 'embedded' }>,
    logger: MqttLogger,
    signal?: AbortSignal,
  ): Promise<BrokerConnection> {
    // The hub is the embedded broker's only operator: its password lives for this process only.
    const hub = { username: `fleet-hub-${randomUUID()}`, password: randomBytes(32).toString('base64url') };
    const cert = settings.certificate;
    // Set once the broker listens: the PKI (opened first, the listener needs the CA) reloads it.
    const started: { broker?: EmbeddedBroker } = {};
    let certificates: DeviceCertificates | undefined;
    let tls: EmbeddedCertificateListener | undefined;
    let deviceTlsUrl: URL | undefined;
    if (cert !== undefined) {
      certificates = await DeviceCertificates.open(
        {
          dir: cert.pkiDir,
          crlFile: cert.crlFile,
          certDays: cert.certDays,
          ...(cert.caCertFile !== undefined ? { caCertFile: cert.caCertFile } : {}),
          ...(cert.caKeyFile !== undefined ? { caKeyFile: cert.caKeyFile } : {}),
          // The broker re-reads the CRL itself; before it exists it reads the file at start.
          reloadBroker: async () => started.broker?.reloadCrl(),
        },
        logger,
      );
      // The device URL's host must be in the server certificate (devices check it against the
      // hub CA): the given TLS URL, else HUB_MQTT_PUBLIC_URL's host with the TLS port.
      const publicHost =
        settings.publicUrl !== undefined ? new URL(settings.publicUrl).hostname : '127.0.0.1';
      deviceTlsUrl = new URL(cert.deviceUrl ?? `mqtts://${publicHost}:${cert.tlsPort}`);
      const server = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const hosts = [
        ...new Set([
          deviceTlsUrl.hostname.replace(/^\[|\]$/g, ''),
          '127.0.0.1',
          'localhost',
          ...cert.serverNames,
        ]),
      ];
      tls = {
        host: settings.host,
        port: cert.tlsPort,
        ca: certificates.ca.certificate,
        // Issued at every start: nothing to renew or keep; devices trust the CA, not this key.
        serverCertificate: certificates.ca.issueServerCertificate({
          hosts,
          publicKey: server.publicKey,
          days: 365,
        }).pem,
        serverKey: server.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        crlFile: cert.crlFile,
      };
    }
    const broker = await EmbeddedBroker.start(
      {
        host: settings.host,
        port: settings.port,
        // Certificate mode admits no password devices (a CRL could not revoke them).
        ...(tls === undefined
          ? { credentials: await BrokerCredentialStore.open(settings.credentialFile) }
          : { certificates: tls }),
        hubUsername: hub.username,
        hubPassword: hub.password,
      },
      logger,
    );
    started.broker = broker;
    let session: HubMqttClient;
    try {
      session = await HubMqttClient.connect(
        { url: `mqtt://127.0.0.1:${broker.port}`, ...hub, clientId: hub.username, protocolVersion: 4 },
        logger,
        signal,
      );
    } catch (error) {
      await broker.close();
      throw error;
    }
    let deviceUrl = settings.publicUrl ?? `mqtt://127.0.0.1:${broker.port}`;
    let authority: BrokerAuthority = broker;
    let issuer: CertificateBrokerAuthority | undefined;
    if (certificates !== undefined && deviceTlsUrl !== undefined) {
      // Port 0 (tests): hand out the port the listener got.
      if (cert?.deviceUrl === undefined) deviceTlsUrl.port = String(broker.tlsPort);
      deviceUrl = deviceTlsUrl.toString().replace(/\/$/, '');
      issuer = new CertificateBrokerAuthority(certificates, broker);
      authority = issuer;
    }
    return new BrokerConnection(
      'embedded',
      session,
      authority,
      new DevicePublisher(session),
      deviceUrl,
      [() => session.close(), () => broker.close()],
      issuer,
    );
  }

  static async #openMosquitto(
    settings: Extract<MqttSettings, { mode: 'mosquitto' }>,
    logger: MqttLogger,
    signal?: AbortSignal,
  ): Promise<BrokerConnection> {
    const admin = await HubMqttClient.connect(
      {
        url: settings.url,
        username: settings.adminUsername,
        password: settings.adminPassword,
        clientId: `fleet-admin-${randomUUID()}`,
        protocolVersion: 5,
      },
      logger,
      signal,
    );
    const closers: (() => Promise<void>)[] = [() => admin.close()];
    try {
      const dynsec = await openDynsecClient(admin);
      closers.unshift(async () => dynsec.close());
      const passwords = new MosquittoBrokerAuthority(dynsec);
      await passwords.ensureHubIdentity(settings.hubUsername, settings.hubPassword);
      const cert = settings.certificate;
      const certificates =
        cert === undefined
          ? undefined
          : new CertificateBrokerAuthority(
              await DeviceCertificates.open(
                {
                  dir: cert.pkiDir,
                  crlFile: cert.crlFile,
                  certDays: cert.certDays,
                  ...(cert.caCertFile !== undefined ? { caCertFile: cert.caCertFile } : {}),
                  ...(cert.caKeyFile !== undefined ? { caKeyFile: cert.caKeyFile } : {}),
                  ...(cert.brokerPidFile !== undefined ? { brokerPidFile: cert.brokerPidFile } : {}),
                },
                logger,
              ),
              dynsec,
            );
      const authority: BrokerAuthority = certificates ?? passwords;
      const session = await HubMqttClient.connect(
        {
          url: settings.url,
          username: settings.hubUsername,
          password: settings.hubPassword,
          clientId: settings.clientId ?? `fleet-hub-${randomUUID()}`,
          protocolVersion: 5,
          ...(settings.sessionExpirySeconds !== undefined
            ? { sessionExpirySeconds: settings.sessionExpirySeconds }
            : {}),
        },
        logger,
        signal,
      );
      closers.unshift(() => session.close());
      const deviceUrl = cert?.deviceUrl ?? settings.publicUrl ?? settings.url;
      return new BrokerConnection(
        'mosquitto',
        session,
        authority,
        new DevicePublisher(session),
        deviceUrl,
        closers,
        certificates,
      );
    } catch (error) {
      for (const close of closers) await close().catch(() => undefined);
      throw error;
    }
  }

  /** Closes the sessions (flushing unacknowledged publishes) and the embedded broker. */
  async close(): Promise<void> {
    for (const close of this.closers.splice(0)) await close();
  }
}
