import { timingSafeEqual } from 'node:crypto';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { deviceAcl } from '@fleet/protocol';
import type { BrokerAuthority } from '../devices/broker-authority.js';
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
  credentials: BrokerCredentialStore;
  /** The hub's own identity; held in memory only, the hub is this broker's only host. */
  hubUsername: string;
  hubPassword: string;
}

/** What a session authenticated as; a device's ACL is computed once at CONNECT. */
type Identity =
  | { kind: 'hub' }
  | {
      kind: 'device';
      deviceId: string;
      salt: string;
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

/**
 * The embedded default broker: aedes 1.2.0 in the hub's process, on a TCP port, enforcing the
 * same per-device rules as Mosquitto's dynamic-security roles:
 * - a device authenticates with its username and password and must use its device id as client id;
 * - it may publish only on its own uplink topics and subscribe only to its own target and command;
 * - a revoked or re-passworded device is disconnected at once (its Last Will is then refused
 *   by authorizePublish, as Mosquitto publishes none for a kicked client).
 *
 * aedes 1.x speaks MQTT 3.1.1 only: a denied publish closes the connection, a denied
 * subscription gets SUBACK 0x80. It has no shared subscriptions; the hub subscribes plainly.
 */
export class EmbeddedBroker implements BrokerAuthority {
  readonly #aedes: Aedes;
  readonly #server: Server;
  readonly #options: EmbeddedBrokerOptions;
  readonly #logger: MqttLogger;
  readonly #identities = new WeakMap<Client, Identity>();
  /** Live sessions per device, so that a revocation can close them. */
  readonly #live = new Map<string, Client>();
  readonly #usernames = new Map<string, string>();

  private constructor(aedes: Aedes, server: Server, options: EmbeddedBrokerOptions, logger: MqttLogger) {
    this.#aedes = aedes;
    this.#server = server;
    this.#options = options;
    this.#logger = logger;
  }

  static async start(options: EmbeddedBrokerOptions, logger: MqttLogger): Promise<EmbeddedBroker> {
    const aedes = await Aedes.createBroker();
    const server = createServer(aedes.handle);
    const broker = new EmbeddedBroker(aedes, server, options, logger);
    broker.#install();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    logger.log(`embedded MQTT broker listening on ${broker.url}`);
    return broker;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get url(): string {
    return `mqtt://${this.#options.host}:${this.port}`;
  }

  async upsertDevice(deviceId: string, username: string, password: string): Promise<void> {
    const { salt, hash } = await hashBrokerPassword(password);
    const previous = this.#options.credentials.get(deviceId);
    await this.#options.credentials.put({ deviceId, username, salt, hash });
    if (previous !== undefined && previous.username !== username) this.#usernames.delete(previous.username);
    this.#usernames.set(username, deviceId);
    // Same as Mosquitto's setClientPassword: the old session goes, the device reconnects with
    // the new password.
    if (previous !== undefined) this.#kick(deviceId);
  }

  async revokeDevice(deviceId: string): Promise<void> {
    const previous = this.#options.credentials.get(deviceId);
    await this.#options.credentials.delete(deviceId);
    if (previous !== undefined) this.#usernames.delete(previous.username);
    this.#kick(deviceId);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#aedes.close(() => resolve()));
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
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
    return this.#options.credentials.get(identity.deviceId)?.salt === identity.salt ? identity : undefined;
  }

  #install(): void {
    const aedes = this.#aedes;
    const { credentials, hubUsername, hubPassword } = this.#options;
    for (const c of credentials.all()) this.#usernames.set(c.username, c.deviceId);

    aedes.authenticate = (client, username, password, done) => {
      const secret = password?.toString('utf8') ?? '';
      if (username === undefined) return done(refusal('username required', NOT_AUTHORIZED), false);
      if (username === hubUsername) {
        if (!sameSecret(secret, hubPassword))
          return done(refusal('bad username or password', BAD_USERNAME_OR_PASSWORD), false);
        this.#identities.set(client, { kind: 'hub' });
        return done(null, true);
      }
      const deviceId = this.#usernames.get(username);
      const stored = deviceId === undefined ? undefined : credentials.get(deviceId);
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
            salt: stored.salt,
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
