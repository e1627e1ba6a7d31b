// The supervisor on real LXC: group order, status goals, restart policies, crash loops,
// health checks, and adoption after the agent process is SIGKILLed.
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ContainerSpec, type ContainerSpecInput } from '@fleet/protocol';
import { aContainer } from '@fleet/protocol/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Liblxc } from '../../src/runtime/lxc/liblxc.js';
import { LxcRuntime } from '../../src/runtime/lxc/lxc-runtime.js';
import { StarterClient } from '../../src/runtime/lxc/starter.js';
import { isAlive } from '../../src/runtime/lxc/proc.js';
import { Supervisor, type DesiredContainer, type SupervisedStatus } from '../../src/supervisor/index.js';
import { buildBusyboxRootfs, buildSquashfs, tempDir } from './helpers/rootfs.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let lxc: Liblxc;
let starter: StarterClient;
let squashfs: string;
const runtimes: LxcRuntime[] = [];

async function newRuntime(dir: string): Promise<LxcRuntime> {
  const lxcpath = join(tmp.path, dir);
  await mkdir(lxcpath, { recursive: true });
  const rt = new LxcRuntime({ lxc, starter, lxcpath });
  runtimes.push(rt);
  return rt;
}

const sh = (script: string) => ({ entrypoint: ['/bin/sh', '-c'], cmd: [script] });
const httpd = sh('exec httpd -f -p 80 -h /www');
const healthy = {
  exec: ['wget', '-q', '-O', '/dev/null', 'http://127.0.0.1/'],
  intervalMs: 200,
  timeoutMs: 2000,
  retries: 2,
  startPeriodMs: 0,
};

function desired(name: string, over: Partial<ContainerSpecInput>): DesiredContainer {
  return {
    name,
    spec: ContainerSpec.parse(aContainer(over)),
    rootfs: { kind: 'squashfs', path: squashfs },
    volumes: {},
  };
}

beforeAll(async () => {
  tmp = await tempDir('fleet-sup-');
  const rootfs = await buildBusyboxRootfs(join(tmp.path, 'rootfs'));
  squashfs = await buildSquashfs(rootfs, join(tmp.path, 'rootfs.sqfs'));
  lxc = Liblxc.load();
  starter = new StarterClient();
});

afterAll(async () => {
  for (const rt of runtimes) for (const c of await rt.list()) await rt.remove(c.name).catch(() => undefined);
  await starter?.close();
  await tmp?.cleanup();
});

