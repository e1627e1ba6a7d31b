import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { allDevicesFilter, deviceTopics } from '@fleet/protocol';
import { CertificateAuthority } from '../../src/pki/certificate-authority.js';
import type { HubMqttClient } from '../../src/mqtt/hub-mqtt-client.js';
import {
  startMosquittoCertificateUnderTest,
  type CertificateBrokerUnderTest,
} from './helpers/mosquitto-brokers.js';
import {
  connectOutcome,
  connectRaw,
  Inbox,
  publishOutcome,
  subscribeOutcome,
  type DeviceSession,
} from './helpers/mosquitto-clients.js';

// The isolation suite of broker-isolation.test.ts for HUB_DEVICE_IDENTITY=certificate: devices
// authenticate to Mosquitto 2.0.11 with client certificates from the hub CA (CN = device id =
// username), one fixed `%u` acl_file isolates them, and revocation goes through a CRL the broker
// reloads on SIGHUP. Nothing per device is written into the broker's configuration.

interface CertDevice {
  id: string;
  key: KeyObject;
  publicKeyBase64: string;
  cert: string;
}

describe('broker isolation on mosquitto 2.0 + client certificates', () => {
  let broker: CertificateBrokerUnderTest;
  let hub: HubMqttClient;
  const hubInbox = new Inbox();

  beforeAll(async () => {
    broker = await startMosquittoCertificateUnderTest();
    hub = await broker.connectHub();
    hub.addListener((topic, payload) => hubInbox.push(topic, payload));
    await hub.subscribe([broker.ingestFilter('report')]);
  });
  afterAll(async () => {
    await broker?.stop();
  });

  async function provision(): Promise<CertDevice> {
    const id = `dev-${randomUUID().slice(0, 8)}`;
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const publicKeyBase64 = Buffer.from(publicKey.export({ format: 'jwk' }).x ?? '', 'base64url').toString(
      'base64',
    );
    const issued = await broker.authority.issue(id, publicKeyBase64);
    expect(issued.caCertificate).toBe(broker.caPem);
    return { id, key: privateKey, publicKeyBase64, cert: issued.certificate };
  }

  const tlsOptions = (
    d: CertDevice,
    overrides: { cert?: string; clientId?: string; key?: KeyObject } = {},
  ) => ({
    protocolVersion: 5 as const,
    clientId: overrides.clientId ?? d.id,
    ca: broker.caPem,
    cert: overrides.cert ?? d.cert,
    key: (overrides.key ?? d.key).export({ type: 'pkcs8', format: 'pem' }),
    rejectUnauthorized: true,
  });

  const connectDevice = (
    d: CertDevice,
    overrides: Parameters<typeof tlsOptions>[1] = {},
  ): Promise<DeviceSession> => connectRaw(broker.tlsUrl, tlsOptions(d, overrides));

  test('a device publishes its own report with its certificate and the hub receives it', async () => {
    const a = await provision();
    const s = await connectDevice(a);
    const marker = `own-${randomUUID()}`;
    expect(await publishOutcome(s, deviceTopics(a.id).report, marker)).toEqual({ kind: 'acked' });
    const got = await hubInbox.waitFor((m) => m.payload === marker, 'own report');
    expect(got.topic).toBe(deviceTopics(a.id).report);
    s.client.end(true);
  });

  test("device A cannot publish on device B's topics, nor on its own target or command", async () => {
    const a = await provision();
    const b = await provision();
    const sb = await connectDevice(b);
    expect(await subscribeOutcome(sb, deviceTopics(b.id).target)).toBe(1);
    const sa = await connectDevice(a);
    const forged = `forged-${randomUUID()}`;
    for (const topic of [
      deviceTopics(b.id).report,
      deviceTopics(b.id).target,
      deviceTopics(a.id).target,
      deviceTopics(a.id).command,
    ]) {
      expect(await publishOutcome(sa, topic, forged)).toMatchObject({ kind: 'refused', code: 0x87 });
      // Barrier: once the hub holds A's next own report, a forged message would have arrived.
      const barrier = `barrier-${randomUUID()}`;
      expect(await publishOutcome(sa, deviceTopics(a.id).report, barrier)).toEqual({ kind: 'acked' });
      await hubInbox.waitFor((m) => m.payload === barrier, 'barrier report');
    }
    const last = `last-${randomUUID()}`;
    await hub.publish(deviceTopics(b.id).target, last);
    await sb.inbox.waitFor((m) => m.payload === last, "B's target from the hub");
    expect(hubInbox.messages.filter((m) => m.payload === forged)).toEqual([]);
    expect(sb.inbox.messages.filter((m) => m.payload === forged)).toEqual([]);
    sa.client.end(true);
    sb.client.end(true);
  });

  test("device A never receives B's target or command, retained or live, whatever it subscribes", async () => {
    const a = await provision();
    const b = await provision();
    const secret = `for-b-${randomUUID()}`;
    await hub.publish(deviceTopics(b.id).target, secret, { retain: true });
    const sa = await connectDevice(a);
    // Mosquitto 2.0.11's acl_file grants every SUBSCRIBE (its source: "FIXME - implement ACL
    // subscription strings") and checks `read` rules on delivery: the SUBACK says granted,
    // nothing is delivered. What must hold is the delivery, asserted below.
    for (const filter of [
      deviceTopics(b.id).target,
      deviceTopics(b.id).command,
      allDevicesFilter('target'),
      allDevicesFilter('report'),
      '#',
    ]) {
      expect(await subscribeOutcome(sa, filter)).not.toBe('closed');
    }
    expect(await subscribeOutcome(sa, deviceTopics(a.id).command)).toBe(1);
    const mine = `for-a-${randomUUID()}`;
    await hub.publish(deviceTopics(b.id).command, secret);
    await hub.publish(deviceTopics(b.id).target, secret);
    const sb = await connectDevice(b);
    expect(await publishOutcome(sb, deviceTopics(b.id).report, secret)).toEqual({ kind: 'acked' });
    await hubInbox.waitFor((m) => m.payload === secret, "B's report at the hub");
    await hub.publish(deviceTopics(a.id).command, mine);
    await sa.inbox.waitFor((m) => m.payload === mine, "A's own command");
    // Overlapping grants (`#` and its own command) may deliver A's command twice; nothing else.
    expect(new Set(sa.inbox.messages.map((m) => m.payload))).toEqual(new Set([mine]));
    expect(sa.client.connected).toBe(true);
    sa.client.end(true);
    sb.client.end(true);
    await hub.clearRetained(deviceTopics(b.id).target);
  });

  test('no certificate, a certificate from another CA, or a key that does not match are refused', async () => {
    const a = await provision();
    expect(
      await connectOutcome(broker.tlsUrl, {
        protocolVersion: 5,
        clientId: a.id,
        ca: broker.caPem,
        rejectUnauthorized: true,
      }),
    ).not.toBe('connected');
    const other = CertificateAuthority.create().ca;
    const foreign = other.issueClientCertificate({
      commonName: a.id,
      publicKey: generateKeyPairSync('ed25519').publicKey,
      days: 1,
    });
    const foreignKey = generateKeyPairSync('ed25519').privateKey;
    expect(
      await connectOutcome(broker.tlsUrl, tlsOptions(a, { cert: foreign.pem, key: foreignKey })),
    ).not.toBe('connected');
    expect(
      await connectOutcome(broker.tlsUrl, tlsOptions(a, { key: generateKeyPairSync('ed25519').privateKey })),
    ).not.toBe('connected');
    // Password credentials do not open the certificate listener.
    expect(
      await connectOutcome(broker.tlsUrl, {
        protocolVersion: 5,
        clientId: a.id,
        username: a.id,
        password: 'x',
        ca: broker.caPem,
      }),
    ).not.toBe('connected');
    expect(await connectOutcome(broker.tlsUrl, tlsOptions(a))).toBe('connected');
  });

  test("device B presenting A's client id gets its own (use_username_as_clientid): A's session survives", async () => {
    const a = await provision();
    const b = await provision();
    const sa = await connectDevice(a);
    const sb = await connectDevice(b, { clientId: a.id });
    const marker = `still-a-${randomUUID()}`;
    expect(await publishOutcome(sa, deviceTopics(a.id).report, marker)).toEqual({ kind: 'acked' });
    await hubInbox.waitFor((m) => m.payload === marker, "A's report after B connected");
    expect(sa.client.connected).toBe(true);
    // B is still confined to its own topics under A's client id.
    expect(await publishOutcome(sb, deviceTopics(a.id).report, 'spoof')).toMatchObject({
      kind: 'refused',
      code: 0x87,
    });
    sa.client.end(true);
    sb.client.end(true);
  });

  test('a revoked device is disconnected at once and cannot reconnect (CRL reloaded on SIGHUP)', async () => {
    const a = await provision();
    const b = await provision();
    const s = await connectDevice(a);
    await broker.authority.revokeDevice(a.id);
    const closed = await s.closed;
    expect(closed.disconnectReason).toBe(0x98);
    expect(await connectOutcome(broker.tlsUrl, tlsOptions(a))).not.toBe('connected');
    expect(await connectOutcome(broker.tlsUrl, tlsOptions(b))).toBe('connected');
    expect(await broker.certificates.activeSerials(a.id)).toEqual([]);
    await broker.authority.revokeDevice(a.id); // idempotent
    // A second revocation publishes a newer CRL: both stay refused, B still admitted.
    const c = await provision();
    await broker.authority.revokeDevice(c.id);
    expect(await connectOutcome(broker.tlsUrl, tlsOptions(c))).not.toBe('connected');
    expect(await connectOutcome(broker.tlsUrl, tlsOptions(a))).not.toBe('connected');
    expect(await connectOutcome(broker.tlsUrl, tlsOptions(b))).toBe('connected');
  });

  test('a rotated certificate works; the old one is revoked, its session cut and refused', async () => {
    const a = await provision();
    const s = await connectDevice(a);
    const rotated = await broker.authority.issue(a.id, a.publicKeyBase64);
    expect(rotated.certificate).not.toBe(a.cert);
    expect((await s.closed).disconnectReason).toBe(0x98);
    expect(await connectOutcome(broker.tlsUrl, tlsOptions(a))).not.toBe('connected');
    const fresh = await connectDevice(a, { cert: rotated.certificate });
    const marker = `rotated-${randomUUID()}`;
    expect(await publishOutcome(fresh, deviceTopics(a.id).report, marker)).toEqual({ kind: 'acked' });
    await hubInbox.waitFor((m) => m.payload === marker, 'report after rotation');
    expect(await broker.certificates.activeSerials(a.id)).toEqual([rotated.serial]);
    fresh.client.end(true);
  });
});
