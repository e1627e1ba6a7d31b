// Real parts for the end-to-end scenarios: a hub process (hub/src/main.ts, as operators run it)
// on its own Postgres database and a dynamic-security Mosquitto, signed releases registered
// through the API, and simulated devices provisioned through the hub's /api/v1/provision.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  generateSigningKey,
  manifestDigest,
  ReleaseManifest,
  signManifest,
  type Digest,
} from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import { provision } from '../../sim/fleet.js';
import { deviceSeed, seededRng } from '../../sim/rng.js';
import { SimulatedDevice, type SimEvent } from '../../sim/simulated-device.js';
import type { UpdateBehaviour } from '../../sim/update-plan.js';
import { freePort } from '../../support/mosquitto.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const exec = promisify(execFile);
export const PG_ADMIN =
  process.env.FLEET_TEST_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
export const BOARD = 'qemu-aarch64';

/** The dynamic-security Mosquitto of the hub's own tests (outside this package's TypeScript root). */
export interface DynsecMosquitto {
  url: string;
  admin: { username: string; password: string };
  restart(): Promise<void>;
  stop(): Promise<void>;
}
export async function startDynsecMosquitto(): Promise<DynsecMosquitto> {
  const { startMosquitto } = (await import(
    /* @vite-ignore */ join(REPO, 'hub/test/integration/helpers/mosquitto.ts')
  )) as { startMosquitto(): Promise<DynsecMosquitto> };
  return startMosquitto();
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
  context: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${context()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A database of its own on the given server (created with psql, dropped with FORCE). */
export async function createDatabase(
  adminUrl: string,
  prefix: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await exec('psql', [adminUrl, '-q', '-c', `CREATE DATABASE ${name}`]);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      await exec('psql', [adminUrl, '-q', '-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]).catch(
        () => {},
      );
    },
  };
}

/**
 * A private Postgres 15 cluster (initdb/pg_ctl into a temp dir, on a free port, run as the
 * `postgres` user), so a scenario can stop and start it without touching the machine's own.
 */
export class PrivatePostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}
  static readonly BIN = '/usr/lib/postgresql/15/bin';

  get adminUrl(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async create(): Promise<PrivatePostgres> {
    const dir = await mkdtemp(join(tmpdir(), 'fleet-pg-'));
    const { stdout } = await exec('id', ['-u', 'postgres']);
    const uid = Number(stdout.trim());
    const gid = Number((await exec('id', ['-g', 'postgres'])).stdout.trim());
    await chown(dir, uid, gid);
    const pg = new PrivatePostgres(dir, await freePort());
    await pg.as(`${PrivatePostgres.BIN}/initdb`, [
      '-D',
      join(dir, 'data'),
      '-U',
      'postgres',
      '--auth=trust',
      '--no-sync',
    ]);
    await pg.start();
    return pg;
  }

  private as(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
    return exec('runuser', ['-u', 'postgres', '--', cmd, ...args]);
  }

  async start(): Promise<void> {
    await this.as(`${PrivatePostgres.BIN}/pg_ctl`, [
      '-D',
      join(this.dir, 'data'),
      '-l',
      join(this.dir, 'log'),
      '-o',
      `-p ${this.port} -k ${this.dir} -h 127.0.0.1 -c fsync=off`,
      '-w',
      'start',
    ]);
  }

  async stop(): Promise<void> {
    await this.as(`${PrivatePostgres.BIN}/pg_ctl`, [
      '-D',
      join(this.dir, 'data'),
      '-m',
      'fast',
      '-w',
      'stop',
    ]);
  }

  async destroy(): Promise<void> {
    await this.stop().catch(() => {});
    await rm(this.dir, { recursive: true, force: true });
  }
}

export interface HubEnv {
  databaseUrl: string;
  broker: DynsecMosquitto;
  dir: string;
  /** Extra environment, e.g. MQTT_CLIENT_ID and MQTT_SESSION_EXPIRY_SECONDS for a persistent session. */
  extra?: Record<string, string>;
}

/** One hub process; `restart()` is SIGTERM, wait for exit, start again on the same port and database. */
export class HubProcess {
  proc: ChildProcess | undefined;
  output = '';
  readonly url: string;
  private readonly env: NodeJS.ProcessEnv;

  private constructor(
    readonly port: number,
    e: HubEnv,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    const { DATABASE_URL: _d, MQTT_URL: _m, HUBCTL_URL: _u, HUBCTL_TOKEN: _t, ...rest } = process.env;
    this.env = {
      ...rest,
      DATABASE_URL: e.databaseUrl,
      MQTT_URL: e.broker.url,
      MQTT_ADMIN_USERNAME: e.broker.admin.username,
      MQTT_ADMIN_PASSWORD: e.broker.admin.password,
      MQTT_HUB_PASSWORD: randomBytes(12).toString('hex'),
      HUB_PORT: String(port),
      HUB_HOST: '127.0.0.1',
      HUB_PUBLIC_URL: this.url,
      HUB_DATA_DIR: join(e.dir, 'hub'),
      HUB_ADMIN_EMAIL: 'admin@example.com',
      HUB_ADMIN_PASSWORD: 'scenario-admin-password',
      // More detail when a scenario is being investigated.
      HUB_LOG_LEVEL: process.env.FLEET_SCENARIO_HUB_LOG_LEVEL ?? 'warn',
      ...e.extra,
    };
  }

  static async start(e: HubEnv): Promise<HubProcess> {
    const hub = new HubProcess(await freePort(), e);
    await hub.start();
    return hub;
  }