describe('Supervisor', () => {
  it('starts platform before app, each group reaching its status goal', async () => {
    const rt = await newRuntime('order');
    const events: SupervisedStatus[] = [];
    const sup = new Supervisor({
      runtime: rt,
      pollIntervalMs: 100,
      goalTimeoutMs: 30_000,
      onChange: (s) => events.push(s),
    });
    const result = await sup.run([
      desired('web', { group: 'app', start: httpd, statusGoal: 'ready', health: healthy }),
      desired('net', { group: 'platform', start: httpd, statusGoal: 'ready', health: healthy }),
      desired('tool', { group: 'app', start: sh('sleep 1000'), statusGoal: 'started' }),
    ]);
    expect(result).toEqual({ ok: true });
    const at = (name: string, state: string) => events.findIndex((e) => e.name === name && e.state === state);
    expect(at('net', 'ready')).toBeGreaterThanOrEqual(0);
    expect(at('web', 'starting')).toBeGreaterThan(at('net', 'ready'));
    expect(at('tool', 'starting')).toBeGreaterThan(at('net', 'ready'));
    expect(sup.status().find((s) => s.name === 'web')).toMatchObject({
      state: 'ready',
      health: 'healthy',
      restarts: 0,
    });
    await sup.stopAll();
    await sup.detach();
    expect((await rt.list()).map((c) => c.state)).toEqual(['stopped', 'stopped', 'stopped']);
  });

  it('restarts on failure with growing delays and reports a crash loop', async () => {
    const rt = await newRuntime('crash');
    const events: SupervisedStatus[] = [];
    const sup = new Supervisor({
      runtime: rt,
      pollIntervalMs: 50,
      goalTimeoutMs: 30_000,
      onChange: (s) => events.push(s),
    });
    const result = await sup.run([
      desired('flaky', {
        start: sh('exit 4'),
        restart: { policy: 'on-failure', maxRetries: 3, backoffMs: 100 },
        statusGoal: 'ready',
        health: healthy,
      }),
    ]);
    expect(result).toMatchObject({ ok: false, container: 'flaky', reason: 'crash-loop' });
    expect(sup.status()[0]).toMatchObject({ state: 'crash-loop', restarts: 3, lastExitCode: 4 });
    const delays = events
      .filter((e) => e.state === 'exited')
      .map((e) => Number(/in (\d+) ms/.exec(e.reason ?? '')?.[1]));
    expect(delays).toEqual([100, 200, 400]);
    await sup.detach();
  });

  it('leaves a clean exit alone under on-failure and never, and restarts it under always', async () => {
    const rt = await newRuntime('policies');
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 50, stableAfterMs: 60_000 });
    const once = sh('sleep 0.2; exit 0');
    expect(
      await sup.run([
        desired('job-never', { start: once, restart: { policy: 'never', maxRetries: 5, backoffMs: 50 } }),
        desired('job-onfail', {
          start: once,
          restart: { policy: 'on-failure', maxRetries: 5, backoffMs: 50 },
        }),
        desired('job-always', { start: once, restart: { policy: 'always', maxRetries: 2, backoffMs: 50 } }),
      ]),
    ).toEqual({ ok: true });
    const settled = async () => {
      for (let i = 0; i < 200; i++) {
        const s = Object.fromEntries(sup.status().map((x) => [x.name, x]));
        if (
          s['job-always']?.state === 'crash-loop' &&
          s['job-never']?.state === 'exited' &&
          s['job-onfail']?.state === 'exited'
        )
          return s;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`not settled: ${JSON.stringify(sup.status())}`);
    };
    const s = await settled();
    expect(s['job-never']).toMatchObject({ restarts: 0, lastExitCode: 0 });
    expect(s['job-onfail']).toMatchObject({ restarts: 0, lastExitCode: 0 });
    expect(s['job-always']).toMatchObject({ restarts: 2, lastExitCode: 0 });
    await sup.detach();
  });

  it('reports a failing health check as unhealthy and the goal as not reached', async () => {
    const rt = await newRuntime('health');
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 50, goalTimeoutMs: 3000 });
    const result = await sup.run([
      desired('sick', {
        start: sh('sleep 1000'),
        statusGoal: 'ready',
        health: { ...healthy, exec: ['sh', '-c', 'exit 1'] },
      }),
    ]);
    expect(result).toMatchObject({ ok: false, container: 'sick', reason: 'health-check-failed' });
    expect(sup.status()[0]).toMatchObject({ state: 'unhealthy', health: 'unhealthy' });
    await sup.detach();
  });
});

describe('operator controls', () => {
  it('stops a container for good, starts it again and restarts it', async () => {
    const rt = await newRuntime('controls');
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 50 });
    expect(
      await sup.run([
        desired('svc', {
          start: sh('trap "exit 0" TERM; while true; do sleep 0.1; done'),
          restart: { policy: 'always', maxRetries: 5, backoffMs: 50 },
        }),
      ]),
    ).toEqual({ ok: true });
    const first = sup.status()[0]!.initPid;
    await sup.stopContainer('svc');
    await new Promise((r) => setTimeout(r, 300));
    expect(sup.status()[0]).toMatchObject({ state: 'stopped', restarts: 0 });
    expect((await rt.state('svc')).state).toBe('stopped');
    await sup.startContainer('svc');
    expect(sup.status()[0]?.state).toBe('running');
    const second = sup.status()[0]!.initPid;
    expect(second).not.toBe(first);
    await sup.restartContainer('svc');
    expect(sup.status()[0]?.initPid).not.toBe(second);
    await expect(sup.startContainer('nope')).rejects.toThrow(/nope is not supervised/);
    await sup.detach();
  });
});

