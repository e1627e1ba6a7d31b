// The real hub for hubctl's integration tests: hub/src/main.ts in its own process, on a fresh
// database of the machine's Postgres (127.0.0.1:5432), with its embedded MQTT broker.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const HUB_DIR = fileURLToPath(new URL('../../../../hub/', import.meta.url));
const ADMIN_URL = process.env.FLEET_TEST_PG_ADMIN_URL ?? 'postgresql://root@127.0.0.1:5432/postgres';

export const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = 'hubctl-test-password';

// psql rather than the pg package: vitest's ESM resolution gives CommonJS pg the ESM build of
// pg-pool (see hub/vitest.integration.config.ts), and one statement per run needs no driver.
const execFileAsync = promisify(execFile);
async function sql(statement: string): Promise<void> {
  await execFileAsync('psql', [ADMIN_URL, '-v', 'ON_ERROR_STOP=1', '-q', '-c', statement]);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface RunningHub {
  url: string;
  /** A fresh API token of a user with this role (the admin is created by the hub itself). */
  tokenFor(role: 'admin' | 'operator' | 'viewer'): Promise<string>;
  /** `fleet_hub_http_requests_total` summed by method for routes containing `route`. */
  requestCounts(route: string): Promise<Record<string, number>>;
  output(): string;
  stop(): Promise<void>;
}

export async function startHub(): Promise<RunningHub> {
  const dbName = `hubctl_test_${randomBytes(5).toString('hex')}`;
  await sql(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(ADMIN_URL);
  dbUrl.pathname = `/${dbName}`;
  const dir = await mkdtemp(join(tmpdir(), 'hubctl-hub-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const { MQTT_URL: _mqtt, ...rest } = process.env;
  const env = {
    ...rest,
    DATABASE_URL: dbUrl.toString(),
    HUB_DATA_DIR: join(dir, 'data'),
    HUB_PORT: String(port),
    HUB_HOST: '127.0.0.1',
    HUB_PUBLIC_URL: url,
    MQTT_EMBEDDED_HOST: '127.0.0.1',
    MQTT_EMBEDDED_PORT: '0',
    HUB_ADMIN_EMAIL: ADMIN_EMAIL,
    HUB_ADMIN_PASSWORD: ADMIN_PASSWORD,
    HUB_LOG_LEVEL: 'warn',
  };
  let output = '';
  const child: ChildProcess = spawn(
    process.execPath,
    ['--conditions=fleet-source', '--import', 'tsx', 'src/main.ts'],
    { cwd: HUB_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] },
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
  } catch (e) {
    await stop();
    throw e;
  }

  async function session(email: string, password: string): Promise<string> {
    const r = await fetch(`${url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    if (r.status !== 200) throw new Error(`login as ${email} failed: ${r.status} ${await r.text()}`);
    return (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  }
  async function token(cookie: string): Promise<string> {
    const r = await fetch(`${url}/api/v1/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ name: 'hubctl-test' }),
    });
    if (r.status !== 201) throw new Error(`token failed: ${r.status} ${await r.text()}`);
    return ((await r.json()) as { token: string }).token;
  }
  let users = 0;

  return {
    url,
    async tokenFor(role) {
      const adminCookie = await session(ADMIN_EMAIL, ADMIN_PASSWORD);
      if (role === 'admin') return token(adminCookie);
      const email = `${role}${++users}@example.com`;
      const r = await fetch(`${url}/api/v1/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie: adminCookie },
        body: JSON.stringify({ email, password: 'long-enough-pw', role }),
      });
      if (r.status !== 201) throw new Error(`user create failed: ${r.status} ${await r.text()}`);
      return token(await session(email, 'long-enough-pw'));
    },
    async requestCounts(route) {
      const text = await (await fetch(`${url}/metrics`)).text();
      const counts: Record<string, number> = {};
      for (const line of text.split('\n')) {
        const m = /^fleet_hub_http_requests_total\{([^}]*)\} (\d+)/.exec(line);
        if (!m || !m[1]!.includes(`route="${route}"`)) continue;
        const method = /method="([A-Z]+)"/.exec(m[1]!)?.[1] ?? '?';
        counts[method] = (counts[method] ?? 0) + Number(m[2]);
      }
      return counts;
    },
    output: () => output,
    stop,
  };
}
