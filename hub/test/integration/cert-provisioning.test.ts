import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceTopics, parseProvisionResponse, type ProvisionResponse } from '@fleet/protocol';
import { createApp } from '../../src/app.js';
import { AuthService } from '../../src/auth/auth.service.js';
import { BrokerDeviceUrlModule } from '../../src/broker-device-url.module.js';
import { HubConfig } from '../../src/config/hub-config.js';
import { runMigrations } from '../../src/database/migration-runner.js';
import { certificateAclFile, certificateListenerConfig } from '../../src/mqtt/certificate-acl.js';
import { MqttModule } from '../../src/mqtt/mqtt.module.js';
import { DeviceCertificates } from '../../src/pki/device-certificates.js';
import { startMosquitto, type MosquittoInstance } from './helpers/mosquitto.js';
import { connectOutcome, connectRaw, publishOutcome } from './helpers/mosquitto-clients.js';
import { createTestDatabase, type TestDatabase } from './support/hub-harness.js';

// HUB_DEVICE_IDENTITY=certificate end to end: the real hub (Nest, Postgres, its MQTT module on a
// real Mosquitto) issues a device certificate at provisioning, re-provisioning rotates it, and
// decommission through the API revokes it at the broker.

let db: TestDatabase;
let app: NestFastifyApplication;
let broker: MosquittoInstance;
let work: string;
let admin: Record<string, string>;
let fleetId: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fleet-cert-prov-'));
  const pkiDir = join(work, 'pki');
  const silent = { log: () => undefined, warn: () => undefined };
  // The broker needs the hub CA in its config: the hub's PKI is created first (as on a real first
  // start), the broker started from it, then the hub (which reuses the CA it finds).
  broker = await startMosquitto({
    tls: async (dir, port) => {
      const certs = await DeviceCertificates.open(
        { dir: pkiDir, crlFile: join(dir, 'crl.pem'), certDays: 1 },
        silent,
      );
      const server = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await writeFile(join(dir, 'ca.crt'), certs.caCertificatePem);
      await writeFile(
        join(dir, 'server.crt'),
        certs.ca.issueServerCertificate({ hosts: ['127.0.0.1'], publicKey: server.publicKey, days: 1 }).pem,
      );
      await writeFile(join(dir, 'server.key'), server.privateKey.export({ type: 'pkcs8', format: 'pem' }), {
        mode: 0o600,
      });
      await writeFile(join(dir, 'fleet.acl'), certificateAclFile());
      return {
        lines: [
          `acl_file ${join(dir, 'fleet.acl')}`,
          certificateListenerConfig({
            port,
            host: '127.0.0.1',
            caFile: join(dir, 'ca.crt'),
            certFile: join(dir, 'server.crt'),
            keyFile: join(dir, 'server.key'),
            crlFile: join(dir, 'crl.pem'),
          }),
        ].join('\n'),
        files: ['ca.crt', 'server.crt', 'server.key', 'fleet.acl', 'crl.pem'].map((f) => join(dir, f)),
      };
    },
  });
  if (broker.tlsUrl === undefined) throw new Error('no TLS listener');
  db = await createTestDatabase('hub_cert');
  await runMigrations(db.url);
  const config = HubConfig.parse({
    databaseUrl: db.url,
    port: 0,
    publicUrl: 'http://127.0.0.1:8080',
    dataDir: work,
    adminEmail: 'admin@example.com',
    adminPassword: 'admin-password-1',
    logLevel: 'error',
    mqttUrl: broker.url,
  });
  app = await createApp(config, {
    broker: MqttModule.forRoot({
      mode: 'mosquitto',
      url: broker.url,
      adminUsername: broker.admin.username,
      adminPassword: broker.admin.password,
      hubUsername: 'fleet-hub',
      hubPassword: randomBytes(12).toString('hex'),
      certificate: {
        deviceUrl: broker.tlsUrl,
        pkiDir,
        crlFile: join(broker.dir, 'crl.pem'),
        brokerPidFile: broker.pidFile,
        certDays: 30,
      },
    }),
    extraModules: [BrokerDeviceUrlModule],
    logger: false,
  });
  await app.get(AuthService).bootstrapAdmin(() => undefined);
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
      payload: { name: 'test' },
    })
  ).json() as { token: string };
  admin = { authorization: `Bearer ${token.token}` };
  fleetId = (
    (
      await app.inject({ method: 'POST', url: '/api/v1/fleets', headers: admin, payload: { name: 'certs' } })
    ).json() as { id: string }
  ).id;
}, 60_000);

