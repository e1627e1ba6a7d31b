#!/usr/bin/env node
// The README's first command: the whole product on one machine. A hub (embedded Postgres and
// MQTT broker), its dashboard, a demo fleet with a signed release built from a local image, and
// a few real fleet-agents running real LXC containers, each with its own storage and, as root,
// its own network namespace. Running it again reuses everything; Ctrl-C stops everything.
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import {
  deviceNetwork,
  namespaces,
  releaseMounts,
  stopContainers,
  type DeviceNetwork,
} from '../support/netns.js';
import { buildDemoImage } from './demo-image.js';
import { ManagedProcess, run } from './processes.js';

// The repository root: the nearest parent holding pnpm-workspace.yaml (from src or from dist).
let root = resolve(new URL('.', import.meta.url).pathname);
while (!existsSync(join(root, 'pnpm-workspace.yaml'))) {
  if (root === '/') throw new Error('run: cannot find the repository root');
  root = resolve(root, '..');
}

// Every option is a flag or an environment variable (flags win), so a test or a second copy can
// run beside the default one: its own state directory, ports and device network.
const port = z.coerce.number().int().min(1).max(65535);
const Options = z.object({
  devices: z.coerce.number().int().min(0).max(20).default(3),
  port: port.default(8080),
  'mqtt-port': port.default(1884),
  'pg-port': port.default(54329),
  'state-dir': z.string().min(1).optional(),
  network: z
    .string()
    .regex(/^[a-z0-9]{1,8}$/, { error: 'must be 1-8 of [a-z0-9]' })
    .default('demo'),
  subnet: z
    .string()
    .regex(/^\d{1,3}\.\d{1,3}\.\d{1,3}$/, { error: 'must be three octets like 10.213.0' })
    .default('10.213.0'),
});
const ENV: Record<keyof z.infer<typeof Options>, string> = {
  devices: 'FLEET_RUN_DEVICES',
  port: 'FLEET_RUN_PORT',
  'mqtt-port': 'FLEET_RUN_MQTT_PORT',
  'pg-port': 'FLEET_RUN_PG_PORT',
  'state-dir': 'FLEET_RUN_STATE_DIR',
  network: 'FLEET_RUN_NETWORK',
  subnet: 'FLEET_RUN_SUBNET',
};
const { values } = parseArgs({
  options: Object.fromEntries(Object.keys(ENV).map((k) => [k, { type: 'string' as const }])),
});
const fromEnv = Object.fromEntries(
  Object.entries(ENV)
    .map(([k, name]) => [k, process.env[name]])
    .filter(([, v]) => v !== undefined && v !== ''),
);
const parsed = Options.safeParse({ ...fromEnv, ...values });
if (!parsed.success) {
  console.error(
    `run: ${parsed.error.issues
      .map((i) => {
        const key = String(i.path[0]) as keyof typeof ENV;
        return `--${key} (${ENV[key]}): ${i.message}`;
      })
      .join('; ')}`,
  );
  process.exit(2);
}
const opts = parsed.data;
const isRoot = process.getuid?.() === 0;
const data = resolve(opts['state-dir'] ?? join(root, '.fleet'));
const demo = join(data, 'demo');
const say = (s: string) => console.log(`\x1b[1mfleet:\x1b[0m ${s}`);

await mkdir(join(demo, 'logs'), { recursive: true });

// --- one run at a time ------------------------------------------------------------------------
const pidFile = join(demo, 'run.pid');
if (existsSync(pidFile)) {
  const pid = Number(await readFile(pidFile, 'utf8'));
  let alive: boolean;
  try {
    // Only a real pid: kill(0, 0) would probe our own process group and always succeed.
    alive = Number.isInteger(pid) && pid > 1 && process.kill(pid, 0);
  } catch {
    alive = false;
  }
  if (alive && pid !== process.pid) {
    console.error(
      `fleet is already running (pid ${pid}); stop it with Ctrl-C in its terminal or: kill ${pid}`,
    );
    process.exit(1);
  }
}
await writeFile(pidFile, String(process.pid));

