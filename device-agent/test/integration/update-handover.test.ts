// Hand-over of a published port on real LXC (decision 0023): an httpd on the agent bridge
// behind a host port (nftables DNAT) is updated while a client in its own process polls the
// host port with a new connection per request. The switch from the old instance to the new
// one is one nft transaction made once the new one accepts connections, then the old one
// drains and stops: the poller must see zero failed requests, and both revisions' pages.
// Also: a new instance that never listens fails the update and the old one keeps serving.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { Progress, ReleaseManifest, Target } from '@fleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LxcRuntime } from '../../src/runtime/lxc/lxc-runtime.js';
import type { BridgeNetwork } from '../../src/runtime/network/bridge.js';
import type { NftPortPublisher } from '../../src/runtime/network/ports.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import { SupervisedContainers } from '../../src/update/adapters.js';
import type { UpdateEngine } from '../../src/update/engine.js';
import {
  finalReport,
  startUpdateRig,
  updateDeps,
  updateEngine,
  updateTarget,
  webRelease,
  type UpdateRig,
} from './helpers/update-rig.js';

let rig: UpdateRig;
let runtime: LxcRuntime;
let bridge: BridgeNetwork;
let ports: NftPortPublisher;
let supervisor: Supervisor;
let engine: UpdateEngine;
let hostPort: number;
let logs: string[];

// Each revision serves a page naming it; `listen: false` never opens the port.
function release(sequence: number, o: { listen?: boolean } = {}): ReleaseManifest {
  const serve =
    o.listen === false
      ? 'exec sleep 100000'
      : `mkdir -p /tmp/www && echo rev $VERSION > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www`;
  return webRelease(rig, sequence, {
    network: 'bridge',
    ports: [{ host: hostPort, container: 80 }],
    start: {
      entrypoint: ['/bin/sh', '-c'],
      cmd: [serve],
      env: { VERSION: String(sequence) },
      stopTimeoutMs: 2_000,
    },
  });
}

const target = (r: ReleaseManifest, updateId: string, strategy: Target['strategy']): Target =>
  updateTarget(r, updateId, { strategy });

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

const final = (id: string): Progress | undefined => finalReport(rig, id);

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
  hostPort = await freePort();
  // Own bridge and subnet: the agent's (fleet0) and the runtime test's must not be touched.
  rig = await startUpdateRig({
    name: 'update-handover',
    bridge: { name: 'fltho0', subnet: '10.213.9.0/24' },
  });
  ({ runtime, logs } = rig);
  bridge = rig.bridge!;
  ports = rig.ports!;
  supervisor = new Supervisor({ runtime, pollIntervalMs: 100 });
  const deps = updateDeps(
    rig,
    (store) => new SupervisedContainers({ ...store, supervisor, goalTimeoutMs: 30_000, pollMs: 100, ports }),
  );
  engine = updateEngine(rig, deps, { goalTimeoutMs: 30_000, pollMs: 100 });
  await engine.start();
}, 120_000);

afterAll(async () => {
  await engine?.stop();
  await supervisor?.detach();
  await rig?.close();
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
