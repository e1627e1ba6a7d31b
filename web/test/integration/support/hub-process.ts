// A real hub in its own process, as a user starts it (`hub/src/main.ts`), on a fresh database
// of the machine's Postgres and the embedded MQTT broker.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HUB_DIR = fileURLToPath(new URL('../../../../hub/', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}

function psql(sql: string, database = 'postgres'): void {
  execFileSync(
    'psql',
    ['-h', '127.0.0.1', '-U', 'root', '-d', database, '-v', 'ON_ERROR_STOP=1', '-qc', sql],
    { stdio: 'pipe' },
  );
}

export interface HubProcess {
  url: string;
  adminEmail: string;
  adminPassword: string;
  output: () => string;
  /** Runs SQL on the hub's database (bulk seeding at a scale provisioning cannot reach fast). */
  sql: (statement: string) => void;
  stop: () => Promise<void>;
}

/** `webDir`: a built dashboard for the hub to serve (HUB_WEB_DIR). */
export async function startHub(options: { webDir?: string } = {}): Promise<HubProcess> {
  const db = `fleet_web_e2e_${process.pid}`;
  psql(`DROP DATABASE IF EXISTS ${db}`);
  psql(`CREATE DATABASE ${db}`);
  const dir = await mkdtemp(join(tmpdir(), 'fleet-web-e2e-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const adminEmail = 'admin@example.com';
  const adminPassword = 'e2e-admin-password';
  const { MQTT_URL: _m, ...rest } = process.env;
  const env = {
    ...rest,
    DATABASE_URL: `postgresql://root@127.0.0.1:5432/${db}`,
    HUB_DATA_DIR: join(dir, 'data'),
    HUB_PORT: String(port),
    HUB_HOST: '127.0.0.1',
    HUB_PUBLIC_URL: url,
    MQTT_EMBEDDED_HOST: '127.0.0.1',
    MQTT_EMBEDDED_PORT: '0',
    HUB_ADMIN_EMAIL: adminEmail,
    HUB_ADMIN_PASSWORD: adminPassword,
    HUB_LOG_LEVEL: 'warn',
    ...(options.webDir ? { HUB_WEB_DIR: options.webDir } : {}),
  };
  let output = '';
  const child: ChildProcess = spawn(
    process.execPath,
    ['--conditions=fleet-source', '--import', 'tsx', 'src/main.ts'],
    { cwd: HUB_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
    psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  };
  // Bounded wait for readiness (migrations run at start).
  for (let i = 0; i < 120; i++) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`hub exited with ${child.exitCode}:\n${output}`);
    }
    if (
      await fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { url, adminEmail, adminPassword, output: () => output, sql: (q) => psql(q, db), stop };
    await new Promise((r) => setTimeout(r, 500));
  }
  await stop();
  throw new Error(`hub did not become ready in 60 s:\n${output}`);
}