// --- admin credentials, kept across runs ----------------------------------------------------
const Secrets = z.object({ email: z.string(), password: z.string() });
const secretsFile = join(demo, 'admin.json');
const secrets = existsSync(secretsFile)
  ? Secrets.parse(JSON.parse(await readFile(secretsFile, 'utf8')))
  : { email: 'admin@fleet.local', password: randomBytes(12).toString('base64url') };
await writeFile(secretsFile, JSON.stringify(secrets), { mode: 0o600 });

// --- shutdown, armed before anything starts -----------------------------------------------------
const children: ManagedProcess[] = [];
let shuttingDown = false;
let net: DeviceNetwork | undefined;
let hub: ManagedProcess | undefined;
// `on`, not `once`: a second Ctrl-C during shutdown must not kill us half-way and leave the
// hub and devices behind (shutdown() runs once anyway).
process.on('SIGINT', () => void shutdown('stopping', 0));
process.on('SIGTERM', () => void shutdown('stopping', 0));

try {
  await start();
} catch (error) {
  // A failed start leaves nothing behind either.
  if (!shuttingDown) await shutdown(`could not start: ${(error as Error).message}`, 1);
}

async function start(): Promise<void> {
  // --- network ----------------------------------------------------------------------------------
  // As root each device gets its own network namespace; the hub listens on the bridge's address.
  net = isRoot && opts.devices > 0 ? deviceNetwork({ id: opts.network, subnet: opts.subnet }) : undefined;
  if (net) await net.setUp(opts.devices);
  const deviceHost = net?.hostAddress ?? '127.0.0.1';

  // --- hub --------------------------------------------------------------------------------------
  const hubUrl = `http://127.0.0.1:${opts.port}`;
  hub = new ManagedProcess('hub', process.execPath, [join(root, 'hub/dist/main.js')], {
    logFile: join(demo, 'logs/hub.log'),
    env: {
      ...process.env,
      HUB_DATA_DIR: join(data, 'hub'),
      HUB_PORT: String(opts.port),
      HUB_HOST: '0.0.0.0',
      HUB_PUBLIC_URL: `http://${deviceHost}:${opts.port}`,
      HUB_MQTT_PUBLIC_URL: `mqtt://${deviceHost}:${opts['mqtt-port']}`,
      MQTT_EMBEDDED_HOST: '0.0.0.0',
      MQTT_EMBEDDED_PORT: String(opts['mqtt-port']),
      HUB_EMBEDDED_PG_PORT: String(opts['pg-port']),
      HUB_ADMIN_EMAIL: secrets.email,
      HUB_ADMIN_PASSWORD: secrets.password,
      HUB_WEB_DIR: join(root, 'web/dist'),
    },
    onExit: (code) => void shutdown(`the hub exited (${code}); see ${join(demo, 'logs/hub.log')}`, 1),
  });
  children.push(hub);
  if (shuttingDown) return;
  say('starting the hub (embedded Postgres and MQTT broker)...');
  hub.start();
  await waitFor(hub, `${hubUrl}/readyz`, 120_000);

  // --- an API token for hubctl, made with the admin's session ---------------------------------
  const hubctlDir = join(data, 'hubctl');
  const hubctlEnv = { ...process.env, HUBCTL_CONFIG: join(hubctlDir, 'hubctl.json') };
  await mkdir(hubctlDir, { recursive: true });
  const hubctl = (...args: string[]) =>
    run(process.execPath, [join(root, 'hubctl/dist/bin.js'), ...args], { env: hubctlEnv });
  if (!existsSync(join(hubctlDir, 'hubctl.json'))) {
    const login = await fetch(`${hubUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(secrets),
    });
    if (!login.ok) throw new Error(`admin login failed: HTTP ${login.status} ${await login.text()}`);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const tok = await fetch(`${hubUrl}/api/v1/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ name: 'demo hubctl', role: 'admin' }),
    });
    if (!tok.ok) throw new Error(`API token creation failed: HTTP ${tok.status} ${await tok.text()}`);
    const { token } = z.object({ token: z.string() }).parse(await tok.json());
    await run(
      process.execPath,
      [join(root, 'hubctl/dist/bin.js'), 'login', '--url', hubUrl, '--token-stdin'],
      {
        env: hubctlEnv,
        input: token,
      },
    );
  }
  // A wrapper so the user's shell can run hubctl against this hub.
  const binDir = join(data, 'bin');
  await mkdir(binDir, { recursive: true });
  await writeFile(
    join(binDir, 'hubctl'),
    `#!/bin/sh\nHUBCTL_CONFIG="${join(hubctlDir, 'hubctl.json')}" exec "${process.execPath}" "${join(root, 'hubctl/dist/bin.js')}" "$@"\n`,
  );
  await chmod(join(binDir, 'hubctl'), 0o755);

  // --- fleet, claim token, release key, demo releases -------------------------------------------
  // A PC is a board too: the name follows protocol's board name rule ([a-z0-9-]).
  const BOARD = `local-${process.arch === 'arm64' ? 'arm64' : 'amd64'}`;
  const platform = process.arch === 'arm64' ? 'linux/arm64' : 'linux/amd64';
  const json = async <T>(schema: z.ZodType<T>, ...args: string[]) =>
    schema.parse(JSON.parse(await hubctl(...args, '--json')));
  const fleets = await json(z.array(z.object({ name: z.string() }).passthrough()), 'fleets', 'ls');
  if (!fleets.some((f) => f.name === 'demo'))
    await hubctl('fleets', 'create', 'demo', '--description', 'local devices started by scripts/run.sh');
  const demoState = join(demo, 'state.json');
  const State = z.object({
    claimToken: z.string(),
    trustRoot: z.object({ keyId: z.string(), publicKey: z.string() }),
  });
  let state: z.infer<typeof State>;
  if (existsSync(demoState)) {
    state = State.parse(JSON.parse(await readFile(demoState, 'utf8')));
  } else {
    say('creating a claim token and a release signing key...');
    const claim = await json(
      z.object({ token: z.string() }).passthrough(),
      'claim-tokens',
      'create',
      '--fleet',
      'demo',
      '--name',
      'local demo devices',
      '--max-uses',
      '100',
    );
    const key = await json(
      z.object({ keyId: z.string(), publicKey: z.string() }).passthrough(),
      'keys',
      'create',
      '--name',
      'demo',
      '--default',
    );
    state = { claimToken: claim.token, trustRoot: { keyId: key.keyId, publicKey: key.publicKey } };
    await writeFile(demoState, JSON.stringify(state, null, 2), { mode: 0o600 });
  }
  const releases = await json(z.array(z.object({ version: z.string() }).passthrough()), 'releases', 'ls');
  for (const version of ['1.0.0', '1.1.0']) {
    if (releases.some((r) => r.version === version)) continue;
    say(`building demo release ${version} from a busybox image...`);
    const layout = await buildDemoImage(join(demo, 'images'), version);
    const file = join(demo, `release-${version}.yaml`);
    await writeFile(
      file,
      [
        `version: ${version}`,
        `notes: demo web page ${version}`,
        `boards: [${BOARD}]`,
        `platform: ${platform}`,
        'containers:',
        '  web:',
        `    image: ${layout}`,
        '    restart: { policy: always, maxRetries: 5 }',
        '    statusGoal: ready',
        "    health: { exec: ['/bin/wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8080/'], intervalMs: 5000, timeoutMs: 3000 }",
        '    resources: { memoryBytes: 32M, pids: 64 }',
        '    volumes:',
        '      - { name: data, path: /var/lib/web, persistence: permanent }',
        '',
      ].join('\n'),
    );
    await hubctl('release', 'create', '-f', file);
  }

  // --- local devices ----------------------------------------------------------------------------
  const agentBin = join(root, 'device-agent/dist/bundle/fleet-agent.mjs');
  for (let i = 1; i <= opts.devices; i++) {
    if (shuttingDown) return;
    const dir = join(demo, 'devices', `dev-${i}`);
    await mkdir(join(dir, 'storage'), { recursive: true });
    const configPath = join(dir, 'agent.json');
    await writeFile(
      configPath,
      JSON.stringify(
        {
          hubUrl: `http://${deviceHost}:${opts.port}`,
          claimToken: state.claimToken,
          board: BOARD,
          name: `demo-${i}`,
          hardwareId: `demo-${i}`,
          storageDir: join(dir, 'storage'),
          trustRoots: [state.trustRoot],
          bakeSeconds: 10,
          // The demo shows live charts: each 10 s sample is published at once (decision 0037).
          intervals: { telemetryMs: 10_000, telemetryPublishMs: 10_000, reportMs: 60_000, logFlushMs: 2_000 },
        },
        null,
        2,
      ),
    );
    const agentArgs = [agentBin, 'run', '--config', configPath];
    const [cmd, args] = net ? net.command(i, process.execPath, agentArgs) : [process.execPath, agentArgs];
    const startAgent = (): ManagedProcess => {
      const p: ManagedProcess = new ManagedProcess(`device ${i}`, cmd, args, {
        logFile: join(demo, 'logs', `dev-${i}.log`),
        // Exit 75 is a reboot of the `file` boot backend: power-cycle the device (start it again).
        onExit: (code) => {
          if (shuttingDown) return;
          say(code === 75 ? `device ${i} rebooted` : `device ${i} exited (${code}); restarting it`);
          const next = startAgent();
          children[children.indexOf(p)] = next;
        },
      });
      p.start();
      return p;
    };
    children.push(startAgent());
  }

  if (
    existsSync(join(root, 'hubctl/dist/commands/deploy.js')) &&
    opts.devices > 0 &&
    !existsSync(join(demo, 'deployed'))
  ) {
    say('deploying release 1.0.0 to the demo fleet...');
    await hubctl('deploy', '1.0.0', '--fleet', 'demo', '--phases', '1,100%', '--bake', '20s').then(
      () => writeFile(join(demo, 'deployed'), '1.0.0'),
      (e: Error) => say(`deploy did not start: ${e.message.split('\n').slice(-1)[0]}`),
    );
  }

  console.log(`
  dashboard   ${hubUrl}/        login ${secrets.email} / ${secrets.password}
  API docs    ${hubUrl}/api/docs
  hubctl      export PATH="${binDir}:$PATH"; hubctl devices ls
  devices     ${opts.devices} local agent(s)${net ? ` in network namespaces ${net.namespaceOf(1).replace(/1$/, 'N')}` : ''}; logs in ${join(demo, 'logs')}
  releases    1.0.0 and 1.1.0 (try: hubctl deploy 1.1.0 --fleet demo --phases 1,100%)
  Ctrl-C stops everything.
`);
  say('ready');
}

