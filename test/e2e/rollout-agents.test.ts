// Issue #6 end to end on real parts: the hub (its own process) on Postgres and Mosquitto with
// dynamic security, five real fleet-agents (each its own process, storage directory and, as root,
// network namespace reaching the hub and broker over a bridge, as the product runs them:
// test/support/netns.ts) running real LXC containers converted from OCI images by
// `hubctl release create`, and hubctl driving
// the rollouts: a good release through every phase; a release whose health check fails pauses
// at the canary, which is back on its previous release; rollback returns every device to its
// last good revision; the dry run's bytes equal what the agents then download.
// Needs root (LXC), umoci, Postgres on 127.0.0.1:5432, mosquitto with its dynsec plugin.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { allDevicesFilter, decodeMessage } from '@fleet/protocol';
import mqtt from '../support/mqtt-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDemoImage } from '../product/demo-image.js';
import { freePort } from '../support/mosquitto.js';
import {
  deviceNetwork,
  links,
  namespaces,
  releaseMounts,
  stopContainers,
  type DeviceNetwork,
} from '../support/netns.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TSX = pathToFileURL(createRequire(join(REPO, 'hub/package.json')).resolve('tsx')).href;
const PG_ADMIN = process.env.FLEET_TEST_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const BOARD = `local-${process.arch === 'arm64' ? 'arm64' : 'amd64'}`;
const PLATFORM = process.arch === 'arm64' ? 'linux/arm64' : 'linux/amd64';
const AGENTS = 5;
const exec = promisify(execFile);

// The dynamic-security Mosquitto of the hub's own tests (outside this package's TypeScript root).
interface DynsecMosquitto {
  url: string;
  admin: { username: string; password: string };
  stop(): Promise<void>;
}
const { startMosquitto } = (await import(
  /* @vite-ignore */ join(REPO, 'hub/test/integration/helpers/mosquitto.ts')
)) as {
  startMosquitto(opts?: { extraListenHosts?: string[] }): Promise<DynsecMosquitto>;
};

// Each agent in its own network namespace when root (it is: LXC needs it). Names carry our pid
// so a run killed before its cleanup is swept by the next one; the /24 differs per pid too.
const NET_ID = `e${process.pid}`;
const net: DeviceNetwork | undefined =
  process.getuid?.() === 0 ? deviceNetwork({ id: NET_ID, subnet: `10.214.${process.pid % 250}` }) : undefined;

/** Removes the networks of earlier runs of this test whose process is gone. */
async function sweepStaleNetworks(): Promise<void> {
  const pids = new Set<number>();
  for (const n of await namespaces()) {
    const m = /^fleet-e(\d+)-\d+$/.exec(n);
    if (m) pids.add(Number(m[1]));
  }
  for (const l of await links()) {
    const m = /^fleete(\d+)0$/.exec(l);
    if (m) pids.add(Number(m[1]));
  }
  for (const pid of pids) {
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      await deviceNetwork({ id: `e${pid}`, subnet: '10.214.0' }).tearDown();
    }
  }
}

let dir: string;
let dbName: string;
let broker: DynsecMosquitto;
let hub: ChildProcess;
let hubOut = '';
let hubUrl: string;
let env: NodeJS.ProcessEnv;
let apiToken: string;
let observer: mqtt.MqttClient;
const agents: Array<{ proc: ChildProcess; out: string }> = [];
/** Largest bytesTotal a device reported while downloading, per update id (from the wire). */
const downloaded = new Map<string, number>();
const hubPassword = randomBytes(12).toString('hex');