  async start(): Promise<void> {
    const proc = spawn(process.execPath, ['--conditions=fleet-source', '--import', 'tsx', 'src/main.ts'], {
      cwd: join(REPO, 'hub'),
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    proc.stdout!.on('data', (b: Buffer) => (this.output += b.toString()));
    proc.stderr!.on('data', (b: Buffer) => (this.output += b.toString()));
    await until(
      'hub ready',
      async () => {
        if (proc.exitCode !== null) throw new Error(`hub exited with ${proc.exitCode}:\n${this.output}`);
        return this.ready();
      },
      120_000,
      () => this.output.slice(-3000),
    );
  }

  ready(): Promise<boolean> {
    return fetch(`${this.url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
  }

  /** SIGTERM and wait for the process to exit; returns its exit code. */
  async stop(): Promise<number | null> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return proc?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    return exited;
  }

  kill(): void {
    if (this.proc && this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

/** The REST API with an API token (made by logging in as the admin). */
export class Api {
  private constructor(
    readonly hub: HubProcess,
    private readonly token: string,
  ) {}

  static async login(hub: HubProcess): Promise<Api> {
    const login = await fetch(`${hub.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@example.com', password: 'scenario-admin-password' }),
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const res = await fetch(`${hub.url}/api/v1/tokens`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'scenarios' }),
    });
    if (!res.ok) throw new Error(`token: HTTP ${res.status} ${await res.text()}`);
    return new Api(hub, ((await res.json()) as { token: string }).token);
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.hub.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 500)}`);
    return (text ? JSON.parse(text) : null) as T;
  }

  async putObject(data: Buffer): Promise<Digest> {
    const hex = createHash('sha256').update(data).digest('hex');
    const res = await fetch(`${this.hub.url}/api/v1/objects/sha256/${hex}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/octet-stream' },
      body: data,
    });
    if (res.status !== 201 && res.status !== 200) throw new Error(`object: HTTP ${res.status}`);
    return `sha256:${hex}`;
  }
}

export interface RegisteredRelease {
  version: string;
  /** The revision digest a device reports once it runs this release. */
  digest: Digest;
}

/** Registers a signing key and signed releases (one container, a 20 kB rootfs each). */
export async function registerReleases(api: Api, versions: string[]): Promise<RegisteredRelease[]> {
  const key = generateSigningKey(`scenarios-${randomBytes(3).toString('hex')}`);
  await api.call('POST', '/api/v1/keys', { name: key.trustRoot.keyId, publicKey: key.trustRoot.publicKey });
  const out: RegisteredRelease[] = [];
  for (const [i, version] of versions.entries()) {
    const data = randomBytes(20_000);
    const digest = await api.putObject(data);
    const manifest = signManifest(
      ReleaseManifest.parse(
        aRelease({
          version,
          release: version,
          sequence: i + 1,
          containers: { web: aContainer({ rootfs: { digest, size: data.length } }) },
        }),
      ),
      key,
    );
    await api.call('POST', '/api/v1/releases', manifest);
    out.push({ version, digest: manifestDigest(manifest) });
  }
  return out;
}

/** A fleet and a claim token for it. */
export async function createFleet(api: Api, name: string): Promise<{ id: string; claimToken: string }> {
  const fleet = await api.call<{ id: string }>('POST', '/api/v1/fleets', { name });
  const claim = await api.call<{ token: string }>('POST', `/api/v1/fleets/${fleet.id}/claim-tokens`, {
    name: `${name}-claim`,
  });
  return { id: fleet.id, claimToken: claim.token };
}

/**
 * Provisions `count` simulated devices through the hub and connects them. `behaviour` is shared
 * by reference: a scenario changes it (e.g. the failure rate) between rollouts.
 */
export async function provisionDevices(
  hub: HubProcess,
  claimToken: string,
  opts: {
    prefix: string;
    count: number;
    seed: number;
    behaviour: UpdateBehaviour;
    reportIntervalMs?: number;
    onEvent?: (e: SimEvent) => void;
  },
): Promise<SimulatedDevice[]> {
  const devices: SimulatedDevice[] = [];
  for (let i = 0; i < opts.count; i++) {
    const credentials = await provision(hub.url, claimToken, `${opts.prefix}-${i}`, BOARD, '0.1.0');
    const d = new SimulatedDevice({
      credentials,
      board: BOARD,
      agentVersion: '0.1.0',
      protocolVersion: 5,
      behaviour: opts.behaviour,
      rng: seededRng(deviceSeed(opts.seed, i)),
      telemetryIntervalMs: 0,
      ...(opts.reportIntervalMs ? { reportIntervalMs: opts.reportIntervalMs } : {}),
      storageBytes: 8 * 1024 ** 3,
      ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
    });
    await d.connect();
    devices.push(d);
  }
  return devices;
}

export interface RolloutView {
  id: string;
  state: string;
  stateReason: string | null;
  counts: Record<string, number>;
}

export interface DeviceView {
  id: string;
  online: boolean;
  currentRelease: string | null;
  currentRevisionDigest: string | null;
}

export async function fleetDevices(api: Api, fleetId: string): Promise<DeviceView[]> {
  return (await api.call<{ items: DeviceView[] }>('GET', `/api/v1/devices?fleetId=${fleetId}&limit=500`))
    .items;
}

export const rollout = (api: Api, id: string): Promise<RolloutView> =>
  api.call<RolloutView>('GET', `/api/v1/rollouts/${id}`);