async function shutdown(why: string, code: number): Promise<never> {
  if (shuttingDown) return new Promise(() => {});
  shuttingDown = true;
  say(why);
  // Devices first (they leave containers running by design), then their containers, then the hub.
  for (const c of children.filter((c) => c !== hub)) await c.stop();
  const devicesDir = join(demo, 'devices');
  const known = new Set(await namespaces());
  for (const d of await readdir(devicesDir).catch(() => [] as string[])) {
    const i = Number(/^dev-(\d+)$/.exec(d)?.[1]);
    if (!Number.isInteger(i)) continue;
    const ns = net?.namespaceOf(i);
    await stopContainers(join(devicesDir, d, 'storage', 'containers'), ns && known.has(ns) ? ns : undefined);
  }
  await hub?.stop(40_000);
  // The agents mount each container's squashfs rootfs (a loop device) in the host's mount
  // namespace; stopped containers leave them mounted: release them, or every run leaks loops.
  await releaseMounts(devicesDir).catch((e: Error) => say(`could not release mounts: ${e.message}`));
  if (net) await net.tearDown();
  await rm(pidFile, { force: true }).catch(() => {});
  say('stopped');
  process.exit(code);
}

async function waitFor(proc: ManagedProcess, url: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (shuttingDown) return;
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (!proc.running) throw new Error(`the hub stopped while starting; see ${join(demo, 'logs/hub.log')}`);
    if (Date.now() > end)
      throw new Error(
        `${url} did not answer within ${timeoutMs / 1000} s; see ${join(demo, 'logs/hub.log')}`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}
