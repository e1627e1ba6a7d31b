// Issue #9: the README's first command, as a user runs it. `scripts/run.sh` (set-up skipped:
// FLEET_RUN_SKIP_BOOTSTRAP=1, the workspace is built) → scripts/run-product.mjs →
// test/dist/product/main.ts, with a private state directory, non-default ports and its own
// device network, so it cannot collide with a product someone runs on this machine. It must:
// serve the hub and the dashboard, bring its demo devices online running the demo release in
// real LXC containers (each agent in its own network namespace), leave a working hubctl, stop
// everything on Ctrl-C (no process, container, namespace, bridge, mount or loop device left),
// and start again on the same state without rebuilding or duplicating anything.
// Needs root (LXC, namespaces), umoci, and the workspace built (scripts/bootstrap.sh).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/mosquitto.js';
import {
  deviceNetwork,
  inNetns,
  links,
  loopDevicesUnder,
  mountsUnder,
  namespaces,
  releaseMounts,
  stopContainers,
} from '../support/netns.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DEVICES = 2;
const NETWORK = `p${process.pid}`;
const SUBNET = `10.215.${process.pid % 250}`;

interface Run {
  proc: ChildProcess;
  out: string;
  exited: Promise<number | null>;
}

let state: string;
let ports: { hub: number; mqtt: number; pg: number };
let current: Run | undefined;

