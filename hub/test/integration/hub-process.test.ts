// The hub as a user starts it: `src/main.ts` in its own process with no DATABASE_URL and no
// MQTT_URL, so it runs the embedded Postgres (real binaries from npm) and the embedded broker.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeMessage, topics } from '@fleet/protocol';
import mqtt from './helpers/mqtt-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HUB = fileURLToPath(new URL('../../', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

let dir: string;
let env: NodeJS.ProcessEnv;
let base: string;
let pgPort: number;
let hub: ChildProcess | null = null;
let output = '';

async function startHub(): Promise<void> {
  output = '';
  hub = spawn(process.execPath, ['--conditions=fleet-source', '--import', 'tsx', 'src/main.ts'], {
    cwd: HUB,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  hub.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  hub.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  for (let i = 0; i < 240; i++) {
    if (hub.exitCode !== null) throw new Error(`hub exited with ${hub.exitCode}:\n${output}`);
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`hub did not become ready:\n${output}`);
}

async function stopHub(signal: NodeJS.Signals): Promise<number | null> {
  const h = hub!;
  const exited = new Promise<number | null>((resolve) => h.once('exit', (code) => resolve(code)));
  h.kill(signal);
  hub = null;
  return exited;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-hub-process-'));
  // As root, Postgres runs as a system user that must be able to reach the data folder.
  await chmod(dir, 0o755);
  const port = await freePort();
  pgPort = await freePort();
  base = `http://127.0.0.1:${port}`;
  const { DATABASE_URL: _db, MQTT_URL: _mq, ...rest } = process.env;
  env = {
    ...rest,
    HUB_DATA_DIR: join(dir, 'data'),
    HUB_PORT: String(port),
    HUB_HOST: '127.0.0.1',
    HUB_PUBLIC_URL: base,
    HUB_EMBEDDED_PG_PORT: String(pgPort),
    MQTT_EMBEDDED_HOST: '127.0.0.1',
    MQTT_EMBEDDED_PORT: '0',
    HUB_ADMIN_EMAIL: 'root@example.com',
    HUB_ADMIN_PASSWORD: 'a-good-password',
    HUB_LOG_LEVEL: 'log',
  };
});
afterAll(async () => {
  if (hub) await stopHub('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('hub process with embedded defaults', () => {
  it('starts on embedded Postgres and broker, provisions a device whose report arrives over MQTT, and stops cleanly on SIGTERM', async () => {
    await startHub();
    expect(await portOpen(pgPort)).toBe(true);
    const login = await fetch(`${base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'root@example.com', password: 'a-good-password' }),
    });
    expect(login.status).toBe(200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const h = { cookie, 'content-type': 'application/json' };
    const fleet = (await (
      await fetch(`${base}/api/v1/fleets`, {
        method: 'POST',
        headers: h,
        body: JSON.stringify({ name: 'home' }),
      })
    ).json()) as { id: string };
    const claim = (await (
      await fetch(`${base}/api/v1/fleets/${fleet.id}/claim-tokens`, {
        method: 'POST',
        headers: h,
        body: JSON.stringify({ name: 'c' }),
      })
    ).json()) as { token: string };
    const der = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
    const prov = (await (
      await fetch(`${base}/api/v1/provision`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          claimToken: claim.token,
          hardwareId: 'board-1',
          publicKey: der.subarray(der.length - 32).toString('base64'),
          board: 'qemu-aarch64',
          agentVersion: '0.1.0',
        }),
      })
    ).json()) as {
      deviceId: string;
      mqtt: { url: string; username: string; password: string; clientId: string };
    };
    expect(prov.mqtt.url).toMatch(/^mqtt:\/\/127\.0\.0\.1:[1-9]\d*$/);

    const device = mqtt.connect(prov.mqtt.url, {
      username: prov.mqtt.username,
      password: prov.mqtt.password,
      clientId: prov.mqtt.clientId,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await new Promise((r, j) => (device.once('connect', r), device.once('error', j)));
    const report = encodeMessage('report', {
      revision: { digest: `sha256:${'d'.repeat(64)}`, version: '2.0.0', sequence: 2 },
      updateState: 'idle',
      board: 'qemu-aarch64',
      agentVersion: '0.1.0',
      containers: [{ name: 'web', state: 'running', restarts: 0 }],
      inventory: { objects: [], freeBytes: 1, totalBytes: 2 },
    });
    if (!report.ok) throw report.error;
    await device.publishAsync(topics.device(prov.deviceId).report, report.value.payload, { qos: 1 });
    type Seen = { currentRelease: string | null; online: boolean; containers: unknown[] };
    let seen: Seen | null = null;
    for (let i = 0; i < 100 && (seen as Seen | null)?.currentRelease !== '2.0.0'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      seen = (await (await fetch(`${base}/api/v1/devices/${prov.deviceId}`, { headers: h })).json()) as Seen;
    }
    expect(seen).toMatchObject({
      currentRelease: '2.0.0',
      online: true,
      containers: [{ name: 'web', state: 'running' }],
    });
    device.end(true);

    expect(await stopHub('SIGTERM')).toBe(0);
    expect(output).toContain('SIGTERM: shutting down');
    expect(await portOpen(pgPort)).toBe(false);

    // Data persists across restarts; migrations are not applied twice; the admin is not re-created.
    await startHub();
    const again = (await (await fetch(`${base}/api/v1/devices?q=board-1`, { headers: h })).json()) as {
      items: Array<{ id: string }>;
    };
    expect(again.items.map((d) => d.id)).toEqual([prov.deviceId]);
    expect(output).not.toContain('applied migration');
    expect(output).not.toContain('first admin created');
    expect(await stopHub('SIGINT')).toBe(0);
  });
});