describe('adoption after the agent is killed', () => {
  it('adopts what runs, removes what is no longer wanted, starts what is new: no duplicate, no orphan', async () => {
    const lxcpath = join(tmp.path, 'adopt');
    await mkdir(lxcpath, { recursive: true });
    const pkg = resolve(import.meta.dirname, '../..');
    // A real agent process: it starts keep + drop through its own supervisor and starter.
    const script = `
      const { Liblxc } = await import('./src/runtime/lxc/liblxc.ts');
      const { LxcRuntime } = await import('./src/runtime/lxc/lxc-runtime.ts');
      const { StarterClient } = await import('./src/runtime/lxc/starter.ts');
      const { Supervisor } = await import('./src/supervisor/index.ts');
      const { ContainerSpec } = await import('@fleet/protocol');
      const { aContainer } = await import('@fleet/protocol/testing');
      const starter = new StarterClient();
      const rt = new LxcRuntime({ lxc: Liblxc.load(), starter, lxcpath: process.env.LXCPATH });
      const d = (name) => ({ name, spec: ContainerSpec.parse(aContainer({ start: { entrypoint: ['/bin/sh', '-c'], cmd: ['sleep 1000'] } })), rootfs: { kind: 'squashfs', path: process.env.SQUASHFS }, volumes: {} });
      const sup = new Supervisor({ runtime: rt, pollIntervalMs: 100 });
      const r = await sup.run([d('keep'), d('drop')]);
      console.log(JSON.stringify({ result: r, starter: starter.pid, status: sup.status() }));
      setInterval(() => {}, 1e9);
    `;
    const agent = spawn(
      process.execPath,
      ['--conditions=fleet-source', '--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: pkg,
        env: { ...process.env, LXCPATH: lxcpath, SQUASHFS: squashfs },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    agent.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const first = await new Promise<{ result: { ok: boolean }; starter: number; status: SupervisedStatus[] }>(
      (res, rej) => {
        let out = '';
        agent.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const line = out.split('\n').find((l) => l.startsWith('{'));
          if (line) res(JSON.parse(line));
        });
        agent.on('exit', (code) => rej(new Error(`agent exited ${code}: ${err}`)));
      },
    );
    expect(first.result.ok).toBe(true);
    const keepPid = first.status.find((s) => s.name === 'keep')!.initPid!;
    const dropPid = first.status.find((s) => s.name === 'drop')!.initPid!;
    expect(keepPid).toBeGreaterThan(1);

    agent.kill('SIGKILL');
    await new Promise((r) => agent.once('exit', r));
    // The containers outlive the agent; its starter follows it (stdin closed).
    for (let i = 0; i < 100 && isAlive(first.starter); i++) await new Promise((r) => setTimeout(r, 50));
    expect(isAlive(first.starter)).toBe(false);
    expect(isAlive(keepPid)).toBe(true);
    expect(isAlive(dropPid)).toBe(true);

    // The agent comes back wanting keep (same definition) and new, not drop.
    const rt = new LxcRuntime({ lxc, starter, lxcpath });
    runtimes.push(rt);
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 100 });
    const d = desired('keep', { start: sh('sleep 1000') });
    expect(await sup.run([d, desired('new', { start: sh('sleep 1000') })])).toEqual({ ok: true });
    const status = Object.fromEntries(sup.status().map((s) => [s.name, s]));
    expect(status.keep).toMatchObject({ state: 'running', initPid: keepPid, reason: 'adopted' });
    expect(status.new?.state).toBe('running');
    expect(isAlive(dropPid)).toBe(false);
    expect((await rt.list()).map((c) => [c.name, c.state])).toEqual([
      ['keep', 'running'],
      ['new', 'running'],
    ]);
    // Exactly one monitor per running container under this lxcpath: no duplicate, no orphan.
    const monitors: string[] = [];
    for (const p of await readdir('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
      if (cmd.startsWith('[lxc monitor]') && cmd.includes(lxcpath))
        monitors.push(cmd.replace(/\0/g, ' ').trim());
    }
    expect(monitors.sort()).toEqual([`[lxc monitor] ${lxcpath} keep`, `[lxc monitor] ${lxcpath} new`]);
    await sup.detach();
  });
});
