// Hand-over of a published port on real LXC (decision 0023): an httpd on the agent bridge
// behind a host port (nftables DNAT) is updated while a client in its own process polls the
// host port with a new connection per request. The switch from the old instance to the new
// one is one nft transaction made once the new one accepts connections, then the old one
// drains and stops: the poller must see zero failed requests, and both revisions' pages.
// Also: a new instance that never listens fails the update and the old one keeps serving.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import {
  generateSigningKey,
  signManifest,
  ReleaseManifest,
  type Progress,
  type Target,
} from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Liblxc } from '../../src/runtime/lxc/liblxc.js';
import { LxcRuntime } from '../../src/runtime/lxc/lxc-runtime.js';
import { StarterClient } from '../../src/runtime/lxc/starter.js';
import { BridgeNetwork } from '../../src/runtime/network/bridge.js';
import { NftPortPublisher } from '../../src/runtime/network/ports.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { RevisionStore } from '../../src/store/revision-store.js';
import { VolumeStore } from '../../src/store/volumes.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import {
  objectStorePort,
  StoreRevisions,
  SupervisedContainers,
  systemClock,
} from '../../src/update/adapters.js';
import { DirectoryDurableFiles } from '../../src/update/atomic-file.js';
import { UpdateEngine } from '../../src/update/engine.js';
import { ExclusiveRunner } from '../../src/update/exclusive-runner.js';
import { FileUpdateLocks } from '../../src/update/locks.js';
import { buildBusyboxRootfs, buildSquashfs, tempDir } from './helpers/rootfs.js';

const key = generateSigningKey('update-handover-it');
let tmp: Awaited<ReturnType<typeof tempDir>>;
let starter: StarterClient;
let runtime: LxcRuntime;
let bridge: BridgeNetwork;
let ports: NftPortPublisher;
let supervisor: Supervisor;
let engine: UpdateEngine;
let rootfs: { digest: string; size: number };
let hostPort: number;
const reports: Progress[] = [];
const logs: string[] = [];

// Each revision serves a page naming it; `listen: false` never opens the port.
function release(sequence: number, o: { listen?: boolean } = {}): ReleaseManifest {
  const serve =
    o.listen === false
      ? 'exec sleep 100000'
      : `mkdir -p /tmp/www && echo rev $VERSION > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www`;
  return signManifest(
    ReleaseManifest.parse(
      aRelease({
        version: `${sequence}.0.0`,
        sequence,
        release: `r${sequence}`,
        containers: {
          web: aContainer({
            rootfs,
            image: { ref: 'busybox', digest: rootfs.digest },
            network: 'bridge',
            ports: [{ host: hostPort, container: 80 }],
            start: {
              entrypoint: ['/bin/sh', '-c'],
              cmd: [serve],
              env: { VERSION: String(sequence) },
              stopTimeoutMs: 2_000,
            },
          }),
        },
      }),
    ),
    key,
  );
}

const target = (r: ReleaseManifest, updateId: string, strategy: Target['strategy']): Target => ({
  updateId,
  release: r,
  objectBaseUrl: 'http://127.0.0.1:9/objects',
  config: {},
  configVersion: 0,
  strategy,
  force: false,
  bakeSeconds: 0,
});

// A new connection per request, one in flight, as fast as it goes; its own process so the
// engine's work does not delay (or hide) anything. Counts failures and the pages it saw.
const POLLER = `
const http = require('node:http');
const port = Number(process.argv[1]);
let ok = 0, failed = 0, stop = false;
const pages = {}, errors = {};
const agent = new http.Agent({ keepAlive: false });
function once() {
  if (stop) return;
  let body = '';
  let settled = false;
  // One outcome per request: a response cut mid-body errors on the response and the request.
  const finish = (err, page) => { if (!settled) { settled = true; done(err, page); } };
  const req = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 2000 }, (res) => {
    res.on('data', (d) => (body += d));
    res.on('end', () => finish(res.statusCode === 200 ? null : 'status ' + res.statusCode, body.trim()));
    res.on('error', (e) => finish('response ' + (e.code || e.message), ''));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => finish(e.code || e.message, ''));
}
function done(err, page) {
  if (err) { failed++; errors[err] = (errors[err] || 0) + 1; } else { ok++; pages[page] = (pages[page] || 0) + 1; }
  setTimeout(once, 1);
}
process.on('SIGTERM', () => { stop = true; setTimeout(() => { process.stdout.write(JSON.stringify({ ok, failed, pages, errors })); process.exit(0); }, 100); });
once();
`;

interface PollResult {
  ok: number;
  failed: number;
  pages: Record<string, number>;
  errors: Record<string, number>;
}

