// A real fleet-agent as a child process for integration tests: its config in a temp storage
// dir, a provisioning endpoint (node:http, the hub's one route the link needs at first boot),
// the test's Mosquitto, and the CLI run the way an operator runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { link, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ReleaseManifest,
  signManifest,
  type AgentConfigInput,
  type ProvisionResponse,
  type SigningKey,
} from '@fleet/protocol';

export const PKG = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const BUNDLE = join(PKG, 'dist/bundle/fleet-agent.mjs');
export const SIMULATED_REBOOT_EXIT = 75;

/**
 * How the agent is started: the device bundle (what runs on a board), rebuilt from the current
 * source by `prepareAgent()`; or from TS source via tsx with FLEET_AGENT_FROM_SOURCE=1.
 */
export function agentCommand(): { cmd: string; args: string[]; via: 'bundle' | 'tsx' } {
  if (process.env.FLEET_AGENT_FROM_SOURCE !== '1')
    return { cmd: process.execPath, args: [BUNDLE], via: 'bundle' };
  return {
    cmd: process.execPath,
    args: ['--conditions=fleet-source', '--import', 'tsx', join(PKG, 'src/cli/bin.ts')],
    via: 'tsx',
  };
}

let bundling: Promise<void> | null = null;
/** Builds dist/bundle from the current source once per test process (esbuild: a second or two). */
export function prepareAgent(): Promise<void> {
  if (process.env.FLEET_AGENT_FROM_SOURCE === '1') return Promise.resolve();
  bundling ??= new Promise<void>((resolvePromise, reject) => {
    const p = spawn(process.execPath, [join(PKG, 'scripts/bundle.mjs')], {
      cwd: PKG,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code) =>
      code === 0 && existsSync(BUNDLE)
        ? resolvePromise()
        : reject(new Error(`bundle build failed (${code}): ${err}`)),
    );
  });
  return bundling;
}

/** POST /api/v1/provision answers every claim with credentials for the test broker. */
export async function provisionServer(
  mqttUrl: string,
): Promise<{ url: string; server: Server; requests: number }> {
  const state = { requests: 0 };
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/api/v1/provision') {
      res.writeHead(404).end();
      return;
    }
    req.resume();
    req.on('end', () => {
      state.requests++;
      const id = `dev-${randomUUID().slice(0, 8)}`;
      const body: ProvisionResponse = {
        deviceId: id,
        fleetId: 'fleet-test',
        mqtt: { url: mqttUrl, username: id, password: 'secret-password', clientId: id, protocolVersion: 5 },
        objectBaseUrl: 'http://127.0.0.1:9/objects',
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    get requests() {
      return state.requests;
    },
  };
}

export async function writeAgentConfig(
  storageDir: string,
  hubUrl: string,
  trust: SigningKey,
  extra: Partial<AgentConfigInput> = {},
): Promise<string> {
  await mkdir(storageDir, { recursive: true });
  const path = join(
    storageDir,
    '..',
    `agent-${createHash('sha256').update(storageDir).digest('hex').slice(0, 8)}.json`,
  );
  const cfg: AgentConfigInput = {
    hubUrl,
    claimToken: 'claim-token-for-tests-0123456789',
    trustRoots: [trust.trustRoot],
    board: 'qemu-aarch64',
    storageDir,
    intervals: { telemetryMs: 60_000, reportMs: 1_000, logFlushMs: 200 },
    bakeSeconds: 0,
    bootControl: 'file',
    ...extra,
  };
  await writeFile(path, JSON.stringify(cfg, null, 2));
  return path;
}

export interface AgentProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

export function startAgentProcess(
  configPath: string,
  opts: { env?: Record<string, string>; args?: string[] } = {},
): AgentProcess {
  const { cmd, args } = agentCommand();
  const child = spawn(cmd, [...args, 'run', '--config', configPath, ...(opts.args ?? [])], {
    cwd: PKG,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
    if (process.env.FLEET_AGENT_TRACE) process.stderr.write(d);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  return { child, exited, output: () => out };
}

export async function cli(
  configPath: string,
  argv: string[],
  timeoutMs = 120_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { cmd, args } = agentCommand();
  const child = spawn(cmd, [...args, ...argv, '--config', configPath], {
    cwd: PKG,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A local install directory: `release.json` (signed) and `objects/sha256/<hex>` hard links. */
export async function revisionDir(
  dir: string,
  release: ReleaseManifest,
  key: SigningKey,
  objects: Record<string, string>,
): Promise<string> {
  await mkdir(join(dir, 'objects', 'sha256'), { recursive: true });
  const signed = signManifest(ReleaseManifest.parse(release), key);
  await writeFile(join(dir, 'release.json'), JSON.stringify(signed, null, 2));
  for (const [digest, path] of Object.entries(objects)) {
    const target = join(dir, 'objects', 'sha256', digest.slice('sha256:'.length));
    if (!existsSync(target)) await link(path, target);
  }
  return dir;
}

export async function sha256Of(path: string): Promise<string> {
  return `sha256:${createHash('sha256')
    .update(await readFile(path))
    .digest('hex')}`;
}
