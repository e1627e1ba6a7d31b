// A real hub for the qemu end-to-end tests: hub/src/main.ts in its own process, a fresh database
// on the machine's Postgres (127.0.0.1:5432), the embedded MQTT broker on a fixed free port.
// The guest reaches the host's loopback as 10.0.2.2 (qemu user-mode networking), so the URLs
// handed to devices (HUB_PUBLIC_URL, HUB_MQTT_PUBLIC_URL) name 10.0.2.2 while the test talks
// to 127.0.0.1.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const HUB_DIR = fileURLToPath(new URL('../../../hub/', import.meta.url));
const ADMIN_URL = process.env.FLEET_TEST_PG_ADMIN_URL ?? 'postgresql://root@127.0.0.1:5432/postgres';
const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = 'qemu-e2e-password';
export const GUEST_HOST = '10.0.2.2';

const execFileAsync = promisify(execFile);
async function sql(statement: string): Promise<void> {
  await execFileAsync('psql', [ADMIN_URL, '-v', 'ON_ERROR_STOP=1', '-q', '-c', statement]);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

export interface QemuHub {
  /** How the test reaches the hub. */
  url: string;
  /** How the guest reaches the hub. */
  guestUrl: string;
  token: string;
  api<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** PUT an object file (streamed) under its sha256. */
  putObject(path: string, hex: string): Promise<number>;
  output(): string;
  stop(): Promise<void>;
}

export async function startQemuHub(): Promise<QemuHub> {
  const dbName = `qemu_e2e_${randomBytes(5).toString('hex')}`;
  await sql(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(ADMIN_URL);
  dbUrl.pathname = `/${dbName}`;
  const dir = await mkdtemp(join(tmpdir(), 'fleet-qemu-hub-'));
  const port = await freePort();
  const mqttPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const guestUrl = `http://${GUEST_HOST}:${port}`;
  const { MQTT_URL: _mqtt, DATABASE_URL: _db, ...rest } = process.env;
  const env = {
    ...rest,
    DATABASE_URL: dbUrl.toString(),
    HUB_DATA_DIR: join(dir, 'data'),
    HUB_PORT: String(port),
    HUB_HOST: '127.0.0.1',
    HUB_PUBLIC_URL: guestUrl,
    HUB_MQTT_PUBLIC_URL: `mqtt://${GUEST_HOST}:${mqttPort}`,
    MQTT_EMBEDDED_HOST: '127.0.0.1',
    MQTT_EMBEDDED_PORT: String(mqttPort),
    HUB_ADMIN_EMAIL: ADMIN_EMAIL,
    HUB_ADMIN_PASSWORD: ADMIN_PASSWORD,
    HUB_LOG_LEVEL: 'warn',
  };
  let output = '';
  const child: ChildProcess = spawn(
    process.execPath,
    ['--conditions=fleet-source', '--import', 'tsx', 'src/main.ts'],
    {
      cwd: HUB_DIR,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  async function stop(): Promise<void> {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    await sql(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await rm(dir, { recursive: true, force: true });
  }

  let token = '';
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`hub exited with ${child.exitCode}:\n${output}`);
      if (
        await fetch(`${url}/readyz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (i > 240) throw new Error(`hub did not become ready:\n${output}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const login = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: ADMIN_EMAIL, password: ADMIN_PASSWORD }),
    });
    if (login.status !== 200) throw new Error(`login failed: ${login.status} ${await login.text()}`);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const t = await fetch(`${url}/api/v1/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ name: 'qemu-e2e' }),
    });
    if (t.status !== 201) throw new Error(`token failed: ${t.status} ${await t.text()}`);
    token = ((await t.json()) as { token: string }).token;
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    url,
    guestUrl,
    token,
    async api<T>(method: string, path: string, body?: unknown): Promise<T> {
      const r = await fetch(`${url}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
      return (text ? JSON.parse(text) : undefined) as T;
    },
    async putObject(path: string, hex: string): Promise<number> {
      const { size } = await stat(path);
      const r = await fetch(`${url}/api/v1/objects/sha256/${hex}`, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/octet-stream',
          'content-length': String(size),
        },
        body: createReadStream(path) as unknown as ReadableStream,
        duplex: 'half',
      } as RequestInit);
      if (r.status !== 201 && r.status !== 200)
        throw new Error(`PUT object ${hex}: ${r.status} ${await r.text()}`);
      return r.status;
    },
    output: () => output,
    stop,
  };
}
