import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { connect } from './helpers/mqtt-client.js';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentConfig,
  deviceTopics,
  parseProvisionRequest,
  type ProvisionRequest,
  type ProvisionResponse,
} from '@fleet/protocol';
import { AgentLink } from '../../src/link/agent-link.js';
import { aReport, Observer, recordingLogger, waitFor } from './helpers/link-fixtures.js';
import { freePort, TestMosquitto } from './helpers/link-mosquitto.js';
import { makeTestPki } from './helpers/link-pki.js';

// Certificate identity (hub HUB_DEVICE_IDENTITY=certificate): the hub answers provisioning with a
// client certificate for the device's own ed25519 key and its CA; the agent connects to the
// broker's certificate listener (require_certificate, use_identity_as_username) with it.
let pki: Awaited<ReturnType<typeof makeTestPki>>;
let broker: TestMosquitto;
let tlsPort: number;

beforeAll(async () => {
  pki = await makeTestPki();
  tlsPort = await freePort();
  broker = await TestMosquitto.create({
    listenerLines: [
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${pki.ca}`,
      `certfile ${pki.cert}`,
      `keyfile ${pki.key}`,
      'require_certificate true',
      'use_identity_as_username true',
      'use_username_as_clientid true',
    ],
  });
});
afterAll(async () => {
  await broker?.destroy();
  await rm(pki.dir, { recursive: true, force: true });
});

/** TEST DOUBLE of the hub's certificate issuance, with the openssl CLI standing in for the hub CA. */
function issueWithOpenssl(req: ProvisionRequest, commonName: string): string {
  const spki = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(req.publicKey, 'base64').toString('base64url') },
    format: 'jwk',
  });
  const pubFile = join(pki.dir, `${commonName}.pub`);
  writeFileSync(pubFile, spki.export({ type: 'spki', format: 'pem' }));
  return execFileSync(
    'openssl',
    [
      'x509',
      '-new',
      '-force_pubkey',
      pubFile,
      '-subj',
      `/CN=${commonName}`,
      '-CA',
      pki.ca,
      '-CAkey',
      join(pki.dir, 'ca.key'),
      '-days',
      '1',
    ],
    { cwd: pki.dir },
  ).toString();
}

describe('the link with a client certificate', () => {
  it('provisions, stores the certificate 0600, connects over TLS with its own key and publishes', async () => {
    const deviceId = `cert-${process.pid}`;
    const requests: ProvisionRequest[] = [];
    const hub = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const r = parseProvisionRequest(JSON.parse(Buffer.concat(chunks).toString()));
        if (!r.ok) return void res.writeHead(400).end(JSON.stringify({ message: r.error.message }));
        requests.push(r.value);
        void readFile(pki.ca, 'utf8').then((ca) => {
          const body: ProvisionResponse = {
            deviceId,
            fleetId: 'fleet-1',
            mqtt: {
              url: `mqtts://127.0.0.1:${tlsPort}`,
              username: `device:${deviceId}`,
              password: 'http-only',
              clientId: deviceId,
              protocolVersion: 5,
              certificate: issueWithOpenssl(r.value, deviceId),
              caCertificate: ca,
            },
            objectBaseUrl: 'http://127.0.0.1:1/api/v1/objects',
          };
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        });
      });
    });
    await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
    const storageDir = join(pki.dir, 'storage');
    const config = AgentConfig.parse({
      hubUrl: `http://127.0.0.1:${(hub.address() as AddressInfo).port}`,
      claimToken: 'claim-token-0123456789',
      board: 'qemu-aarch64',
      storageDir,
      // No tls.caFile: the broker is trusted through the CA the hub handed out.
      intervals: { telemetryMs: 60_000, logFlushMs: 100 },
    });
    const t = deviceTopics(deviceId);
    const obs = await Observer.connect(broker.url, `obs-${deviceId}`, [t.report, t.presence]);
    const link = await AgentLink.start({
      config,
      agentVersion: '0.1.0',
      hardwareId: async () => 'hw-cert-test',
      logger: recordingLogger(),
      handlers: { onTarget: () => {}, onCommand: async () => ({ ok: true }) },
    });
    try {
      expect(requests).toHaveLength(1);
      const identityDir = join(storageDir, 'identity');
      for (const f of ['credentials.json', 'device.key'])
        expect((await stat(join(identityDir, f))).mode & 0o777).toBe(0o600);
      const stored = JSON.parse(
        await readFile(join(identityDir, 'credentials.json'), 'utf8'),
      ) as ProvisionResponse;
      expect(stored.mqtt.certificate).toMatch(/^-----BEGIN CERTIFICATE-----/);
      // The private key stayed on the device: the request carried only the public half.
      const key = await readFile(join(identityDir, 'device.key'), 'utf8');
      expect(JSON.stringify(requests)).not.toContain(key.split('\n')[1]);
      await waitFor('connected over TLS with the certificate', () => link.session.connected);
      await link.session.publish('report', aReport(42));
      await waitFor('report via the certificate listener', () => obs.decoded(t.report, 'report').length > 0);
      expect(obs.decoded(t.report, 'report')[0]?.body.configVersion).toBe(42);
    } finally {
      await link.stop();
      hub.close();
      await obs.close();
    }
  });

  it('without the certificate the certificate listener refuses the same device', async () => {
    const ca = await readFile(pki.ca, 'utf8');
    const refused = await new Promise<boolean>((resolve) => {
      const c = connect(`mqtts://127.0.0.1:${tlsPort}`, {
        ca,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        protocolVersion: 5,
      });
      c.once('connect', () => {
        c.end(true);
        resolve(false);
      });
      c.once('error', () => {
        c.end(true);
        resolve(true);
      });
      c.once('close', () => resolve(true));
    });
    expect(refused).toBe(true);
  });
});
