import { timingSafeEqual, type X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { basename, dirname } from 'node:path';
import {
  createServer as createTlsServer,
  TLSSocket,
  type Server as TlsServer,
  type TlsOptions,
} from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { deviceAcl, isDeviceId } from '@fleet/protocol';
import type { BrokerAuthority } from '../devices/broker-authority.js';
import { normalizeSerial, readCrl } from '../pki/certificate-authority.js';
import type { RevocationEnforcer } from './certificate-broker-authority.js';
import {
  hashBrokerPassword,
  verifyBrokerPassword,
  type BrokerCredentialStore,
} from './broker-credential-file.js';
import type { MqttLogger } from './hub-mqtt-client.js';

export interface EmbeddedBrokerOptions {
  host: string;
  /** 0 picks a free port; read it back from `port`. */
  port: number;
  /**
   * Password devices (decision 0050). Absent in certificate mode: the plain listener then admits
   * the hub only, so a device decommissioned by CRL cannot come back with a leftover password.
   */
  credentials?: BrokerCredentialStore;
  /** The hub's own identity; held in memory only, the hub is this broker's only host. */
  hubUsername: string;
  hubPassword: string;
  /** Certificate devices (HUB_DEVICE_IDENTITY=certificate, decision 0053): a TLS listener. */
  certificates?: EmbeddedCertificateListener;
}

/** The TLS listener of certificate mode: client certificates from the hub CA, CN = device id. */
export interface EmbeddedCertificateListener {
  host: string;
  /** 0 picks a free port; read it back from `tlsPort`. */
  port: number;
  /** The hub CA: the only issuer of device certificates, and the CRL's signer. */
  ca: X509Certificate;
  /** The listener's own certificate (issued by the hub CA, which devices trust) and key, PEM. */
  serverCertificate: string;
  serverKey: string;
  /** The CRL the hub writes on every revocation; watched, and re-read when it changes. */
  crlFile: string;
}

/** What a session authenticated as; a device's ACL is computed once at CONNECT. */
type Identity =
  | { kind: 'hub' }
  | {
      kind: 'device';
      deviceId: string;
      /** The password credential's salt, or the certificate's serial: current while still valid. */
      credential: { kind: 'password'; salt: string } | { kind: 'certificate'; serial: string };
      publish: ReadonlySet<string>;
      subscribe: ReadonlySet<string>;
    };

/** MQTT 3.1.1 CONNACK return codes aedes understands. */
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

function refusal(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * The embedded default broker: aedes 1.2.0 in the hub's process, on a TCP port, enforcing the
 * same per-device rules as Mosquitto's dynamic-security roles:
 * - a device authenticates with its username and password and must use its device id as client id;
 * - it may publish only on its own uplink topics and subscribe only to its own target and command;
 * - a revoked or re-passworded device is disconnected at once (its Last Will is then refused
 *   by authorizePublish, as Mosquitto publishes none for a kicked client).
 *
 * In certificate mode (`certificates`) devices connect to a TLS listener instead, with a client
 * certificate from the hub CA: the CN is the device id (= username), the client id must equal
 * it, the topic rules are the same, and the CRL file is re-read when it changes; sessions whose
 * certificate it revokes are closed at once (decision 0053).
 *
 * aedes 1.x speaks MQTT 3.1.1 only: a denied publish closes the connection, a denied
 * subscription gets SUBACK 0x80. It has no shared subscriptions; the hub subscribes plainly.
 */
export class EmbeddedBroker implements BrokerAuthority, RevocationEnforcer {
  readonly #aedes: Aedes;
  readonly #server: Server;
  readonly #tls: TlsServer | undefined;
  readonly #options: EmbeddedBrokerOptions;
  readonly #logger: MqttLogger;
  readonly #identities = new WeakMap<Client, Identity>();
  /** Live sessions per device, so that a revocation can close them. */
  readonly #live = new Map<string, Client>();
  readonly #usernames = new Map<string, string>();
  /** Certificate mode: the CRL text in force and the serials it revokes. */
  #crl = { text: '', serials: new Set<string>() };
  #crlWatcher: FSWatcher | undefined;
  #crlReload: Promise<void> = Promise.resolve();
  #crlTimer: NodeJS.Timeout | undefined;

  private constructor(
    aedes: Aedes,
    server: Server,
    tls: TlsServer | undefined,
    options: EmbeddedBrokerOptions,
    logger: MqttLogger,
  ) {
    this.#aedes = aedes;
    this.#server = server;
    this.#tls = tls;
    this.#options = options;
    this.#logger = logger;
  }

  static async start(options: EmbeddedBrokerOptions, logger: MqttLogger): Promise<EmbeddedBroker> {
    const aedes = await Aedes.createBroker();
    const server = createServer(aedes.handle);
    const cert = options.certificates;
    let tls: TlsServer | undefined;
    let crl = { text: '', serials: new Set<string>() };
    if (cert !== undefined) {
      // The CRL must exist and verify before the first device is admitted: without it the
      // listener would admit revoked devices.
      crl = EmbeddedBroker.#parseCrl(await readFile(cert.crlFile, 'utf8'), cert.ca);
      tls = createTlsServer(EmbeddedBroker.#tlsOptions(cert, crl.text), aedes.handle);
      // A failed handshake (no certificate, another CA, revoked) is the refusal itself.
      tls.on('tlsClientError', (error) =>
        logger.warn(`embedded broker: TLS handshake refused: ${error.message.slice(0, 200)}`),
      );
    }
    const broker = new EmbeddedBroker(aedes, server, tls, options, logger);
    broker.#crl = crl;
    broker.#install();
    try {
      await listen(server, options.port, options.host);
      if (tls !== undefined && cert !== undefined) {
        await listen(tls, cert.port, cert.host);
        broker.#watchCrl(cert.crlFile);
      }
    } catch (error) {
      await broker.close();
      throw error;
    }
    logger.log(
      `embedded MQTT broker listening on ${broker.url}${tls !== undefined ? ` and ${broker.tlsUrl} (device certificates)` : ''}`,
    );
    return broker;
  }

  static #tlsOptions(cert: EmbeddedCertificateListener, crl: string): TlsOptions {
    return {
      key: cert.serverKey,
      cert: cert.serverCertificate,
      ca: [cert.ca.toString()],
      // Node sets OpenSSL's CRL_CHECK with a CRL: a revoked certificate fails the handshake.
      crl,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    };
  }

  static #parseCrl(text: string, ca: X509Certificate): { text: string; serials: Set<string> } {
    return { text, serials: readCrl(text, ca).serials };
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get url(): string {
    return `mqtt://${this.#options.host}:${this.port}`;
  }

  /** The certificate listener's port (certificate mode only). */
  get tlsPort(): number {
    if (this.#tls === undefined) throw new Error('the embedded broker has no certificate listener');
    return (this.#tls.address() as AddressInfo).port;
  }

  get tlsUrl(): string {
    return `mqtts://${this.#options.certificates?.host ?? this.#options.host}:${this.tlsPort}`;
  }

  /**
   * RevocationEnforcer: the CRL on disk is in force when this resolves (new handshakes check it)
   * and every live session on a certificate it revokes is closed. The watcher does the same for
   * changes made by anyone else; this is the synchronous path for the hub's own revocations.
   */
  async enforce(): Promise<void> {
    await this.reloadCrl();
  }

  /** Re-reads the CRL file (serialised); an unreadable or unverifiable CRL keeps the one in force. */
  reloadCrl(): Promise<void> {
    const next = this.#crlReload.then(() => this.#reloadCrlNow());
    this.#crlReload = next.catch(() => undefined);
    return next;
  }

  async #reloadCrlNow(): Promise<void> {
    const cert = this.#options.certificates;
    if (cert === undefined || this.#tls === undefined) return;
    const text = await readFile(cert.crlFile, 'utf8');
    if (text !== this.#crl.text) {
      let parsed: { text: string; serials: Set<string> };
      try {
        parsed = EmbeddedBroker.#parseCrl(text, cert.ca);
      } catch (error) {
        throw new Error(
          `${cert.crlFile} not applied, the previous CRL stays in force: ${(error as Error).message}`,
          {
            cause: error,
          },
        );
      }
      this.#tls.setSecureContext(EmbeddedBroker.#tlsOptions(cert, parsed.text));
      this.#crl = parsed;
    }
    for (const [deviceId, client] of this.#live) {
      const identity = this.#identities.get(client);
      if (
        identity?.kind === 'device' &&
        identity.credential.kind === 'certificate' &&
        this.#crl.serials.has(identity.credential.serial)
      ) {
        this.#live.delete(deviceId);
        this.#logger.log(`embedded broker: closed ${deviceId}'s session, its certificate is revoked`);
        client.close();
      }
    }
  }

  #watchCrl(file: string): void {
    // The directory, not the file: the hub replaces the CRL by rename, which a watch on the old
    // inode would not see.
    this.#crlWatcher = watch(dirname(file), (_event, name) => {
      if (name !== null && name !== basename(file)) return;
      clearTimeout(this.#crlTimer);
      this.#crlTimer = setTimeout(() => {
        this.reloadCrl().catch((error: Error) => this.#logger.warn(`embedded broker: ${error.message}`));
      }, 20);
    });
    this.#crlWatcher.on('error', (error) =>
      this.#logger.warn(`embedded broker: watching ${file} failed: ${error.message}`),
    );
  }

  #passwords(): BrokerCredentialStore {
    const store = this.#options.credentials;
    if (store === undefined)
      throw new Error('the embedded broker is in certificate mode: devices have no broker passwords');
    return store;
  }

  async upsertDevice(deviceId: string, username: string, password: string): Promise<void> {
    const { salt, hash } = await hashBrokerPassword(password);
    const credentials = this.#passwords();
    const previous = credentials.get(deviceId);
    await credentials.put({ deviceId, username, salt, hash });
    if (previous !== undefined && previous.username !== username) this.#usernames.delete(previous.username);
    this.#usernames.set(username, deviceId);
    // Same as Mosquitto's setClientPassword: the old session goes, the device reconnects with
    // the new password.
    if (previous !== undefined) this.#kick(deviceId);
  }

  async revokeDevice(deviceId: string): Promise<void> {
    const credentials = this.#passwords();
    const previous = credentials.get(deviceId);
    await credentials.delete(deviceId);
    if (previous !== undefined) this.#usernames.delete(previous.username);
    this.#kick(deviceId);
  }

  async close(): Promise<void> {
    this.#crlWatcher?.close();
    clearTimeout(this.#crlTimer);
    await this.#crlReload;
    await new Promise<void>((resolve) => this.#aedes.close(() => resolve()));
    const closeServer = (s: Server) =>
      new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()));
    await closeServer(this.#server);
    if (this.#tls !== undefined) await closeServer(this.#tls);
  }

  #kick(deviceId: string): void {
    const client = this.#live.get(deviceId);
    if (client === undefined) return;
    this.#live.delete(deviceId);
    client.close();
  }

  /** The identity is current only while the credential it authenticated with is still stored. */
  #current(client: Client | null): Identity | undefined {
    if (client === null) return undefined;
    const identity = this.#identities.get(client);
    if (identity?.kind !== 'device') return identity;
    const credential = identity.credential;
    if (credential.kind === 'certificate')
      return this.#crl.serials.has(credential.serial) ? undefined : identity;
    return this.#options.credentials?.get(identity.deviceId)?.salt === credential.salt ? identity : undefined;
  }

  /**
   * A session on the TLS listener: the handshake already checked the chain (hub CA only) and the
   * CRL; the identity is the certificate's CN, whatever CONNECT's username and password say.
   */
  #authenticateCertificate(client: Client, conn: TLSSocket): Identity | AuthenticateError {
    if (!conn.authorized) return refusal('client certificate not verified', NOT_AUTHORIZED);
    const peer = conn.getPeerCertificate();
    const deviceId = peer.subject?.CN;
    if (typeof deviceId !== 'string' || !isDeviceId(deviceId))
      return refusal('certificate CN is not a device id', NOT_AUTHORIZED);
    const serial = normalizeSerial(peer.serialNumber);
    if (this.#crl.serials.has(serial)) return refusal('certificate revoked', NOT_AUTHORIZED);
    // Mosquitto forces the client id to the CN (use_username_as_clientid); aedes cannot rewrite
    // it, so it refuses any other: one device can never take over another's session.
    if (client.id !== deviceId) return refusal('client id must be the certificate CN', NOT_AUTHORIZED);
    const acl = deviceAcl(deviceId);
    return {
      kind: 'device',
      deviceId,
      credential: { kind: 'certificate', serial },
      publish: new Set(acl.publish),
      subscribe: new Set(acl.subscribe),
    };
  }

  #install(): void {
    const aedes = this.#aedes;
    const { credentials, hubUsername, hubPassword } = this.#options;
    for (const c of credentials?.all() ?? []) this.#usernames.set(c.username, c.deviceId);

    aedes.authenticate = (client, username, password, done) => {
      if (client.conn instanceof TLSSocket) {
        const identity = this.#authenticateCertificate(client, client.conn);
        if (identity instanceof Error) return done(identity, false);
        this.#identities.set(client, identity);
        return done(null, true);
      }
      const secret = password?.toString('utf8') ?? '';
      if (username === undefined) return done(refusal('username required', NOT_AUTHORIZED), false);
      if (username === hubUsername) {
        if (!sameSecret(secret, hubPassword))
          return done(refusal('bad username or password', BAD_USERNAME_OR_PASSWORD), false);
        this.#identities.set(client, { kind: 'hub' });
        return done(null, true);
      }
      const deviceId = this.#usernames.get(username);
      const stored = deviceId === undefined ? undefined : credentials?.get(deviceId);
      if (deviceId === undefined || stored === undefined)
        return done(refusal('bad username or password', BAD_USERNAME_OR_PASSWORD), false);
      verifyBrokerPassword(secret, stored).then(
        (valid) => {
          if (!valid) return done(refusal('bad username or password', BAD_USERNAME_OR_PASSWORD), false);
          // The client id is pinned to the device id, else one device could take over (and
          // kick) another device's session.
          if (client.id !== deviceId)
            return done(refusal(`client id must be the device id`, NOT_AUTHORIZED), false);
          const acl = deviceAcl(deviceId);
          this.#identities.set(client, {
            kind: 'device',
            deviceId,
            credential: { kind: 'password', salt: stored.salt },
            publish: new Set(acl.publish),
            subscribe: new Set(acl.subscribe),
          });
          done(null, true);
        },
        (error: Error) => done(refusal(`authentication failed: ${error.message}`, NOT_AUTHORIZED), false),
      );
    };

    aedes.on('clientReady', (client) => {
      const identity = this.#identities.get(client);
      if (identity?.kind !== 'device') return;
      // Revoked or rotated between CONNECT and now: do not let the session live on.
      if (this.#current(client) === undefined) return client.close();
      this.#live.set(identity.deviceId, client);
    });
    aedes.on('clientDisconnect', (client) => {
      const identity = this.#identities.get(client);
      if (identity?.kind === 'device' && this.#live.get(identity.deviceId) === client)
        this.#live.delete(identity.deviceId);
    });

    aedes.authorizePublish = (client, packet, callback) => {
      if (client === null) return callback(null); // the broker's own $SYS messages
      const identity = this.#current(client);
      if (identity?.kind === 'hub') return callback(null);
      if (identity?.kind === 'device' && identity.publish.has(packet.topic)) return callback(null);
      this.#logger.warn(`embedded broker: denied publish by ${client.id} to ${packet.topic.slice(0, 200)}`);
      callback(new Error('not authorized'));
    };

    aedes.authorizeSubscribe = (client, subscription, callback) => {
      const identity = this.#current(client);
      if (identity?.kind === 'hub') return callback(null, subscription);
      // Exact string match, like dynsec's subscribeLiteral: no wildcard reaches past the device.
      if (identity?.kind === 'device' && identity.subscribe.has(subscription.topic))
        return callback(null, subscription);
      this.#logger.warn(
        `embedded broker: denied subscription by ${client.id} to ${subscription.topic.slice(0, 200)}`,
      );
      callback(null, null);
    };

    aedes.on('clientError', (client, error) =>
      this.#logger.warn(`embedded broker: client ${client.id}: ${error.message}`),
    );
  }
}
