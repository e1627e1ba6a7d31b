// hubctl against a real hub process: every command a user runs, as a child process, with its
// exit code, output and the hub's own request counters as the witnesses.
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeMessage, topics } from '@fleet/protocol';
import mqtt from './support/mqtt-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildBusyboxImage,
  toDockerArchive,
} from '../../../device-agent/test/integration/helpers/oci-image.js';
import { push, startRegistry } from '../../../device-agent/test/integration/helpers/oci-registry.js';
import { hubctl, hubctlArgv, type HubctlRun } from './support/hubctl-process.js';
import { ADMIN_EMAIL, startHub, type RunningHub } from './support/hub-process.js';

let hub: RunningHub;
let work: string;
let env: NodeJS.ProcessEnv;
let adminToken: string;
const OBJECT_ROUTE = '/api/v1/objects/sha256/:hex';
interface Provisioned {
  deviceId: string;
  mqtt: { url: string; username: string; password: string; clientId: string };
}
let device: Provisioned;

const run = (...args: string[]) => hubctl(args, { env, cwd: work });
const json = <T>(r: HubctlRun): T => {
  expect(r.stderr === '' || r.code === 0, r.stderr).toBe(true);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as T;
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'hubctl-it-'));
  const [started] = await Promise.all([
    startHub(),
    buildBusyboxImage(join(work, 'image'), { platforms: [{ architecture: 'arm64' }] }).then((img) =>
      toDockerArchive(img, join(work, 'web.tar')),
    ),
  ]);
  hub = started;
  adminToken = await hub.tokenFor('admin');
  const { HUBCTL_URL: _u, HUBCTL_TOKEN: _t, ...rest } = process.env;
  env = { ...rest, HUBCTL_CONFIG: join(work, 'config', 'hubctl.json') };
});

