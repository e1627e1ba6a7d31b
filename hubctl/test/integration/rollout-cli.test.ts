// hubctl deploy / rollouts / apply / env as a user runs them (child processes) against a real
// hub process (its own Postgres database, embedded broker) with protocol-faithful simulated
// devices provisioned through the hub's /api/v1/provision.
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSigningKey, ReleaseManifest, signManifest } from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRng } from '../../../test/sim/rng.js';
import { SimulatedDevice } from '../../../test/sim/simulated-device.js';
import { DEFAULT_BEHAVIOUR } from '../../../test/sim/update-plan.js';
import { hubctl, type HubctlRun } from './support/hubctl-process.js';
import { startHub, type RunningHub } from './support/hub-process.js';

let hub: RunningHub;
let token: string;
let work: string;
let env: NodeJS.ProcessEnv;
const devices: SimulatedDevice[] = [];
const key = generateSigningKey('cli rollouts');
const run = (...args: string[]) => hubctl(args, { env, cwd: work });
const ok = (r: HubctlRun) => {
  expect(r.code, r.stderr).toBe(0);
  return r;
};

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(`${hub.url}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

async function release(version: string, sequence: number, size: number): Promise<void> {
  const data = randomBytes(size);
  const hex = createHash('sha256').update(data).digest('hex');
  const put = await fetch(`${hub.url}/api/v1/objects/sha256/${hex}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
    body: data,
  });
  expect(put.status).toBe(201);
  const m = signManifest(
    ReleaseManifest.parse(
      aRelease({
        version,
        release: version,
        sequence,
        containers: { web: aContainer({ rootfs: { digest: `sha256:${hex}`, size } }) },
      }),
    ),
    key,
  );
  await api('POST', '/releases', m);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'hubctl-rollouts-'));
  hub = await startHub();
  token = await hub.tokenFor('admin');
  const { HUBCTL_CONFIG: _c, ...rest } = process.env;
  env = { ...rest, HUBCTL_URL: hub.url, HUBCTL_TOKEN: token };
  await api('POST', '/keys', { name: 'cli rollouts', publicKey: key.trustRoot.publicKey });
  const fleet = await api<{ id: string }>('POST', '/fleets', { name: 'cli' });
  const claim = await api<{ token: string }>('POST', `/fleets/${fleet.id}/claim-tokens`, { name: 'lab' });
  for (let i = 0; i < 3; i++) {
    const der = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
    const p = await api<{
      deviceId: string;
      mqtt: { url: string; username: string; password: string; clientId: string };
    }>('POST', '/provision', {
      claimToken: claim.token,
      hardwareId: `cli-${i}`,
      publicKey: der.subarray(der.length - 32).toString('base64'),
      board: 'qemu-aarch64',
      agentVersion: '0.1.0',
    });
    const d = new SimulatedDevice({
      credentials: {
        deviceId: p.deviceId,
        mqttUrl: p.mqtt.url,
        username: p.mqtt.username,
        password: p.mqtt.password,
        clientId: p.mqtt.clientId,
      },
      board: 'qemu-aarch64',
      agentVersion: '0.1.0',
      protocolVersion: 4,
      behaviour: {
        ...DEFAULT_BEHAVIOUR,
        downloadBytesPerSecond: 16 * 1024 * 1024,
        installMs: 50,
        testMs: 100,
      },
      rng: seededRng(i + 1),
      telemetryIntervalMs: 0,
      storageBytes: 1024 ** 3,
    });
    await d.connect();
    devices.push(d);
  }
  await release('1.0.0', 1, 30_000);
  await release('1.1.0', 2, 20_000);
  // Every device reported its (empty) inventory before the dry run.
  for (let i = 0; i < 100; i++) {
    const list = await api<{ items: Array<{ id: string }> }>('GET', `/devices?fleetId=${fleet.id}`);
    const details = await Promise.all(
      list.items.map((d) => api<{ inventory: Record<string, unknown> }>('GET', `/devices/${d.id}`)),
    );
    if (details.length === 3 && details.every((d) => 'objects' in d.inventory)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(async () => {
  for (const d of devices) await d.stop().catch(() => {});
  await hub?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('hubctl rollouts', () => {
  it('deploy --dry-run predicts the download per device and changes nothing', async () => {
    const r = ok(await run('deploy', '1.0.0', '--fleet', 'cli', '--phases', '1,100%', '--dry-run', '--json'));
    const report = JSON.parse(r.stdout) as {
      summary: { devices: number; eligible: number; downloadBytes: number; phaseSizes: number[] };
    };
    expect(report.summary).toMatchObject({
      devices: 3,
      eligible: 3,
      downloadBytes: 90_000,
      phaseSizes: [1, 2],
    });
    const text = ok(await run('deploy', '1.0.0', '--fleet', 'cli', '--dry-run'));
    expect(text.stdout).toContain('3 devices targeted, 3 eligible, 87.9 KiB to download in total');
    expect(JSON.parse(ok(await run('rollouts', 'ls', '--json')).stdout)).toEqual([]);
  });

  it('deploy --wait follows the phases to completed and exits 0', async () => {
    const r = ok(
      await run(
        'deploy',
        '1.0.0',
        '--fleet',
        'cli',
        '--phases',
        '1,100%',
        '--bake',
        '1s',
        '--device-bake',
        '1s',
        '--name',
        'first',
        '--wait',
      ),
    );
    expect(r.stderr).toMatch(/rollout \S+ of 1\.0\.0 to cli: 1 → 2 devices/);
    expect(r.stdout).toMatch(/^completed, phase 2\/2: 3\/3 succeeded/);
    const ls = JSON.parse(ok(await run('rollouts', 'ls', '--json')).stdout) as Array<{
      name: string;
      state: string;
    }>;
    expect(ls).toEqual([expect.objectContaining({ name: 'first', state: 'completed' })]);
    const show = ok(await run('rollouts', 'show', 'first', '--devices'));
    expect(show.stdout).toMatch(/state\s+completed/);
    expect(
      show.stdout.split('\n').filter((l) => / succeeded/.test(l) && /^[0-9a-f-]{36}/.test(l)),
    ).toHaveLength(3);
  });

  it('apply -f is declarative: created, then unchanged, then updated; fixed fields are refused', async () => {
    const file = join(work, 'rollout.yaml');
    const yaml = (maxFailures: string, rel = '1.1.0') =>
      `kind: Rollout\nname: second\nrelease: ${rel}\nfleet: cli\nphases: [1, 100%]\nbake: 1s\ndeviceBake: 1s\nmaxFailures: ${maxFailures}\n`;
    await writeFile(file, yaml('5%'));
    expect(ok(await run('apply', '-f', file)).stdout).toMatch(/^rollout second created/);
    expect(ok(await run('apply', '-f', file)).stdout).toMatch(/^rollout second unchanged/);
    await writeFile(file, yaml('10%'));
    expect(ok(await run('apply', '-f', file)).stdout).toMatch(/^rollout second updated/);
    await writeFile(file, yaml('10%', '1.0.0'));
    const fixed = await run('apply', '-f', file);
    expect(fixed.code).toBe(1);
    expect(fixed.stderr).toContain(
      'rollout second exists with another release; these are fixed once created: use a new name',
    );
    await writeFile(file, 'kind: Rollout\nname: Bad Name\nfleet: cli\n');
    const bad = await run('apply', '-f', file);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('name: lower-case letters');
    expect(bad.stderr).toContain('release:');
    expect(ok(await run('rollouts', 'watch', 'second')).stdout).toMatch(/^completed/);
  });

  it('rollback and the other actions go through the state table, with clear refusals', async () => {
    const rb = ok(await run('rollouts', 'rollback', 'second', '--reason', 'test'));
    expect(rb.stdout).toContain('rolled-back');
    const again = await run('rollouts', 'rollback', 'second');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('cannot rollback a rollout that is rolled-back');
    const pause = await run('rollouts', 'pause', 'first');
    expect(pause.code).toBe(1);
    expect(pause.stderr).toContain('cannot pause a rollout that is completed');
    const missing = await run('rollouts', 'show', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no rollout nope');
  });

  it('env set|ls|unset reach the devices without a release; bad input is refused before any request', async () => {
    const set = ok(await run('env', 'set', 'web', 'GREETING=hello world', '--fleet', 'cli'));
    expect(set.stdout).toBe('web: GREETING set (version 1; sent to 3 devices)\n');
    const ls = JSON.parse(ok(await run('env', 'ls', '--fleet', 'cli', '--json')).stdout) as {
      variables: Array<{ name: string; value: string }>;
    };
    expect(ls.variables).toEqual([expect.objectContaining({ name: 'GREETING', value: 'hello world' })]);
    expect(ok(await run('env', 'unset', 'web', 'GREETING', '--fleet', 'cli')).stdout).toContain(
      'removed (version 2',
    );
    const noScope = await run('env', 'set', 'web', 'A=1');
    expect(noScope.code).toBe(2);
    expect(noScope.stderr).toContain('give exactly one of --fleet <fleet> or --device <id>');
    const noEquals = await run('env', 'set', 'web', 'NOVALUE', '--fleet', 'cli');
    expect(noEquals.code).toBe(2);
    expect(noEquals.stderr).toContain('must be NAME=value');
  });

  it('deploy refuses bad phases and thresholds naming the option', async () => {
    const phases = await run('deploy', '1.1.0', '--fleet', 'cli', '--phases', '1,abc');
    expect(phases.code).toBe(1);
    expect(phases.stderr).toContain('--phases: phase 2 "abc" is neither a device count');
    const pct = await run('deploy', '1.1.0', '--fleet', 'cli', '--max-failures', '150%');
    expect(pct.code).toBe(2);
    expect(pct.stderr).toContain('must be at most 100%');
    const noFleet = await run('deploy', '9.9.9', '--fleet', 'cli', '--dry-run');
    expect(noFleet.code).toBe(1);
    expect(noFleet.stderr).toContain('no release 9.9.9');
  });
});
