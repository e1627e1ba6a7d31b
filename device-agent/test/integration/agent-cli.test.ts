// The whole agent as a real child process (the device bundle when built, else tsx): local
// install through the CLI, status and logs, adoption after SIGKILL, and a hub target over a
// real Mosquitto (signed, progress in order) next to a badly signed one that changes nothing.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  encodeMessage,
  generateSigningKey,
  ReleaseManifest,
  signManifest,
  topics,
  type Command,
  type Progress,
  type Target,
} from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import { connectAsync, type MqttClient } from './helpers/mqtt-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  agentCommand,
  prepareAgent,
  cli,
  PKG,
  provisionServer,
  revisionDir,
  sha256Of,
  startAgentProcess,
  writeAgentConfig,
  type AgentProcess,
} from './helpers/agent-harness.js';
import { ApiClient, type ApiError } from '../../src/api/client.js';
import { Liblxc } from '../../src/runtime/lxc/liblxc.js';
import { LxcRuntime } from '../../src/runtime/lxc/lxc-runtime.js';
import { StarterClient } from '../../src/runtime/lxc/starter.js';
import { Observer, waitFor } from './helpers/link-fixtures.js';
import { buildBusyboxImage, toDockerArchive } from './helpers/oci-image.js';
import { TestMosquitto } from './helpers/link-mosquitto.js';
import { buildBusyboxRootfs, buildSquashfs, tempDir } from './helpers/rootfs.js';

const key = generateSigningKey('agent-test');
const stranger = generateSigningKey('not-trusted');

let tmp: Awaited<ReturnType<typeof tempDir>>;
let broker: TestMosquitto;
let prov: Awaited<ReturnType<typeof provisionServer>>;
let objectServer: Server;
let objectBase: string;
let configPath: string;
let storage: string;
let agent: AgentProcess | null = null;
let rootfs: { digest: string; size: number; path: string };
let rootfs2: { digest: string; size: number; path: string };
let mqtt: MqttClient;

interface Row {
  name: string;
  instance: string;
  state: string;
  initPid: number | null;
}

const web = (version: string, fs: typeof rootfs) =>
  aContainer({
    rootfs: { digest: fs.digest, size: fs.size },
    image: { ref: 'busybox', digest: fs.digest },
    statusGoal: 'ready',
    network: 'none',
    health: {
      exec: ['/bin/wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:80/'],
      intervalMs: 200,
      timeoutMs: 2_000,
      retries: 2,
      startPeriodMs: 0,
    },
    volumes: [{ name: 'data', path: '/data', persistence: 'permanent' }],
    start: {
      entrypoint: ['/bin/sh', '-c'],
      cmd: [
        'echo "hello from $VERSION"; (while true; do echo "tick $VERSION"; sleep 1; done) & exec httpd -f -p 80 -h /www',
      ],
      env: { VERSION: version },
    },
  });

function release(sequence: number, fs: typeof rootfs, signer = key): ReleaseManifest {
  return signManifest(
    ReleaseManifest.parse(
      aRelease({
        version: `${sequence}.0.0`,
        sequence,
        release: `r${sequence}`,
        containers: { web: web(`v${sequence}`, fs) },
      }),
    ),
    signer,
  );
}