afterAll(async () => {
  await app?.close();
  await broker?.stop();
  await db?.drop();
  await rm(work, { recursive: true, force: true });
});

async function provision(claimToken: string, hardwareId: string, key: KeyObject): Promise<ProvisionResponse> {
  const publicKey = Buffer.from(key.export({ format: 'jwk' }).x ?? '', 'base64url').toString('base64');
  const r = await app.inject({
    method: 'POST',
    url: '/api/v1/provision',
    payload: { claimToken, hardwareId, publicKey, board: 'qemu-aarch64', agentVersion: '0.1.0' },
  });
  expect(r.statusCode).toBe(200);
  const parsed = parseProvisionResponse(r.json());
  if (!parsed.ok) throw parsed.error;
  return parsed.value;
}

const tls = (p: ProvisionResponse, key: KeyObject, cert = p.mqtt.certificate) => ({
  protocolVersion: 5 as const,
  clientId: p.mqtt.clientId,
  ca: p.mqtt.caCertificate,
  cert,
  key: key.export({ type: 'pkcs8', format: 'pem' }),
  rejectUnauthorized: true,
});

describe('certificate identity through the hub API', () => {
  it('provisioning returns a certificate for the device key; rotation and decommission revoke at the broker', async () => {
    const claim = (
      await app.inject({
        method: 'POST',
        url: `/api/v1/fleets/${fleetId}/claim-tokens`,
        headers: admin,
        payload: { name: 'batch' },
      })
    ).json() as { token: string };
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const first = await provision(claim.token, 'hw-cert-1', publicKey);
    expect(first.mqtt.url).toBe(broker.tlsUrl);
    expect(first.mqtt.protocolVersion).toBe(5);
    expect(first.mqtt.certificate).toMatch(/^-----BEGIN CERTIFICATE-----/);

    const s1 = await connectRaw(first.mqtt.url, tls(first, privateKey));
    expect(await publishOutcome(s1, deviceTopics(first.deviceId).report, 'hello')).toEqual({ kind: 'acked' });
    // Someone else's key with this certificate does not get in.
    expect(
      await connectOutcome(first.mqtt.url, tls(first, generateKeyPairSync('ed25519').privateKey)),
    ).not.toBe('connected');

    // Re-provisioning the same hardware with the same key rotates: new certificate, old revoked.
    const second = await provision(claim.token, 'hw-cert-1', publicKey);
    expect(second.deviceId).toBe(first.deviceId);
    expect(second.mqtt.certificate).not.toBe(first.mqtt.certificate);
    expect((await s1.closed).disconnectReason).toBe(0x98);
    expect(await connectOutcome(first.mqtt.url, tls(first, privateKey))).not.toBe('connected');
    const s2 = await connectRaw(second.mqtt.url, tls(second, privateKey));
    expect(await publishOutcome(s2, deviceTopics(second.deviceId).report, 'rotated')).toEqual({
      kind: 'acked',
    });

    const del = await app.inject({
      method: 'DELETE',
      url: `/api/v1/devices/${first.deviceId}`,
      headers: admin,
    });
    expect(del.statusCode).toBeLessThan(300);
    expect((await s2.closed).disconnectReason).toBe(0x98);
    expect(await connectOutcome(second.mqtt.url, tls(second, privateKey))).not.toBe('connected');
  });
});
