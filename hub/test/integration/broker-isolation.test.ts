import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { allDevicesFilter, deviceTopics } from '@fleet/protocol';
import { brokerUsernameFor } from '../../src/devices/broker-authority.js';
import type { HubMqttClient } from '../../src/mqtt/hub-mqtt-client.js';
import {
  hubReportInbox,
  startAedesUnderTest,
  startMosquittoUnderTest,
  type BrokerUnderTest,
} from './helpers/mosquitto-brokers.js';
import {
  connectOutcome,
  connectRaw,
  Inbox,
  publishOutcome,
  subscribeOutcome,
  type DeviceSession,
} from './helpers/mosquitto-clients.js';

// One suite, two brokers: the production Mosquitto (dynamic security) and the embedded aedes.
// Where the brokers differ in how they say "no", each case states both; what must hold on both
// is the observation: the message never reaches anyone it was not meant for.

const brokers = [
  { name: 'mosquitto 2.0 + dynamic security', start: startMosquittoUnderTest },
  { name: 'embedded aedes', start: startAedesUnderTest },
];

const password = () => randomBytes(18).toString('base64url');
const newDeviceId = () => `dev-${randomUUID().slice(0, 8)}`;

describe.each(brokers)('broker isolation on $name', ({ start }) => {
  let broker: BrokerUnderTest;
  let hub: HubMqttClient;
  let hubInbox: Inbox;

  beforeAll(async () => {
    broker = await start();
    ({ hub, inbox: hubInbox } = await hubReportInbox(broker));
  });
  afterAll(async () => {
    await broker?.stop();
  });

  async function provision(): Promise<{ id: string; password: string }> {
    const id = newDeviceId();
    const pw = password();
    await broker.authority.upsertDevice(id, brokerUsernameFor(id), pw);
    return { id, password: pw };
  }

  function connectDevice(
    device: { id: string; password: string },
    overrides: { clientId?: string; password?: string } = {},
  ): Promise<DeviceSession> {
    return connectRaw(broker.url, {
      protocolVersion: broker.protocolVersion,
      username: brokerUsernameFor(device.id),
      password: overrides.password ?? device.password,
      clientId: overrides.clientId ?? device.id,
    });
  }

  /** The broker's answer to a publish it must refuse, as each broker gives it. */
  function expectPublishDenied(outcome: Awaited<ReturnType<typeof publishOutcome>>): void {
    if (broker.kind === 'mosquitto') expect(outcome).toMatchObject({ kind: 'refused', code: 0x87 });
    else expect(outcome).toEqual({ kind: 'closed' }); // aedes 1.x (MQTT 3.1.1) closes the connection
  }

  test('a device publishes its own report and the hub receives it', async () => {
    const a = await provision();
    const s = await connectDevice(a);
    const marker = `own-${randomUUID()}`;
    expect(await publishOutcome(s, deviceTopics(a.id).report, marker)).toEqual({ kind: 'acked' });
    const got = await hubInbox.waitFor((m) => m.payload === marker, 'own report');
    expect(got.topic).toBe(deviceTopics(a.id).report);
    s.client.end(true);
  });

  test("device A cannot publish on device B's topics, nor on its own target", async () => {
    const a = await provision();
    const b = await provision();
    const sb = await connectDevice(b);
    expect(await subscribeOutcome(sb, deviceTopics(b.id).target)).toBe(1);

    const forged = `forged-${randomUUID()}`;
    for (const topic of [
      deviceTopics(b.id).report,
      deviceTopics(b.id).target,
      deviceTopics(a.id).target,
      deviceTopics(a.id).command,
    ]) {
      const sa = await connectDevice(a);
      expectPublishDenied(await publishOutcome(sa, topic, forged));
      // Barrier: A publishes its own report after the refused one; once the hub holds it, the
      // forged message would already have been delivered had the broker let it through.
      const barrier = `barrier-${randomUUID()}`;
      const again = broker.kind === 'aedes' ? await connectDevice(a) : sa;
      expect(await publishOutcome(again, deviceTopics(a.id).report, barrier)).toEqual({ kind: 'acked' });
      await hubInbox.waitFor((m) => m.payload === barrier, 'barrier report');
      again.client.end(true);
      sa.client.end(true);
    }
    // B publishes its own report as a last barrier for its own subscription.
    const last = `last-${randomUUID()}`;
    await broker.authority.upsertDevice(b.id, brokerUsernameFor(b.id), b.password); // rotation to same secret kicks B ...
    const sb2 = await connectDevice(b); // ... so B comes back as a real device would
    expect(await subscribeOutcome(sb2, deviceTopics(b.id).target)).toBe(1);
    await hub.publish(deviceTopics(b.id).target, last);
    await sb2.inbox.waitFor((m) => m.payload === last, "B's target from the hub");
    expect(hubInbox.messages.filter((m) => m.payload === forged)).toEqual([]);
    expect(sb.inbox.messages.filter((m) => m.payload === forged)).toEqual([]);
    expect(sb2.inbox.messages.filter((m) => m.payload === forged)).toEqual([]);
    sb.client.end(true);
    sb2.client.end(true);
  });

  test("device A cannot subscribe to device B's target or command, or to any wildcard", async () => {
    const a = await provision();
    const b = await provision();
    const sa = await connectDevice(a);
    for (const filter of [
      deviceTopics(b.id).target,
      deviceTopics(b.id).command,
      allDevicesFilter('target'),
      allDevicesFilter('report'),
      '#',
    ]) {
      const code = await subscribeOutcome(sa, filter);
      // Mosquitto on MQTT 5: 0x87 Not authorized. aedes on 3.1.1: 0x80 Failure.
      expect(code).toBe(broker.kind === 'mosquitto' ? 0x87 : 0x80);
    }
    expect(await subscribeOutcome(sa, deviceTopics(a.id).target)).toBe(1);
    expect(await subscribeOutcome(sa, deviceTopics(a.id).command)).toBe(1);
    const secret = `for-b-${randomUUID()}`;
    const mine = `for-a-${randomUUID()}`;
    await hub.publish(deviceTopics(b.id).command, secret);
    await hub.publish(deviceTopics(b.id).target, secret, { retain: true });
    await hub.publish(deviceTopics(a.id).command, mine);
    await sa.inbox.waitFor((m) => m.payload === mine, "A's own command");
    expect(sa.inbox.messages.map((m) => m.payload)).toEqual([mine]);
    expect(sa.client.connected).toBe(true);
    sa.client.end(true);
    await hub.clearRetained(deviceTopics(b.id).target);
  });

  test("a device cannot connect with a wrong password, an unknown username, or another device's client id", async () => {
    const a = await provision();
    const b = await provision();
    const refused = broker.kind === 'mosquitto' ? [0x86, 0x87] : [4, 5];
    const opts = { protocolVersion: broker.protocolVersion, clientId: a.id };
    expect(refused).toContain(
      await connectOutcome(broker.url, { ...opts, username: brokerUsernameFor(a.id), password: 'wrong' }),
    );
    expect(refused).toContain(
      await connectOutcome(broker.url, {
        ...opts,
        username: brokerUsernameFor('nobody'),
        password: a.password,
      }),
    );
    expect(refused).toContain(
      await connectOutcome(broker.url, {
        ...opts,
        username: brokerUsernameFor(a.id),
        password: a.password,
        clientId: b.id,
      }),
    );
    expect(refused).toContain(
      await connectOutcome(broker.url, { ...opts, username: brokerUsernameFor(a.id) }),
    );
    expect(
      await connectOutcome(broker.url, { ...opts, username: brokerUsernameFor(a.id), password: a.password }),
    ).toBe('connected');
  });

  test('a revoked device is disconnected at once and cannot reconnect', async () => {
    const a = await provision();
    const s = await connectDevice(a);
    await broker.authority.revokeDevice(a.id);
    const closed = await s.closed;
    if (broker.kind === 'mosquitto') expect(closed.disconnectReason).toBe(0x98); // Administrative action
    expect(s.client.connected).toBe(false);
    const outcome = await connectOutcome(broker.url, {
      protocolVersion: broker.protocolVersion,
      username: brokerUsernameFor(a.id),
      password: a.password,
      clientId: a.id,
    });
    expect(outcome).not.toBe('connected');
    // Revoking again is a no-op, not an error.
    await broker.authority.revokeDevice(a.id);
  });

  test('a rotated password works, the old one fails, and the old session is dropped', async () => {
    const a = await provision();
    const s = await connectDevice(a);
    const rotated = password();
    await broker.authority.upsertDevice(a.id, brokerUsernameFor(a.id), rotated);
    await s.closed;
    const opts = {
      protocolVersion: broker.protocolVersion,
      username: brokerUsernameFor(a.id),
      clientId: a.id,
    };
    expect(await connectOutcome(broker.url, { ...opts, password: a.password })).not.toBe('connected');
    const fresh = await connectDevice(a, { password: rotated });
    const marker = `rotated-${randomUUID()}`;
    expect(await publishOutcome(fresh, deviceTopics(a.id).report, marker)).toEqual({ kind: 'acked' });
    await hubInbox.waitFor((m) => m.payload === marker, 'report after rotation');
    fresh.client.end(true);
  });

  test('a re-provisioned device (revoked, then upserted) is admitted again with its new secret', async () => {
    const a = await provision();
    await broker.authority.revokeDevice(a.id);
    const again = password();
    await broker.authority.upsertDevice(a.id, brokerUsernameFor(a.id), again);
    const s = await connectDevice(a, { password: again });
    expect(await publishOutcome(s, deviceTopics(a.id).report, 'back')).toEqual({ kind: 'acked' });
    s.client.end(true);
  });

  test('the hub reads every device through its ingest subscription (shared between replicas on Mosquitto)', async () => {
    const devices = [await provision(), await provision()];
    const second = await broker.connectHub();
    const secondInbox = new Inbox();
    second.addListener((topic, payload) => secondInbox.push(topic, payload));
    // On aedes a second replica would receive everything twice (no $share): only one hub runs there.
    if (broker.kind === 'mosquitto') await second.subscribe([broker.ingestFilter('report')]);
    const sent: string[] = [];
    for (const d of devices) {
      const s = await connectDevice(d);
      for (let i = 0; i < 10; i++) {
        const payload = `share-${d.id}-${i}`;
        sent.push(payload);
        expect(await publishOutcome(s, deviceTopics(d.id).report, payload)).toEqual({ kind: 'acked' });
      }
      s.client.end(true);
    }
    const isSent = (p: string) => sent.includes(p);
    const total = () =>
      hubInbox.messages.filter((m) => isSent(m.payload)).length +
      secondInbox.messages.filter((m) => isSent(m.payload)).length;
    await new Promise<void>((resolve, reject) => {
      const check = () => (total() >= sent.length ? resolve() : undefined);
      const timer = setTimeout(() => reject(new Error(`only ${total()} of ${sent.length} arrived`)), 10_000);
      const tick = () => {
        if (total() >= sent.length) {
          clearTimeout(timer);
          resolve();
        } else setTimeout(tick, 20);
      };
      check();
      tick();
    });
    const first = hubInbox.messages.filter((m) => isSent(m.payload)).map((m) => m.payload);
    const other = secondInbox.messages.filter((m) => isSent(m.payload)).map((m) => m.payload);
    expect([...first, ...other].sort()).toEqual([...sent].sort()); // every message exactly once
    if (broker.kind === 'mosquitto') {
      expect(first.length).toBeGreaterThan(0); // round-robin: both replicas took a share
      expect(other.length).toBeGreaterThan(0);
    } else {
      expect(other).toEqual([]);
    }
    await second.close();
  });
});