async function status(): Promise<{
  committed: { sequence: number } | null;
  updateState: string;
  hub: { deviceId: string | null; connected: boolean };
  containers: Row[];
}> {
  const r = await cli(configPath, ['status', '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

async function lxcInstances(): Promise<string[]> {
  const out = await new Promise<string>((resolve) => {
    const p = spawn('lxc-ls', ['-P', join(storage, 'containers'), '-1'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let s = '';
    p.stdout.on('data', (d: Buffer) => (s += d.toString()));
    p.on('exit', () => resolve(s));
  });
  return out.split(/\s+/).filter(Boolean).sort();
}

async function lxcRunning(): Promise<string[]> {
  const out = await new Promise<string>((resolve) => {
    const p = spawn('lxc-ls', ['-P', join(storage, 'containers'), '--running', '-1'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let s = '';
    p.stdout.on('data', (d: Buffer) => (s += d.toString()));
    p.on('exit', () => resolve(s));
  });
  return out.split(/\s+/).filter(Boolean).sort();
}

async function waitUp(): Promise<void> {
  await waitFor('agent socket', async () => (await cli(configPath, ['status', '--json'])).code === 0, 60_000);
}

beforeAll(async () => {
  tmp = await tempDir('fleet-agent-');
  storage = join(tmp.path, 'storage');
  broker = await TestMosquitto.create();
  prov = await provisionServer(broker.url);
  for (const [i, html] of ['one', 'two'].entries()) {
    const tree = await buildBusyboxRootfs(join(tmp.path, `rootfs-${i}`), { indexHtml: `${html}\n` });
    const path = await buildSquashfs(tree, join(tmp.path, `rootfs-${i}.sqfs`));
    const fs = { digest: await sha256Of(path), size: (await stat(path)).size, path };
    if (i === 0) rootfs = fs;
    else rootfs2 = fs;
  }
  // The hub's object endpoint, as far as the device sees it: GET <base>/sha256/<hex>.
  objectServer = createServer((req, res) => {
    const hex = /\/sha256\/([0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
    const fs = [rootfs, rootfs2].find((f) => f.digest === `sha256:${hex}`);
    if (!fs) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': fs.size });
    createReadStream(fs.path).pipe(res);
  });
  await new Promise<void>((r) => objectServer.listen(0, '127.0.0.1', () => r()));
  const addr = objectServer.address();
  objectBase = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/objects`;
  configPath = await writeAgentConfig(storage, prov.url, key);
  mqtt = await connectAsync(broker.url, { clientId: 'test-hub', protocolVersion: 5 });
  await prepareAgent();
  console.log(`agent runs via ${agentCommand().via}`);
  agent = startAgentProcess(configPath, { args: ['--poll-ms', '100', '--goal-timeout-ms', '20000'] });
  await waitUp();
}, 180_000);

afterAll(async () => {
  if (agent) {
    agent.child.kill('SIGTERM');
    await agent.exited;
  }
  // The agent leaves its containers running by design; the test removes them (with their
  // squashfs and overlay mounts) through the runtime.
  const starter = new StarterClient();
  const runtime = new LxcRuntime({ lxc: Liblxc.load(), starter, lxcpath: join(storage, 'containers') });
  for (const c of await runtime.list().catch(() => [])) await runtime.remove(c.name).catch(() => undefined);
  await starter.close();
  await mqtt?.endAsync(true);
  await new Promise((r) => objectServer?.close(r));
  await new Promise((r) => prov?.server.close(r));
  await broker?.destroy();
  await tmp?.cleanup().catch(() => undefined);
}, 120_000);

describe('fleet-agent (real process, real LXC, real Mosquitto)', () => {
  it('installs a local revision with `install <dir>`: busybox httpd reaches ready', async () => {
    const dir = await revisionDir(join(tmp.path, 'rev1'), release(1, rootfs), key, {
      [rootfs.digest]: rootfs.path,
    });
    const r = await cli(configPath, ['install', dir, '--bake-seconds', '0']);
    expect(r.code, `${r.stdout}\n${r.stderr}\n${agent?.output().slice(-3000)}`).toBe(0);
    expect(r.stdout).toMatch(/idle\s+succeeded/);
    const s = await status();
    expect(s.committed?.sequence).toBe(1);
    expect(s.updateState).toBe('idle');
    expect(s.containers.map((c) => [c.name, c.state])).toEqual([['web', 'ready']]);
  });

  it('answers `status` for humans and `logs` with the container console, following new lines with -f', async () => {
    const human = await cli(configPath, ['status']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/revision\s+1\.0\.0 \(sequence 1/);
    expect(human.stdout).toMatch(/web\s+ready/);
    const logs = await cli(configPath, ['logs', 'web']);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('hello from v1');

    const { cmd, args } = agentCommand();
    const follow = spawn(cmd, [...args, 'logs', '-f', '--tail', '0', 'web', '--config', configPath], {
      cwd: PKG,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let streamed = '';
    follow.stdout.on('data', (d: Buffer) => (streamed += d.toString()));
    // Only lines written after the follow began arrive (tail 0): the ticker's.
    await waitFor('a followed line', () => streamed.includes('tick v1'), 20_000);
    follow.kill('SIGINT');
    await new Promise((r) => follow.on('exit', r));
  });

  it('refuses bad CLI input with a clear message and a non-zero exit', async () => {
    const missing = await cli(configPath, ['install', join(tmp.path, 'nowhere')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read .*nowhere\/release\.json/);
    const unknown = await cli(configPath, ['logs', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no container named "nope"');
    const usage = await cli(configPath, ['install', tmp.path, '--strategy', 'sideways']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--strategy is stop-start or hand-over');
    // A release signed by a key the device does not trust: refused, nothing changes.
    const before = await status();
    const dir = await revisionDir(join(tmp.path, 'rev-untrusted'), release(5, rootfs, stranger), stranger, {
      [rootfs.digest]: rootfs.path,
    });
    const bad = await cli(configPath, ['install', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/failed \((unknown-signing-key|signature-invalid)\)/);
    const after = await status();
    expect(after.committed).toEqual(before.committed);
    expect(after.containers.map((c) => [c.instance, c.initPid])).toEqual(
      before.containers.map((c) => [c.instance, c.initPid]),
    );
  });

  it('answers bad API input with 4xx and the field named', async () => {
    const api = new ApiClient(join(storage, 'agent.sock'));
    const err = (p: Promise<unknown>) =>
      p.then(
        () => null,
        (e: ApiError) => e,
      );
    const relative = await err(api.json('POST', '/v1/install', { dir: 'relative/dir' }));
    expect(relative?.status).toBe(400);
    expect(relative?.message).toContain('$.dir: must be an absolute path');
    const extra = await err(api.json('POST', '/v1/install', { dir: '/x', colour: 'blue' }));
    expect(extra?.status).toBe(400);
    expect(extra?.message).toMatch(/colour/);
    const action = await err(api.json('POST', '/v1/containers/web/explode'));
    expect(action?.status).toBe(400);
    const endpoint = await err(api.json('GET', '/v1/nothing'));
    expect(endpoint?.status).toBe(404);
    const query = await err(api.json('GET', '/v1/containers/web/logs?tail=-5'));
    expect(query?.status).toBe(400);
    expect(query?.message).toContain('$.tail');
    const image = await err(
      api.json('POST', '/v1/images/import', { ref: `oci:${join(tmp.path, 'no-such-layout')}` }),
    );
    expect(image?.status).toBe(422);
    // Nothing changed on the device.
    expect((await status()).containers.map((c) => c.state)).toEqual(['ready']);
  });

  it('applies the restart policy between updates, and holds a container an operator stopped', async () => {
    const before = (await status()).containers[0] as Row;
    // The workload dies (init killed from outside): policy "always" starts it again.
    process.kill(before.initPid as number, 'SIGKILL');
    const again = await waitFor(
      'restarted',
      async () => {
        const c = (await status()).containers[0];
        return c && c.state === 'ready' && c.initPid !== before.initPid ? c : undefined;
      },
      60_000,
    );
    expect(again.instance).toBe(before.instance);
    const api = new ApiClient(join(storage, 'agent.sock'));
    await api.json('POST', '/v1/containers/web/stop');
    // Several keeper passes later it is still stopped: the operator's stop is respected.
    await new Promise((r) => setTimeout(r, 3_000));
    expect((await status()).containers[0]?.state).toBe('exited');
    await api.json('POST', '/v1/containers/web/start');
    await waitFor('ready again', async () => (await status()).containers[0]?.state === 'ready', 60_000);
  });

  it('imports an image with `import-image` (OCI layout, docker-archive): object in the store, ContainerSpec fragment printed', async () => {
    const image = await buildBusyboxImage(join(tmp.path, 'img'));
    const archive = await toDockerArchive(image, join(tmp.path, 'img.tar'));
    const fragments = [];
    for (const ref of [image.ref, archive]) {
      const r = await cli(configPath, ['import-image', ref]);
      expect(r.code, r.stderr).toBe(0);
      const fragment = JSON.parse(r.stdout) as {
        rootfs: { digest: string; size: number };
        start: { entrypoint: string[]; cmd: string[] };
        image: { ref: string };
      };
      expect(fragment.rootfs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect([...fragment.start.entrypoint, ...fragment.start.cmd].join(' ')).toContain('httpd');
      const stored = await readFile(join(storage, 'objects', 'sha256', fragment.rootfs.digest.slice(7)));
      expect(stored.length).toBe(fragment.rootfs.size);
      // Pinned: no revision uses it yet, and the agent's GC must not delete it.
      expect(Date.parse((fragment as unknown as { pinnedUntil: string }).pinnedUntil)).toBeGreaterThan(
        Date.now(),
      );
      const pins = JSON.parse(await readFile(join(storage, 'objects', 'pins.json'), 'utf8')) as {
        pins: Record<string, unknown>;
      };
      expect(Object.keys(pins.pins)).toContain(fragment.rootfs.digest);
      fragments.push(fragment.rootfs.digest);
    }
    // The same image from two sources is the same object (deterministic conversion).
    expect(fragments[0]).toBe(fragments[1]);
    const bad = await cli(configPath, ['import-image', `oci:${join(tmp.path, 'nothing-here')}`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('nothing-here');
  });

  it('stops cleanly on SIGTERM, leaving the containers running, and adopts them on the next start', async () => {
    const before = await status();
    agent?.child.kill('SIGTERM');
    const exit = await agent?.exited;
    expect(exit).toEqual({ code: 0, signal: null });
    // The agent is not the containers' parent: they keep running without it.
    expect(await lxcRunning()).toEqual(before.containers.map((c) => c.instance));
    agent = startAgentProcess(configPath, { args: ['--poll-ms', '100', '--goal-timeout-ms', '20000'] });
    await waitUp();
    const after = await status();
    expect(after.containers.map((c) => [c.instance, c.initPid, c.state])).toEqual(
      before.containers.map((c) => [c.instance, c.initPid, 'ready']),
    );
  });

  it('adopts the running container after SIGKILL and restart: same init pid, no duplicate', async () => {
    const before = await status();
    const pid = before.containers[0]?.initPid;
    expect(pid).toBeGreaterThan(0);
    const instancesBefore = await lxcInstances();
    agent?.child.kill('SIGKILL');
    await agent?.exited;
    agent = startAgentProcess(configPath, { args: ['--poll-ms', '100', '--goal-timeout-ms', '20000'] });
    await waitUp();
    const after = await status();
    expect(after.containers.map((c) => [c.instance, c.initPid])).toEqual(
      before.containers.map((c) => [c.instance, c.initPid]),
    );
    expect(await lxcInstances()).toEqual(instancesBefore);
    expect(instancesBefore).toHaveLength(1);
  });

  it('installs a signed hub target over MQTT, with progress in order, and refuses a badly signed one', async () => {
    const s = await waitFor('the device online', async () => {
      const st = await status();
      return st.hub.connected ? st : undefined;
    });
    const id = s.hub.deviceId as string;
    const t = topics.device(id);
    const observer = await Observer.connect(broker.url, 'test-observer', [t.progress, t.report]);
    try {
      const good: Target = {
        updateId: 'hub-2',
        release: release(2, rootfs2),
        objectBaseUrl: objectBase,
        config: {},
        configVersion: 0,
        strategy: 'stop-start',
        force: false,
        bakeSeconds: 0,
      };
      const enc = encodeMessage('target', good);
      if (!enc.ok) throw enc.error;
      await mqtt.publishAsync(t.target, enc.value.payload, { qos: 1, retain: true });
      const progress = () => observer.decoded(t.progress, 'progress').map((m) => m.body as Progress);
      await waitFor(
        'hub-2 outcome',
        () => progress().some((p) => p.updateId === 'hub-2' && p.state === 'idle'),
        90_000,
      );
      const mine = progress().filter((p) => p.updateId === 'hub-2');
      const outcome = mine.at(-1);
      expect(outcome?.status, JSON.stringify(mine)).toBe('succeeded');
      // The order of the states is the state table's: each first appearance after the previous.
      const order = ['downloading', 'verifying', 'installing', 'testing', 'committing', 'idle'];
      const firsts = order.map((st) => mine.findIndex((p) => p.state === st));
      expect(firsts.every((i) => i >= 0)).toBe(true);
      expect([...firsts].sort((a, b) => a - b)).toEqual(firsts);
      const st = await status();
      expect(st.committed?.sequence).toBe(2);
      expect(st.containers.map((c) => [c.name, c.state])).toEqual([['web', 'ready']]);
      expect(await lxcInstances()).toHaveLength(1);
      // The new rootfs object came over HTTP into the store.
      expect((await readFile(join(storage, 'objects', 'sha256', rootfs2.digest.slice(7)))).length).toBe(
        rootfs2.size,
      );
      // A report follows the change (the committed revision and its container).
      await waitFor('a report of revision 2', () =>
        observer
          .decoded(t.report, 'report')
          .some(
            (r) =>
              r.body.revision?.sequence === 2 &&
              r.body.updateState === 'idle' &&
              r.body.containers.some((c) => c.name === 'web'),
          ),
      );

      // A target whose signature does not verify: refused with the reason, nothing changes.
      const forged = release(3, rootfs);
      const tampered: Target = {
        ...good,
        updateId: 'hub-3',
        release: { ...forged, notes: 'changed after signing' },
      };
      const enc3 = encodeMessage('target', tampered);
      if (!enc3.ok) throw enc3.error;
      await mqtt.publishAsync(t.target, enc3.value.payload, { qos: 1, retain: true });
      const refusal = await waitFor(
        'hub-3 refusal',
        () => progress().find((p) => p.updateId === 'hub-3' && p.state === 'idle'),
        30_000,
      );
      expect(refusal.status).toBe('failed');
      expect(refusal.reason).toBe('signature-invalid');
      expect(refusal.message).toBeTruthy();
      const after = await status();
      expect(after.committed?.sequence).toBe(2);
      expect(after.containers.map((c) => [c.instance, c.initPid])).toEqual(
        st.containers.map((c) => [c.instance, c.initPid]),
      );
      expect(
        progress()
          .filter((p) => p.updateId === 'hub-3')
          .map((p) => p.state),
      ).toEqual(['idle']);
    } finally {
      await mqtt.publishAsync(t.target, Buffer.alloc(0), { qos: 1, retain: true });
      await observer.close();
    }
    await mkdir(join(tmp.path, 'done'), { recursive: true });
  });

  it('ships console lines and executes hub commands: restart-container, upload-logs, reboot (file backend: exit 75)', async () => {
    const s = await status();
    const id = s.hub.deviceId as string;
    const t = topics.device(id);
    const observer = await Observer.connect(broker.url, 'test-commands', [t.ack, t.logs]);
    const command = async (body: Command) => {
      const enc = encodeMessage('command', body);
      if (!enc.ok) throw enc.error;
      await mqtt.publishAsync(t.command, enc.value.payload, { qos: 1 });
    };
    const acks = () => observer.decoded(t.ack, 'ack').map((m) => m.body);
    const lines = () => observer.decoded(t.logs, 'logs').flatMap((m) => m.body.lines);
    try {
      // The running container's ticker reaches the hub through the log shipper.
      await waitFor(
        'shipped console lines',
        () => lines().some((l) => l.source === 'web' && l.text.startsWith('tick v2')),
        30_000,
      );

      const pid = s.containers[0]?.initPid;
      await command({ commandId: 'c-restart', name: 'restart-container', container: 'web' });
      await waitFor(
        'restart ack',
        () => acks().some((a) => a.commandId === 'c-restart' && a.status === 'done'),
        30_000,
      );
      expect((await status()).containers[0]?.initPid).not.toBe(pid);
      await command({ commandId: 'c-unknown', name: 'restart-container', container: 'nope' });
      const failed = await waitFor(
        'unknown container ack',
        () => acks().find((a) => a.commandId === 'c-unknown' && a.status === 'failed'),
        30_000,
      );
      expect(failed.message).toContain('no container named "nope"');

      await command({ commandId: 'c-logs', name: 'upload-logs', container: 'web' });
      const uploaded = await waitFor(
        'upload-logs ack',
        () => acks().find((a) => a.commandId === 'c-logs' && a.status === 'done'),
        30_000,
      );
      expect(uploaded.message).toMatch(/^[1-9]\d* lines from 1 containers$/);
      await waitFor('uploaded history', () => lines().some((l) => l.text === 'hello from v2'), 30_000).catch(
        (e: Error) => {
          throw new Error(
            `${e.message}: ${JSON.stringify(
              lines()
                .slice(-30)
                .map((l) => l.text),
            )} ${uploaded.message}`,
          );
        },
      );

      // Reboot with the file backend: a clean stop, then the process ends with 75 for whoever
      // runs it to power-cycle; the containers (the machine) are the caller's to kill.
      await command({ commandId: 'c-reboot', name: 'reboot' });
      const exit = await agent?.exited;
      expect(exit).toEqual({ code: 75, signal: null });
      agent = startAgentProcess(configPath, { args: ['--poll-ms', '100', '--goal-timeout-ms', '20000'] });
      await waitUp();
      // Acknowledged (from the durable queue, before the exit or right after the restart).
      await waitFor(
        'reboot ack',
        () => acks().some((a) => a.commandId === 'c-reboot' && a.status === 'done'),
        30_000,
      );
    } finally {
      await observer.close();
    }
  });
});