function startProduct(): Run {
  const proc = spawn('bash', [join(REPO, 'scripts/run.sh'), '--devices', String(DEVICES)], {
    cwd: REPO,
    env: {
      ...process.env,
      FLEET_RUN_SKIP_BOOTSTRAP: '1',
      FLEET_RUN_STATE_DIR: state,
      FLEET_RUN_PORT: String(ports.hub),
      FLEET_RUN_MQTT_PORT: String(ports.mqtt),
      FLEET_RUN_PG_PORT: String(ports.pg),
      FLEET_RUN_NETWORK: NETWORK,
      FLEET_RUN_SUBNET: SUBNET,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run: Run = {
    proc,
    out: '',
    exited: new Promise((resolve) => proc.once('exit', (code) => resolve(code))),
  };
  proc.stdout!.on('data', (b: Buffer) => (run.out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (run.out += b.toString()));
  return run;
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
  run?: Run,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (run && run.proc.exitCode !== null)
      throw new Error(`the product exited (${run.proc.exitCode}) while waiting for ${what}:\n${run.out}`);
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}\n${run?.out ?? ''}\n${await logs()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function logs(): Promise<string> {
  const dir = join(state, 'demo', 'logs');
  const out: string[] = [];
  for (const f of await readdir(dir).catch(() => [] as string[]))
    out.push(`--- ${f}\n${(await readFile(join(dir, f), 'utf8').catch(() => '')).slice(-2500)}`);
  return out.join('\n');
}

/** Runs the hubctl wrapper the product wrote, as the user's shell would. */
function hubctl(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const { HUBCTL_CONFIG: _c, HUBCTL_URL: _u, HUBCTL_TOKEN: _t, ...env } = process.env;
    const p = spawn(join(state, 'bin', 'hubctl'), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.once('error', reject);
    p.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

interface DeviceRow {
  id: string;
  name: string;
  online: boolean;
  currentRelease: string | null;
}

async function demoDevices(): Promise<DeviceRow[]> {
  const r = await hubctl('devices', 'ls', '--fleet', 'demo', '--json');
  if (r.code !== 0) throw new Error(`hubctl devices ls exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as DeviceRow[];
}

const lxcpath = (i: number) => join(state, 'demo', 'devices', `dev-${i}`, 'storage', 'containers');

async function runningContainers(i: number): Promise<string[]> {
  const [cmd, args] = inNetns(`fleet-${NETWORK}-${i}`, 'lxc-ls', ['-P', lxcpath(i), '--running', '-1']);
  const out = await new Promise<string>((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let s = '';
    p.stdout.on('data', (b: Buffer) => (s += b.toString()));
    p.once('close', () => resolve(s));
  });
  return out.split(/\s+/).filter(Boolean);
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });

/** Processes whose command line or environment names the state directory (ours excepted). */
async function processesUsingState(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    if (cmdline.includes(state) || environ.includes(state))
      found.push(`${pid}: ${cmdline.replace(/\0/g, ' ').trim().slice(0, 200)}`);
  }
  return found;
}

/** Up: hub, dashboard, devices online on the demo release in running containers, hubctl works. */
async function expectUp(run: Run): Promise<void> {
  await until('the product to say it is ready', async () => /fleet:\S* ready/.test(run.out), 600_000, run);
  const hubUrl = `http://127.0.0.1:${ports.hub}`;
  expect(run.out).toContain(`dashboard   ${hubUrl}/`);
  expect((await fetch(`${hubUrl}/readyz`)).ok).toBe(true);
  const page = await fetch(`${hubUrl}/`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/text\/html/);
  expect(await page.text()).toMatch(/<script[^>]+src=/);
  const who = await hubctl('whoami');
  expect(who.code, who.stderr).toBe(0);
  const online = await until(
    `${DEVICES} demo devices online on release 1.0.0`,
    async () => {
      const d = await demoDevices();
      return d.length === DEVICES && d.every((x) => x.online && x.currentRelease === '1.0.0') ? d : null;
    },
    420_000,
    run,
  );
  expect(new Set(online.map((d) => d.name))).toEqual(new Set(['demo-1', 'demo-2']));
  for (let i = 1; i <= DEVICES; i++) expect(await runningContainers(i)).not.toEqual([]);
}

/** Ctrl-C: exits 0 and leaves nothing behind. */
async function expectStopsCleanly(run: Run): Promise<void> {
  run.proc.kill('SIGINT');
  const code = await Promise.race([
    run.exited,
    new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 180_000)),
  ]);
  expect(code, run.out).toBe(0);
  expect(run.out).toMatch(/fleet:\S* stopped/);
  expect(await processesUsingState()).toEqual([]);
  for (const p of Object.values(ports)) expect(await listening(p), `port ${p} still open`).toBe(false);
  expect((await namespaces()).filter((n) => n.startsWith(`fleet-${NETWORK}-`))).toEqual([]);
  expect((await links()).filter((l) => l === `fleet${NETWORK}0` || l.startsWith(`f${NETWORK}h`))).toEqual([]);
  expect(await mountsUnder(state)).toEqual([]);
  expect(await loopDevicesUnder(state)).toEqual([]);
  expect(existsSync(join(state, 'demo', 'run.pid'))).toBe(false);
}

beforeAll(async () => {
  // The product runs from the built orchestrator: a stale build would test old code.
  const built = join(REPO, 'test/dist/product/main.js');
  for (const src of ['test/product/main.ts', 'test/product/processes.ts', 'test/support/netns.ts']) {
    if (!existsSync(built) || statSync(join(REPO, src)).mtimeMs > statSync(built).mtimeMs)
      throw new Error(`test/dist is older than ${src}: run pnpm --filter @fleet/test run build`);
  }
  state = await mkdtemp(join(tmpdir(), 'fleet-product-'));
  // As root the embedded Postgres runs initdb as user postgres, which must reach its data dir
  // (mkdtemp makes 0700; the default state dir .fleet sits in a 0755 checkout).
  await chmod(state, 0o755);
  ports = { hub: await freePort(), mqtt: await freePort(), pg: await freePort() };
});

afterAll(async () => {
  // Whatever happened above: stop the product, then remove what it may have left.
  if (current && current.proc.exitCode === null) {
    current.proc.kill('SIGINT');
    const t = setTimeout(() => current?.proc.kill('SIGKILL'), 120_000);
    await current.exited;
    clearTimeout(t);
  }
  if (!state) return;
  for (let i = 1; i <= DEVICES; i++)
    await stopContainers(lxcpath(i), `fleet-${NETWORK}-${i}`).catch(() => undefined);
  await releaseMounts(state).catch(() => undefined);
  await deviceNetwork({ id: NETWORK, subnet: SUBNET })
    .tearDown()
    .catch(() => undefined);
  await rm(state, { recursive: true, force: true });
}, 300_000);

describe('scripts/run.sh (the README first command)', () => {
  let firstLogin: string | undefined;

  it('starts the hub, the dashboard and demo devices running the demo release; hubctl works', async () => {
    current = startProduct();
    await expectUp(current);
    firstLogin = /login (\S+ \/ \S+)/.exec(current.out)?.[1];
    expect(firstLogin).toBeDefined();
    const releases = await hubctl('releases', 'ls', '--json');
    expect(releases.code, releases.stderr).toBe(0);
    expect((JSON.parse(releases.stdout) as Array<{ version: string }>).map((r) => r.version).sort()).toEqual([
      '1.0.0',
      '1.1.0',
    ]);
  }, 900_000);

  it('refuses a second copy on the same state while the first runs', async () => {
    const second = startProduct();
    expect(await second.exited).toBe(1);
    expect(second.out).toContain(`fleet is already running (pid ${current?.proc.pid})`);
    expect((await fetch(`http://127.0.0.1:${ports.hub}/readyz`)).ok).toBe(true);
  });

  it('Ctrl-C stops everything: no process, container, namespace, bridge, mount or loop device left', async () => {
    await expectStopsCleanly(current!);
  }, 300_000);

  it('runs again on the same state: same login, nothing rebuilt, the same devices; and stops cleanly again', async () => {
    current = startProduct();
    await expectUp(current);
    expect(/login (\S+ \/ \S+)/.exec(current.out)?.[1]).toBe(firstLogin);
    expect(current.out).not.toContain('building demo release');
    expect(current.out).not.toContain('creating a claim token');
    expect(current.out).not.toContain('deploying release');
    await expectStopsCleanly(current);
  }, 900_000);
});