function hubctl(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      ['--conditions=fleet-source', '--import', TSX, join(REPO, 'hubctl/src/bin.ts'), ...args],
      {
        env,
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function ok(...args: string[]): Promise<string> {
  const r = await hubctl(...args);
  if (r.code !== 0) throw new Error(`hubctl ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}\n--- hub\n${hubOut.slice(-3000)}\n${agents.map((a, i) => `--- agent ${i}\n${a.out.slice(-2000)}`).join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

interface DeviceRow {
  id: string;
  name: string;
  currentRelease: string | null;
  failedRevisions: string[];
}
const devices = async () => JSON.parse(await ok('devices', 'ls', '--fleet', 'e2e', '--json')) as DeviceRow[];

async function releaseFile(version: string, healthy: boolean): Promise<string> {
  const layout = await buildDemoImage(join(dir, 'images'), version);
  const file = join(dir, `release-${version}.yaml`);
  const health = healthy
    ? "{ exec: ['/bin/wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8080/'], intervalMs: 500, timeoutMs: 2000, retries: 2 }"
    : "{ exec: ['/bin/sh', '-c', 'exit 1'], intervalMs: 500, timeoutMs: 2000, retries: 2 }";
  await writeFile(
    file,
    [
      `version: ${version}`,
      `notes: e2e ${version}`,
      `boards: [${BOARD}]`,
      `platform: ${PLATFORM}`,
      'containers:',
      '  web:',
      `    image: ${layout}`,
      '    restart: { policy: always, maxRetries: 3 }',
      '    statusGoal: ready',
      `    health: ${health}`,
      '    volumes:',
      '      - { name: data, path: /var/lib/web, persistence: permanent }',
      '',
    ].join('\n'),
  );
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-rollout-e2e-'));
  if (net) {
    await sweepStaleNetworks();
    await net.setUp(AGENTS);
  }
  // Devices reach the broker and the hub at the bridge's address.
  const deviceHost = net?.hostAddress ?? '127.0.0.1';
  broker = await startMosquitto(net ? { extraListenHosts: [net.hostAddress] } : {});
  dbName = `rollout_e2e_${randomBytes(4).toString('hex')}`;
  await exec('psql', [PG_ADMIN, '-q', '-c', `CREATE DATABASE ${dbName}`]);
  const dbUrl = new URL(PG_ADMIN);
  dbUrl.pathname = `/${dbName}`;
  const port = await freePort();
  hubUrl = `http://127.0.0.1:${port}`;
  const deviceHubUrl = `http://${deviceHost}:${port}`;
  const { DATABASE_URL: _d, MQTT_URL: _m, HUBCTL_URL: _u, HUBCTL_TOKEN: _t, ...rest } = process.env;
  hub = spawn(process.execPath, ['--conditions=fleet-source', '--import', 'tsx', 'src/main.ts'], {
    cwd: join(REPO, 'hub'),
    env: {
      ...rest,
      DATABASE_URL: dbUrl.toString(),
      MQTT_URL: broker.url,
      MQTT_ADMIN_USERNAME: broker.admin.username,
      MQTT_ADMIN_PASSWORD: broker.admin.password,
      MQTT_HUB_PASSWORD: hubPassword,
      HUB_PORT: String(port),
      HUB_HOST: deviceHost === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0',
      HUB_PUBLIC_URL: deviceHubUrl,
      HUB_MQTT_PUBLIC_URL: broker.url.replace('127.0.0.1', deviceHost),
      HUB_DATA_DIR: join(dir, 'hub'),
      HUB_ADMIN_EMAIL: 'admin@example.com',
      HUB_ADMIN_PASSWORD: 'e2e-admin-password',
      HUB_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  hub.stdout!.on('data', (b: Buffer) => (hubOut += b.toString()));
  hub.stderr!.on('data', (b: Buffer) => (hubOut += b.toString()));
  await until(
    'hub ready',
    async () =>
      fetch(`${hubUrl}/readyz`).then(
        (r) => r.ok,
        () => false,
      ),
    120_000,
  );
  const login = await fetch(`${hubUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'admin@example.com', password: 'e2e-admin-password' }),
  });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const tok = (await (
    await fetch(`${hubUrl}/api/v1/tokens`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e2e' }),
    })
  ).json()) as { token: string };
  apiToken = tok.token;
  // Logged in as an operator would be (release signing reads the stored login).
  env = { ...rest, HUBCTL_CONFIG: join(dir, 'hubctl', 'hubctl.json') };
  await ok('login', '--url', hubUrl, '--token', tok.token);

  await ok('fleets', 'create', 'e2e');
  const claim = JSON.parse(
    await ok('claim-tokens', 'create', '--fleet', 'e2e', '--name', 'lab', '--max-uses', '20', '--json'),
  ) as { token: string };
  const key = JSON.parse(await ok('keys', 'create', '--name', 'e2e', '--default', '--json')) as {
    keyId: string;
    publicKey: string;
  };
  for (const [version, healthy] of [
    ['1.0.0', true],
    ['1.1.0', true],
    ['1.2.0', false],
  ] as const) {
    await ok('release', 'create', '-f', await releaseFile(version, healthy));
  }

  observer = await mqtt.connectAsync(broker.url, {
    username: 'fleet-hub',
    password: hubPassword,
    clientId: `e2e-observer-${randomBytes(3).toString('hex')}`,
    protocolVersion: 5,
  });
  observer.on('message', (_topic, payload) => {
    const m = decodeMessage('progress', payload);
    if (m.ok && m.value.body.state === 'downloading' && m.value.body.bytesTotal !== undefined) {
      downloaded.set(
        m.value.body.updateId,
        Math.max(downloaded.get(m.value.body.updateId) ?? 0, m.value.body.bytesTotal),
      );
    }
  });
  await observer.subscribeAsync(allDevicesFilter('progress'), { qos: 1 });

  for (let i = 1; i <= AGENTS; i++) {
    const home = join(dir, 'devices', `dev-${i}`);
    await mkdir(join(home, 'storage'), { recursive: true });
    const config = join(home, 'agent.json');
    const hardwareId = `e2e${i}${randomBytes(8).toString('hex')}`;
    const machineId = join(home, 'machine-id');
    await writeFile(machineId, `${hardwareId}\n`);
    await writeFile(
      config,
      JSON.stringify({
        hubUrl: deviceHubUrl,
        claimToken: claim.token,
        board: BOARD,
        name: `e2e-${i}`,
        hardwareId,
        storageDir: join(home, 'storage'),
        trustRoots: [{ keyId: key.keyId, publicKey: key.publicKey, name: 'e2e' }],
        bakeSeconds: 3,
        intervals: { telemetryMs: 30_000, reportMs: 10_000, logFlushMs: 2_000 },
      }),
    );
    // Each agent is a board of its own: its network namespace (entered with nsenter, as the
    // product does), and a private mount namespace where /etc/machine-id (the hardware id the
    // agent reads on a PC) is the board's. The config's `hardwareId` says the same, for an agent
    // that honours it.
    const [cmd, args] = inDevice(i, 'unshare', [
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount --bind "$0" /etc/machine-id && shift && exec "$@"',
      machineId,
      process.execPath,
      process.execPath,
      '--conditions=fleet-source',
      '--import',
      TSX,
      join(REPO, 'device-agent/src/cli/bin.ts'),
      'run',
      '--config',
      config,
    ]);
    const a = {
      proc: spawn(cmd, args, { cwd: home, env: rest, stdio: ['ignore', 'pipe', 'pipe'] }),
      out: '',
    };
    a.proc.stdout!.on('data', (b: Buffer) => (a.out += b.toString()));
    a.proc.stderr!.on('data', (b: Buffer) => (a.out += b.toString()));
    agents.push(a);
  }
  await until(`${AGENTS} devices online`, async () => (await devices()).length === AGENTS, 180_000);
}, 600_000);

const inDevice = (i: number, command: string, args: string[]): [string, string[]] =>
  net ? net.command(i, command, args) : [command, args];

// Everything below runs even when a test or beforeAll failed half-way; each step on its own.
afterAll(async () => {
  const step = async (what: string, f: () => Promise<unknown>) =>
    f().catch((e: Error) => console.error(`rollout-agents cleanup: ${what}: ${e.message}`));
  for (const a of agents) if (a.proc.exitCode === null) a.proc.kill('SIGTERM');
  await Promise.all(
    agents.map((a) => (a.proc.exitCode !== null ? null : new Promise((r) => a.proc.once('exit', r)))),
  );
  await step('observer', async () => observer?.endAsync());
  if (hub && hub.exitCode === null) {
    hub.kill('SIGTERM');
    await new Promise((r) => hub.once('exit', r));
  }
  await step('broker', async () => broker?.stop());
  // Agents leave their containers running by design (they are not their parents): stop them
  // from inside each device's namespace (LXC's command socket is per network namespace), then
  // release the mounts under the test directory before removing it.
  if (dir) {
    const devicesDir = join(dir, 'devices');
    for (const d of await readdir(devicesDir).catch(() => [] as string[])) {
      const i = Number(/^dev-(\d+)$/.exec(d)?.[1]);
      await step(`containers of ${d}`, () =>
        stopContainers(join(devicesDir, d, 'storage', 'containers'), net?.namespaceOf(i)),
      );
    }
    await step('mounts', () => releaseMounts(dir));
  }
  await step('network', async () => net?.tearDown());
  if (dbName)
    await step('database', () =>
      exec('psql', [PG_ADMIN, '-q', '-c', `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`]),
    );
  if (dir) await step('directory', () => rm(dir, { recursive: true, force: true }));
}, 120_000);

describe(`rollouts on ${AGENTS} real agents`, () => {
  it('each agent runs in its own network namespace, reaching the hub over the bridge', async () => {
    expect(net, 'runs as root, so agents get network namespaces').toBeDefined();
    const own = new Set<string>();
    for (const a of agents) {
      // The agent's process is the last of nsenter → unshare → sh → node (each execs the next).
      own.add(await readlinkNs(a.proc.pid));
    }
    expect(own.size).toBe(AGENTS);
    expect(own.has(await readlinkNs(process.pid))).toBe(false);
    const ids = new Set((await devices()).map((d) => d.id));
    expect(ids.size).toBe(AGENTS);
  });

  it('a good release goes through every phase and completes', async () => {
    const r = await hubctl(
      'deploy',
      '1.0.0',
      '--fleet',
      'e2e',
      '--name',
      'first',
      '--phases',
      '1,50%,100%',
      '--bake',
      '2s',
      '--device-bake',
      '3s',
      '--timeout',
      '5m',
      '--wait',
    );
    expect(r.code, `${r.stderr}\n${await why('first')}`).toBe(0);
    expect(r.stdout).toMatch(/^completed, phase 3\/3: 5\/5 succeeded/);
    expect((await devices()).every((d) => d.currentRelease === '1.0.0')).toBe(true);
  });

  it("the dry run's bytes equal what the agents then download", async () => {
    const dry = JSON.parse(await ok('deploy', '1.1.0', '--fleet', 'e2e', '--dry-run', '--json')) as {
      summary: { eligible: number; downloadBytes: number };
    };
    expect(dry.summary.eligible).toBe(AGENTS);
    expect(dry.summary.downloadBytes).toBeGreaterThan(0);
    const r = await hubctl(
      'deploy',
      '1.1.0',
      '--fleet',
      'e2e',
      '--name',
      'second',
      '--phases',
      '2,100%',
      '--device-bake',
      '3s',
      '--timeout',
      '5m',
      '--wait',
      '--json',
    );
    expect(r.code, `${r.stderr}\n${await why('second')}`).toBe(0);
    const shown = JSON.parse(await ok('rollouts', 'show', 'second', '--devices', '--json')) as {
      devices: Array<{ deviceId: string }>;
    };
    expect(shown.devices).toHaveLength(AGENTS);
    const ids = await fetch(`${hubUrl}/api/v1/rollouts/second/devices?limit=100`, {
      headers: { authorization: `Bearer ${apiToken}` },
    }).then((x) => x.json() as Promise<{ items: Array<{ updateId: string }> }>);
    await until('downloads seen', async () => ids.items.every((d) => downloaded.has(d.updateId)), 30_000);
    expect(ids.items.reduce((n, d) => n + (downloaded.get(d.updateId) ?? 0), 0)).toBe(
      dry.summary.downloadBytes,
    );
  });

  it('a release whose health check fails pauses at the canary, which is back on its previous release', async () => {
    const r = await hubctl(
      'deploy',
      '1.2.0',
      '--fleet',
      'e2e',
      '--name',
      'broken',
      '--phases',
      '1,100%',
      '--max-failures',
      '0%',
      '--device-bake',
      '3s',
      '--timeout',
      '5m',
      '--wait',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('rollout broken is paused: failure-threshold: 1 of 1 devices rolled-back');
    const shown = JSON.parse(await ok('rollouts', 'show', 'broken', '--devices', '--json')) as {
      devices: Array<{ deviceId: string; state: string; reason: string | null }>;
    };
    const tried = shown.devices.filter((d) => d.state !== 'pending');
    expect(tried).toHaveLength(1);
    expect(tried[0]!.state).toBe('rolled-back');
    await until(
      'canary reports its previous release',
      async () => (await devices()).find((d) => d.id === tried[0]!.deviceId)?.currentRelease === '1.1.0',
      60_000,
    );
    expect((await devices()).filter((d) => d.currentRelease === '1.1.0')).toHaveLength(AGENTS);
    await ok('rollouts', 'abort', 'broken', '--reason', 'health check fails');
  });

  it('rollback returns every device to its last good revision', async () => {
    const rb = await ok('rollouts', 'rollback', 'second', '--reason', 'e2e');
    expect(rb).toContain('rolled-back');
    await until(
      'all back on 1.0.0',
      async () => (await devices()).every((d) => d.currentRelease === '1.0.0'),
      240_000,
    );
    const counted = await until(
      'all counted rolled back',
      async () => {
        const r = JSON.parse(await ok('rollouts', 'show', 'second', '--json')) as {
          state: string;
          counts: Record<string, number>;
        };
        return r.counts['rolled-back'] === AGENTS ? r : null;
      },
      30_000,
    );
    expect(counted.state).toBe('rolled-back');
  });
});

/** For a failed rollout: each device's state and reason at the hub, and what the agents logged. */
async function why(rollout: string): Promise<string> {
  const shown = await hubctl('rollouts', 'show', rollout, '--devices', '--json');
  const rows =
    shown.code === 0
      ? (
          JSON.parse(shown.stdout) as {
            devices: Array<{ deviceId: string; state: string; reason: string | null }>;
          }
        ).devices
          .map((d) => `${d.deviceId} ${d.state} ${d.reason ?? ''}`)
          .join('\n')
      : shown.stderr;
  return `--- rollout ${rollout}\n${rows}\n--- hub\n${hubOut.slice(-2000)}\n${agents
    .map((a, i) => `--- agent ${i + 1}\n${a.out.slice(-2500)}`)
    .join('\n')}`;
}

async function readlinkNs(pid: number | undefined): Promise<string> {
  if (pid === undefined) throw new Error('no pid');
  return readlink(`/proc/${pid}/ns/net`);
}