afterAll(async () => {
  await hub?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('hubctl against a real hub', () => {
  it('refuses a wrong token at login and stores nothing', async () => {
    const r = await run('login', '--url', hub.url, '--token', 'fleet_not-a-real-token');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refused this token (401)');
    expect(r.stderr).toContain('nothing was stored');
    await expect(stat(env.HUBCTL_CONFIG!)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('logs in with a token from stdin, stores it 0600, and whoami reads it', async () => {
    const login = await hubctl(['login', '--url', hub.url, '--token-stdin'], {
      env,
      cwd: work,
      input: `${adminToken}\n`,
    });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`as ${ADMIN_EMAIL} (admin)`);
    expect((await stat(env.HUBCTL_CONFIG!)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(env.HUBCTL_CONFIG!, 'utf8'))).toMatchObject({
      hubUrl: hub.url,
      token: adminToken,
    });
    const me = json<{ email: string; role: string; hubUrl: string }>(await run('whoami', '--json'));
    expect(me).toMatchObject({ email: ADMIN_EMAIL, role: 'admin', hubUrl: hub.url });
    expect((await run('whoami')).stdout).toMatch(/user\s+admin@example.com/);
  });

  it('creates and lists fleets; a bad name is a usage error', async () => {
    const created = json<{ name: string; id: string }>(
      await run('fleets', 'create', 'lab', '--description', 'bench boards', '--json'),
    );
    expect(created.name).toBe('lab');
    const fleets = json<{ name: string; description: string }[]>(await run('fleets', 'ls', '--json'));
    expect(fleets.map((f) => f.name)).toContain('lab');
    expect((await run('fleets', 'ls')).stdout).toMatch(/^NAME\s+DEVICES/m);
    const bad = await run('fleets', 'create', 'Bad_Name');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('<name>: must be lower-case letters, digits and dashes');
    const dup = await run('fleets', 'create', 'lab');
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('409');
  });

  it('creates, lists and revokes claim tokens', async () => {
    const t = json<{ id: string; token: string; maxUses: number; tags: string[] }>(
      await run(
        'claim-tokens',
        'create',
        '--fleet',
        'lab',
        '--name',
        'line 2',
        '--max-uses',
        '3',
        '--tag',
        'site=lab',
        '--json',
      ),
    );
    expect(t.token.length).toBeGreaterThanOrEqual(16);
    expect(t).toMatchObject({ maxUses: 3, tags: ['site=lab'] });
    const listed = json<{ id: string; revokedAt: string | null }[]>(
      await run('claim-tokens', 'ls', '--fleet', 'lab', '--json'),
    );
    expect(listed.map((x) => x.id)).toEqual([t.id]);
    expect(JSON.stringify(listed)).not.toContain(t.token);
    expect((await run('claim-tokens', 'revoke', t.id)).code).toBe(0);
    const after = json<{ id: string; revokedAt: string | null }[]>(
      await run('claim-tokens', 'ls', '--fleet', 'lab', '--json'),
    );
    expect(after[0]!.revokedAt).not.toBeNull();
    expect((await run('claim-tokens', 'ls', '--fleet', 'lab')).stdout).toMatch(/revoked/);
    // A revoked token no longer provisions.
    const p = await provision(t.token, 'hw-revoked');
    expect(p.status).toBe(401);
    const bad = await run('claim-tokens', 'create', '--fleet', 'lab', '--name', 'x', '--max-uses', 'many');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--max-uses: must be a whole number');
  });

  it('lists, shows, tags and reboots a provisioned device; logs are empty', async () => {
    const t = json<{ token: string }>(
      await run('claim-tokens', 'create', '--fleet', 'lab', '--name', 'devices', '--json'),
    );
    const p = await provision(t.token, 'hw-0001');
    expect(p.status).toBe(200);
    device = (await p.json()) as Provisioned;
    const { deviceId } = device;
    const devices = json<{ id: string; hardwareId: string }[]>(
      await run('devices', 'ls', '--fleet', 'lab', '--json'),
    );
    expect(devices.map((d) => d.id)).toEqual([deviceId]);
    expect(json<{ hardwareId: string }>(await run('devices', 'show', deviceId, '--json')).hardwareId).toBe(
      'hw-0001',
    );
    expect((await run('devices', 'tag', deviceId, '--add', 'room=b12')).stdout).toContain(
      'updated tags on 1 device',
    );
    expect(json<{ tags: string[] }>(await run('devices', 'show', deviceId, '--json')).tags).toContain(
      'room=b12',
    );
    expect(
      json<{ id: string }[]>(await run('devices', 'ls', '--tag', 'room=b12', '--json')).map((d) => d.id),
    ).toEqual([deviceId]);
    expect(json<unknown[]>(await run('devices', 'ls', '--tag', 'room=nowhere', '--json'))).toEqual([]);
    const reboot = json<{ kind: string; deviceId: string }>(
      await run('devices', 'reboot', deviceId, '--json'),
    );
    expect(reboot).toMatchObject({ kind: 'reboot', deviceId });
    expect(json<unknown[]>(await run('devices', 'logs', deviceId, '--json'))).toEqual([]);
    const missing = await run('devices', 'show', '00000000-0000-4000-8000-000000000000');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('404');
    const notId = await run('devices', 'show', 'web-1');
    expect(notId.code).toBe(2);
    expect(notId.stderr).toContain('<id>: must be an id (uuid)');
  });

  it('follows device logs live through the event stream, after the recent ones, until Ctrl-C', async () => {
    const client = mqtt.connect(device.mqtt.url, {
      username: device.mqtt.username,
      password: device.mqtt.password,
      clientId: device.mqtt.clientId,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await new Promise((resolve, reject) => (client.once('connect', resolve), client.once('error', reject)));
    const send = async (text: string, source = 'web') => {
      const m = encodeMessage('logs', {
        lines: [{ time: new Date().toISOString(), source, stream: 'stdout', text }],
      });
      if (!m.ok) throw m.error;
      await client.publishAsync(topics.device(device.deviceId).logs, m.value.payload, { qos: 1 });
    };
    try {
      await send('before follow');
      for (
        let i = 0;
        i < 100 && !(await run('devices', 'logs', device.deviceId)).stdout.includes('before follow');
        i++
      )
        await new Promise((r) => setTimeout(r, 100));
      const recent = json<{ text: string; source: string }[]>(
        await run('devices', 'logs', device.deviceId, '--json'),
      );
      expect(recent).toEqual([expect.objectContaining({ text: 'before follow', source: 'web' })]);

      const child = spawn(
        process.execPath,
        hubctlArgv(['devices', 'logs', device.deviceId, '--follow', '--json', '--source', 'web']),
        { env, cwd: work, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
      // The stream is live once a line sent after the start shows up; until then keep sending.
      for (let i = 0; i < 150 && !out.includes('live '); i++) {
        await send(`live ${i}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      await send('from the agent', 'agent');
      await send('last line');
      for (let i = 0; i < 100 && !out.includes('last line'); i++)
        await new Promise((r) => setTimeout(r, 100));
      child.kill('SIGINT');
      expect(await exited, err).toBe(130);
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { text: string; source: string });
      expect(lines[0]!.text).toBe('before follow');
      expect(lines.filter((l) => l.text === 'before follow')).toHaveLength(1);
      expect(lines.at(-1)!.text).toBe('last line');
      expect(lines.some((l) => l.text.startsWith('live '))).toBe(true);
      expect(lines.every((l) => l.source === 'web')).toBe(true);
    } finally {
      client.end(true);
    }
  });

  it('creates a signing key: private part 0600 here, public part on the hub', async () => {
    const k = json<{ keyId: string; file: string }>(
      await run('keys', 'create', '--name', 'ci', '--default', '--json'),
    );
    expect((await stat(k.file)).mode & 0o777).toBe(0o600);
    const keys = json<{ keyId: string; onHub: boolean; privateKeyHere: boolean; default: boolean }[]>(
      await run('keys', 'ls', '--json'),
    );
    expect(keys).toEqual([
      expect.objectContaining({ keyId: k.keyId, onHub: true, privateKeyHere: true, default: true }),
    ]);
  });

  it('a viewer cannot register keys and is told why', async () => {
    const viewer = await hub.tokenFor('viewer');
    const r = await hubctl(['keys', 'create', '--name', 'nope'], {
      env: { ...env, HUBCTL_URL: hub.url, HUBCTL_TOKEN: viewer },
      cwd: work,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('403');
    expect(r.stderr).toContain('role or scopes');
    // The refused key was not kept as if it were usable.
    expect(json<{ name: string }[]>(await run('keys', 'ls', '--json')).map((k) => k.name)).toEqual(['ci']);
  });

  it('publishes a release from an OCI layout, then the same image from a docker-archive tarball that uploads nothing', async () => {
    await writeFile(
      join(work, 'release.yaml'),
      [
        'version: 1.0.0',
        'notes: first',
        'boards: [qemu-aarch64]',
        'minAgentVersion: 0.1.0',
        'containers:',
        '  web:',
        '    image: ./image/oci',
        '    restart: { policy: on-failure, maxRetries: 3 }',
        '    network: bridge',
        '    start:',
        '      env: { MODE: prod }',
        '    volumes:',
        '      - { name: data, path: /var/lib/data, persistence: permanent }',
        '',
      ].join('\n'),
    );
    const before = await hub.requestCounts(OBJECT_ROUTE);
    const first = await run('release', 'create', '-f', 'release.yaml', '--json');
    const r1 = json<{
      version: string;
      sequence: number;
      created: boolean;
      objects: { total: number; uploaded: number; alreadyOnHub: number; uploadedBytes: number };
    }>(first);
    expect(r1).toMatchObject({
      version: '1.0.0',
      sequence: 1,
      created: true,
      objects: { total: 1, uploaded: 1, alreadyOnHub: 0 },
    });
    expect(r1.objects.uploadedBytes).toBeGreaterThan(0);
    expect(first.stderr).toContain('converting web');
    const mid = await hub.requestCounts(OBJECT_ROUTE);
    expect((mid.HEAD ?? 0) - (before.HEAD ?? 0)).toBe(1);
    expect((mid.PUT ?? 0) - (before.PUT ?? 0)).toBe(1);

    await writeFile(
      join(work, 'release2.yaml'),
      (await readFile(join(work, 'release.yaml'), 'utf8'))
        .replace('1.0.0', '1.1.0')
        .replace('notes: first', 'notes: second')
        // The same image as a docker-archive tarball: another source, the same root filesystem.
        .replace('image: ./image/oci', 'image: ./web.tar'),
    );
    const r2 = json<{
      version: string;
      sequence: number;
      objects: { uploaded: number; alreadyOnHub: number; uploadedBytes: number };
    }>(await run('release', 'create', '-f', 'release2.yaml', '--json'));
    expect(r2).toMatchObject({
      version: '1.1.0',
      sequence: 2,
      objects: { uploaded: 0, alreadyOnHub: 1, uploadedBytes: 0 },
    });
    const after = await hub.requestCounts(OBJECT_ROUTE);
    expect((after.HEAD ?? 0) - (mid.HEAD ?? 0)).toBe(1);
    expect(after.PUT ?? 0).toBe(mid.PUT ?? 0);

    const fromArchive = json<{
      manifest: { containers: Record<string, { image: { ref: string }; rootfs: { digest: string } }> };
    }>(await run('releases', 'show', '1.1.0', '--json'));
    expect(fromArchive.manifest.containers.web!.image.ref).toMatch(/^docker-archive:\//);

    // The same file again: same sequence, identical manifest, nothing uploaded, nothing new.
    const again = json<{
      version: string;
      sequence: number;
      created: boolean;
      objects: { uploaded: number };
    }>(await run('release', 'create', '-f', 'release.yaml', '--json'));
    expect(again).toMatchObject({ version: '1.0.0', sequence: 1, created: false, objects: { uploaded: 0 } });
    expect((await hub.requestCounts(OBJECT_ROUTE)).PUT ?? 0).toBe(mid.PUT ?? 0);

    const shown = json<{
      manifest: {
        containers: Record<
          string,
          {
            restart: { policy: string };
            start: { env: Record<string, string> };
            network: string;
            rootfs: { digest: string };
          }
        >;
      };
      signedBy: string[];
    }>(await run('releases', 'show', '1.0.0', '--json'));
    const web = shown.manifest.containers.web!;
    expect(web.restart.policy).toBe('on-failure');
    expect(web.network).toBe('bridge');
    // The image's env survives, the file's is merged over it.
    expect(web.start.env).toMatchObject({ MODE: 'prod', GREETING: 'hello world' });
    expect(shown.signedBy).toHaveLength(1);
    expect((await run('releases', 'show', '1.0.0')).stdout).toMatch(/CONTAINER\s+IMAGE/);
  });

  it('publishes a release from a registry reference (a real docker-registry, plain HTTP)', async () => {
    const registry = await startRegistry(join(work, 'registry'));
    try {
      await push(`oci:${join(work, 'image', 'oci')}:latest`, `${registry.host}/public/web:1`);
      await writeFile(
        join(work, 'registry.yaml'),
        `version: 1.2.0\nboards: [qemu-aarch64]\ncontainers:\n  web:\n    image: ${registry.host}/public/web:1\n`,
      );
      const plain = await run('release', 'create', '-f', 'registry.yaml', '--registry-http', '--json');
      const r = json<{
        version: string;
        sequence: number;
        objects: { uploaded: number; alreadyOnHub: number };
      }>(plain);
      // Same layers as the OCI layout: same root filesystem, already on the hub.
      expect(r).toMatchObject({ version: '1.2.0', sequence: 3, objects: { uploaded: 0, alreadyOnHub: 1 } });
      const shown = json<{
        manifest: { containers: Record<string, { image: { ref: string; digest: string } }> };
      }>(await run('releases', 'show', '1.2.0', '--json'));
      expect(shown.manifest.containers.web!.image.ref).toContain(`${registry.host}/public/web`);
      const noPassword = await run('release', 'create', '-f', 'registry.yaml', '--registry-user', 'fleet');
      expect(noPassword.code).toBe(2);
      expect(noPassword.stderr).toContain('HUBCTL_REGISTRY_PASSWORD');
    } finally {
      await registry.stop();
    }
  });

  it('lists and yanks releases', async () => {
    expect(json<{ version: string }[]>(await run('releases', 'ls', '--json')).map((r) => r.version)).toEqual([
      '1.2.0',
      '1.1.0',
      '1.0.0',
    ]);
    const y = await run('releases', 'yank', '1.0.0', '--reason', 'broke the web page');
    expect(y.code, y.stderr).toBe(0);
    expect(json<{ version: string }[]>(await run('releases', 'ls', '--json')).map((r) => r.version)).toEqual([
      '1.2.0',
      '1.1.0',
    ]);
    const all = json<{ version: string; yankReason: string | null }[]>(
      await run('releases', 'ls', '--include-yanked', '--json'),
    );
    expect(all.find((r) => r.version === '1.0.0')?.yankReason).toBe('broke the web page');
    const noReason = await run('releases', 'yank', '1.1.0');
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--reason: is required');
  });

  it('reports an unknown release with what to do', async () => {
    const r = await run('releases', 'show', '9.9.9');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no release 9.9.9');
    expect(r.stderr).toContain('`ls`');
    expect(r.stdout).toBe('');
  });

  it('names the line of a malformed or invalid release file and publishes nothing', async () => {
    const before = await hub.requestCounts(OBJECT_ROUTE);
    await writeFile(
      join(work, 'broken.yaml'),
      'version: 2.0.0\nboards: [qemu-aarch64\ncontainers:\n  web: { image: ./image/oci }\n',
    );
    const broken = await run('release', 'create', '-f', 'broken.yaml');
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/broken\.yaml:\d+:\d+: /);
    await writeFile(
      join(work, 'invalid.yaml'),
      'version: 2.0.0\nboards: [qemu-aarch64]\ncontainers:\n  web:\n    image: ./image/oci\n    restart:\n      policy: sometimes\n',
    );
    const invalid = await run('release', 'create', '-f', 'invalid.yaml');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/invalid\.yaml:7:\d+: containers\.web\.restart\.policy: /);
    await writeFile(
      join(work, 'missing.yaml'),
      'version: 2.0.0\nboards: [qemu-aarch64]\ncontainers:\n  web:\n    image: ./no-such-layout\n',
    );
    const missing = await run('release', 'create', '-f', 'missing.yaml');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /missing\.yaml:5:\d+: containers\.web\.image: .*no-such-layout does not exist/,
    );
    const noFile = await run('release', 'create');
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('--file: is required');
    expect(
      json<{ version: string }[]>(await run('releases', 'ls', '--include-yanked', '--json')),
    ).toHaveLength(3);
    expect(await hub.requestCounts(OBJECT_ROUTE)).toEqual(before);
  });

  it('flashes an image with the images package (to a file target), verified by read-back', async () => {
    const img = join(work, 'disk.img');
    const target = join(work, 'card.bin');
    const content = randomBytes(3 << 20);
    await writeFile(img, content);
    await writeFile(target, Buffer.alloc(4 << 20, 0xff));
    const r = json<{ bytesWritten: number; usedBmap: boolean }>(
      await run('image', 'flash', img, target, '--json'),
    );
    expect(r).toMatchObject({ bytesWritten: content.length, usedBmap: false });
    expect((await readFile(target)).subarray(0, content.length).equals(content)).toBe(true);
    const board = await run(
      'image',
      'build',
      '--board',
      'no-such-board',
      '--claim-token',
      'a-claim-token-of-16+',
      '--hub',
      hub.url,
      '--out',
      join(work, 'out'),
    );
    expect(board.code).toBe(1);
    expect(board.stderr).toContain('unknown board "no-such-board"');
    const self = await run('image', 'flash', img, img);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('is the image itself');
  });

  it('a revoked or wrong token is refused with a login hint; unknown options are usage errors', async () => {
    const r = await hubctl(['whoami'], {
      env: { ...env, HUBCTL_URL: hub.url, HUBCTL_TOKEN: 'fleet_wrong' },
      cwd: work,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('401');
    expect(r.stderr).toContain('hubctl login');
    const unknown = await run('fleets', 'ls', '--colour');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--colour'");
    const down = await hubctl(['fleets', 'ls'], {
      env: { ...env, HUBCTL_URL: 'http://127.0.0.1:9', HUBCTL_TOKEN: adminToken },
      cwd: work,
    });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('cannot reach the hub at http://127.0.0.1:9');
  });
});

function provision(claimToken: string, hardwareId: string): Promise<Response> {
  const raw = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }).subarray(-32);
  return fetch(`${hub.url}/api/v1/provision`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      claimToken,
      hardwareId,
      publicKey: raw.toString('base64'),
      board: 'qemu-aarch64',
      agentVersion: '0.1.0',
    }),
  });
}