function startPoller(): { stop: () => Promise<PollResult> } {
  const p = spawn(process.execPath, ['-e', POLLER, String(hostPort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return {
    stop: () =>
      new Promise((res) => {
        p.on('exit', () => res(JSON.parse(out) as PollResult));
        p.kill('SIGTERM');
      }),
  };
}

async function get(): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${hostPort}/`, { signal: AbortSignal.timeout(5000) });
  return (await r.text()).trim();
}

const final = (id: string) => reports.filter((p) => p.updateId === id && p.state === 'idle').at(-1);

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function install(r: ReleaseManifest, id: string, strategy: Target['strategy']): Promise<void> {
  engine.offer(target(r, id, strategy));
  await engine.settled();
}

beforeAll(async () => {
  tmp = await tempDir('fleet-upd-ho-');
  const storage = join(tmp.path, 'storage');
  hostPort = await freePort();
  const tree = await buildBusyboxRootfs(join(tmp.path, 'rootfs'));
  const sqfs = await buildSquashfs(tree, join(tmp.path, 'rootfs.sqfs'));
  rootfs = {
    digest: `sha256:${createHash('sha256')
      .update(await readFile(sqfs))
      .digest('hex')}`,
    size: (await stat(sqfs)).size,
  };
  const objects = new ObjectStore(storage);
  await objects.init();
  await objects.putFile(rootfs.digest, sqfs);
  await new RevisionStore(storage).init();
  const lxcpath = join(tmp.path, 'lxc');
  await mkdir(lxcpath, { recursive: true });
  // Own bridge and subnet: the agent's (fleet0) and the runtime test's must not be touched.
  bridge = new BridgeNetwork({
    name: 'fltho0',
    subnet: '10.213.9.0/24',
    stateFile: join(lxcpath, '.ipam.json'),
  });
  ports = new NftPortPublisher(bridge);
  starter = new StarterClient();
  runtime = new LxcRuntime({ lxc: Liblxc.load(), starter, lxcpath, bridge });
  supervisor = new Supervisor({ runtime, pollIntervalMs: 100 });
  const revisions = new StoreRevisions(
    new RevisionStore(storage),
    new DirectoryDurableFiles(join(storage, 'update-revisions')),
  );
  const containers = new SupervisedContainers({
    runtime,
    supervisor,
    objects,
    volumes: new VolumeStore(storage),
    revisionNumber: (id) => revisions.numberOf(id),
    clock: systemClock,
    goalTimeoutMs: 30_000,
    pollMs: 100,
    ports,
  });
  engine = new UpdateEngine(
    {
      files: new DirectoryDurableFiles(storage),
      revisions,
      objects: objectStorePort(objects, storage),
      downloader: {
        fetch: async () => {
          throw new Error('nothing is downloaded here');
        },
      },
      containers,
      reboot: async () => {
        throw new Error('an app-only update never reboots');
      },
      locks: new FileUpdateLocks(storage),
      clock: systemClock,
      report: (p) => reports.push(p),
      log: (level, msg) => logs.push(`${level}: ${msg}`),
    },
    {
      identity: { board: 'qemu-aarch64', agentVersion: '1.0.0', trustRoots: [key.trustRoot] },
      runner: new ExclusiveRunner(),
      settings: {
        gate: { goalTimeoutMs: 30_000, pollMs: 100, hubTimeoutMs: 1_000 },
        spaceReserveBytes: 1024 * 1024,
        lockPollMs: 200,
      },
    },
  );
  await engine.start();
}, 120_000);

afterAll(async () => {
  await engine?.stop();
  await supervisor?.detach();
  if (runtime) for (const c of await runtime.list()) await runtime.remove(c.name).catch(() => undefined);
  await ports?.destroy();
  await bridge?.destroy();
  await starter?.close();
  await tmp?.cleanup();
});

describe('hand-over of a published port on real LXC', () => {
  it('serves the first revision on the host port through the bridge', async () => {
    await install(release(1), 'u1', 'stop-start');
    expect(final('u1'), logs.join('\n')).toMatchObject({ status: 'succeeded' });
    expect(await get()).toBe('rev 1');
  });

  it('hands over twice while a client polls the host port: zero failed requests, both pages seen', async () => {
    for (const seq of [2, 3]) {
      const poller = startPoller();
      // The poller is serving before the update starts and after it ended.
      await new Promise((r) => setTimeout(r, 300));
      await install(release(seq), `u${seq}`, 'hand-over');
      await new Promise((r) => setTimeout(r, 300));
      const r = await poller.stop();
      expect(final(`u${seq}`), logs.join('\n')).toMatchObject({ status: 'succeeded' });
      expect(r.errors, JSON.stringify(r)).toEqual({});
      expect(r.failed).toBe(0);
      // The switch happened under the poller: it saw the old page and the new one.
      expect(Object.keys(r.pages).sort()).toEqual([`rev ${seq - 1}`, `rev ${seq}`]);
      expect(await get()).toBe(`rev ${seq}`);
    }
    // Exactly one instance runs, and the old ones are gone with their addresses.
    const running = (await runtime.list()).filter((c) => c.state === 'running');
    expect(running).toHaveLength(1);
    expect(Object.keys(await bridge.allocations())).toEqual([running[0]?.name]);
    expect([...(await ports.published())]).toEqual([[running[0]?.name, [`${hostPort}/tcp`]]]);
  });

  it('a new instance that never listens on its port fails the update; the old one serves throughout', async () => {
    const poller = startPoller();
    await new Promise((r) => setTimeout(r, 300));
    await install(release(4, { listen: false }), 'u4', 'hand-over');
    await new Promise((r) => setTimeout(r, 300));
    const r = await poller.stop();
    expect(final('u4')).toMatchObject({ status: 'rolled-back', reason: 'status-goal-timeout' });
    expect(final('u4')?.message).toMatch(/does not accept connections on 10\.213\.9\.\d+:80/);
    expect(r.failed, JSON.stringify(r)).toBe(0);
    expect(Object.keys(r.pages)).toEqual(['rev 3']);
    expect(await get()).toBe('rev 3');
  });

  it('stop-start moves the port to the new instance too', async () => {
    await install(release(5), 'u5', 'stop-start');
    expect(final('u5'), logs.join('\n')).toMatchObject({ status: 'succeeded' });
    expect(await get()).toBe('rev 5');
    const running = (await runtime.list()).filter((c) => c.state === 'running');
    expect([...(await ports.published())]).toEqual([[running[0]?.name, [`${hostPort}/tcp`]]]);
  });
});
