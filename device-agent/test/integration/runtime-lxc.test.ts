// The LXC runtime on real liblxc 5.0 and real busybox containers (root required).
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ContainerSpec, type ContainerSpecInput } from '@fleet/protocol';
import { aContainer } from '@fleet/protocol/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeNetwork } from '../../src/runtime/network/bridge.js';
import { Liblxc } from '../../src/runtime/lxc/liblxc.js';
import { LxcRuntime } from '../../src/runtime/lxc/lxc-runtime.js';
import { ExecStarter, HelperStarter, StarterClient } from '../../src/runtime/lxc/starter.js';
import { lxcStartHelperPath } from '@fleet/native';
import type { CreateRequest } from '../../src/runtime/container-runtime.js';
import { buildBusyboxRootfs, buildSquashfs, tempDir } from './helpers/rootfs.js';

const run = promisify(execFile);

let tmp: Awaited<ReturnType<typeof tempDir>>;
let lxc: Liblxc;
let starter: StarterClient;
let runtime: LxcRuntime;
let bridge: BridgeNetwork;
let rootfsDir: string;
let squashfs: string;

const spec = (over: Partial<ContainerSpecInput> = {}) => ContainerSpec.parse(aContainer(over));
const sh = (script: string, extra: Partial<ContainerSpecInput['start']> = {}) =>
  ({ entrypoint: ['/bin/sh', '-c'], cmd: [script], ...extra }) as ContainerSpecInput['start'];

function req(
  name: string,
  over: Partial<ContainerSpecInput> = {},
  rest: Partial<CreateRequest> = {},
): CreateRequest {
  return { name, spec: spec(over), rootfs: { kind: 'squashfs', path: squashfs }, volumes: {}, ...rest };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, tries = 200): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  tmp = await tempDir('fleet-rt-');
  rootfsDir = await buildBusyboxRootfs(join(tmp.path, 'rootfs'), {
    files: { '/bin/ignore-term': '#!/bin/sh\ntrap "" TERM\necho ignoring\nwhile true; do sleep 1; done\n' },
  });
  squashfs = await buildSquashfs(rootfsDir, join(tmp.path, 'rootfs.sqfs'));
  lxc = Liblxc.load();
  starter = new StarterClient();
  bridge = new BridgeNetwork({
    name: `flt${process.pid % 100000}`,
    subnet: '10.213.7.0/24',
    stateFile: join(tmp.path, 'lxc', '.ipam.json'),
  });
  runtime = new LxcRuntime({
    lxc,
    starter,
    lxcpath: join(tmp.path, 'lxc'),
    bridge,
    consoleLogMaxBytes: 4096,
  });
  await mkdir(runtime.lxcpath, { recursive: true });
});

afterAll(async () => {
  for (const c of (await runtime?.list()) ?? []) await runtime.remove(c.name).catch(() => undefined);
  await starter?.close();
  await bridge?.destroy();
  await tmp?.cleanup();
});

describe('liblxc binding', () => {
  it('reports the 5.0 version it was laid out for and reads the struct back', async () => {
    expect(lxc.version).toMatch(/^5\.0\./);
    await runtime.create(req('bind1', { start: sh('sleep 100') }));
    const c = lxc.open('bind1', runtime.lxcpath);
    try {
      expect(c.isDefined()).toBe(true);
      expect(c.state()).toBe('STOPPED');
      expect(c.isRunning()).toBe(false);
      expect(c.initPid()).toBeNull();
      expect(c.getConfigItem('lxc.uts.name')).toBe('bind1');
      expect(c.getConfigItem('lxc.no.such.key')).toBeNull();
      expect(c.setConfigItem('lxc.no.such.key', 'x')).toBe(false);
      expect(c.setConfigItem('lxc.cgroup.pids.max', '33')).toBe(true);
      expect(c.getConfigItem('lxc.cgroup.pids.max')).toBe('33');
      expect(c.clearConfigItem('lxc.cgroup.pids.max')).toBe(true);
      expect(['', null]).toContain(c.getConfigItem('lxc.cgroup.pids.max'));
      c.wantDaemonize(false);
      expect(c.daemonizeFlag()).toBe(false);
      c.wantDaemonize(true);
      expect(c.daemonizeFlag()).toBe(true);
      const alt = join(tmp.path, 'saved.conf');
      expect(c.saveConfig(alt)).toBe(true);
      expect(await readFile(alt, 'utf8')).toContain('lxc.uts.name = bind1');
      c.clearConfig();
      expect(c.getConfigItem('lxc.uts.name')).not.toBe('bind1');
      expect(c.loadConfig(alt)).toBe(true);
      expect(c.getConfigItem('lxc.uts.name')).toBe('bind1');
      expect(typeof c.errorNum()).toBe('number');
    } finally {
      c.put();
    }
    expect(() => Liblxc.load({ path: 'libc.so.6' })).toThrow(/libc.so.6 has no lxc_get_version/);
    expect(() => Liblxc.load({ path: '/nonexistent/liblxc.so.1' })).toThrow(
      /cannot load \/nonexistent\/liblxc.so.1/,
    );
    const ghost = lxc.open('never-defined', runtime.lxcpath);
    expect(ghost.isDefined()).toBe(false);
    ghost.put();
    await runtime.remove('bind1');
  });
});

describe('liblxc blocking calls', () => {
  it('run on koffi async workers: freeze, unfreeze, wait, shutdown, stop, with the loop turning meanwhile', async () => {
    await runtime.create(
      req('blocking', { start: sh('trap "exit 0" TERM; while true; do sleep 0.1; done') }),
    );
    const { initPid } = await runtime.start('blocking');
    const c = lxc.open('blocking', runtime.lxcpath);
    try {
      expect(c.isRunning()).toBe(true);
      expect(c.initPid()).toBe(initPid);
      expect(await c.freeze()).toBe(true);
      expect(c.state()).toBe('FROZEN');
      expect(await c.unfreeze()).toBe(true);
      expect(c.state()).toBe('RUNNING');
      let ticks = 0;
      let on = true;
      const spin = () => {
        if (!on) return;
        ticks++;
        setImmediate(spin);
      };
      spin();
      // liblxc blocks for its whole 1 s timeout here; a synchronous call would give 1 tick.
      expect(await c.wait('STOPPED', 1)).toBe(false);
      on = false;
      expect(ticks).toBeGreaterThan(50);
      expect(await c.shutdown(5)).toBe(true);
      expect(c.state()).toBe('STOPPED');
      expect(await c.stop()).toBe(true);
    } finally {
      c.put();
    }
    await runtime.remove('blocking');
  });
});

describe('LxcRuntime', () => {
  it('runs a container daemonized from a squashfs rootfs, with its argv, env, cwd, user and hostname', async () => {
    await runtime.create(
      req('web1', {
        hostname: 'web-one',
        start: sh(
          'echo "start FOO=$FOO cwd=$(pwd) id=$(id -u):$(id -g) host=$(hostname)"; exec httpd -f -p 8080 -h /www',
          {
            env: { FOO: 'two words' },
            cwd: '/www',
            user: '1000:1000',
          },
        ),
      }),
    );
    const st = await runtime.start('web1');
    expect(st.state).toBe('running');
    expect(st.initPid).toBeGreaterThan(1);
    // Not our child, not the starter's: the monitor owns init and is re-parented to pid 1.
    const ppidOf = async (pid: number) =>
      Number((await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')[1]);
    const monitor = await ppidOf(st.initPid!);
    expect(monitor).not.toBe(process.pid);
    expect(monitor).not.toBe(starter.pid);
    expect(await readFile(`/proc/${monitor}/cmdline`, 'utf8')).toContain('[lxc monitor]');
    expect([process.pid, starter.pid]).not.toContain(await ppidOf(monitor));
    // The container's init must not inherit Node's ignored SIGPIPE (bit 12) / SIGXFSZ (bit 24).
    const status = await readFile(`/proc/${st.initPid}/status`, 'utf8');
    expect(BigInt(`0x${/SigIgn:\s+([0-9a-f]+)/.exec(status)?.[1]}`) & 0x1001000n).toBe(0n);

    const log = await waitFor('console output', async () =>
      (await runtime.logs('web1')).includes('start FOO') ? runtime.logs('web1') : false,
    );
    expect(log).toContain('start FOO=two words cwd=/www id=1000:1000 host=web-one');
    const page = await waitFor(
      'httpd answers',
      async () => {
        const r = await runtime.exec('web1', ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], {
          timeoutMs: 10_000,
        });
        return r.exitCode === 0 ? r : false;
      },
      40,
    );
    expect(page).toMatchObject({ exitCode: 0, stdout: 'hello from busybox httpd\n', timedOut: false });
    const fail = await runtime.exec('web1', ['sh', '-c', 'echo oops >&2; exit 7'], { timeoutMs: 10_000 });
    expect(fail).toMatchObject({ exitCode: 7, stderr: 'oops\n' });
    const slow = await runtime.exec('web1', ['sleep', '30'], { timeoutMs: 300 });
    expect(slow).toMatchObject({ exitCode: null, timedOut: true });
    // The timed-out command was killed inside the container, not left behind.
    expect((await runtime.exec('web1', ['ps'], { timeoutMs: 5000 })).stdout).not.toContain('sleep 30');
    // uid 1000 cannot write to the root-owned /; writes that are allowed land in the per-container upper dir.
    expect(
      (
        await runtime.exec('web1', ['sh', '-c', 'echo x > /written && cat /written'], {
          timeoutMs: 10_000,
          env: {},
        })
      ).exitCode,
    ).toBe(1);
    const rootWrite = await runtime.exec('web1', ['sh', '-c', 'echo x > /tmp/written && cat /tmp/written'], {
      timeoutMs: 10_000,
    });
    expect(rootWrite).toMatchObject({ exitCode: 0, stdout: 'x\n' });
    expect(await readFile(join(runtime.lxcpath, 'web1/upper/tmp/written'), 'utf8')).toBe('x\n');

    const stopped = await runtime.stop('web1', { timeoutMs: 5000 });
    expect(stopped.graceful).toBe(true);
    expect((await runtime.state('web1')).state).toBe('stopped');
  });

  it('stops with the image stop signal, and kills after the timeout when it is ignored', async () => {
    await runtime.create(
      req('stop1', {
        start: sh('trap "echo got USR1; exit 0" USR1; while true; do sleep 1; done', {
          stopSignal: 'SIGUSR1',
        }),
      }),
    );
    await runtime.start('stop1');
    await new Promise((r) => setTimeout(r, 300));
    expect(await runtime.stop('stop1', { timeoutMs: 5000 })).toEqual({ graceful: true });
    expect(await runtime.logs('stop1')).toContain('got USR1');
    expect((await runtime.state('stop1')).lastExit).toEqual({ code: 0 });
    // Stopped the moment start() returns (init may not have forked the workload yet): the
    // signal still reaches the workload instead of the timeout running out into a kill.
    for (let i = 0; i < 3; i++) {
      await runtime.start('stop1');
      expect(await runtime.stop('stop1', { timeoutMs: 8000 })).toEqual({ graceful: true });
    }

    await runtime.create(req('stop2', { start: { entrypoint: ['/bin/ignore-term'], cmd: [] } }));
    await runtime.start('stop2');
    await waitFor('trap installed', async () => (await runtime.logs('stop2')).includes('ignoring'));
    expect(await runtime.stop('stop2', { timeoutMs: 1000 })).toEqual({ graceful: false });
    expect((await runtime.state('stop2')).state).toBe('stopped');
  });

  it('records how the workload exited', async () => {
    await runtime.create(req('exit3', { start: sh('exit 3') }));
    await runtime.start('exit3');
    const st = await waitFor('exit', async () => {
      const s = await runtime.state('exit3');
      return s.state === 'stopped' ? s : false;
    });
    expect(st.lastExit).toEqual({ code: 3 });
  });

  it('does not stall the event loop while a container starts and stops', async () => {
    await runtime.create(req('ticks', { start: sh('trap "exit 0" TERM; while true; do sleep 1; done') }));
    let ticks = 0;
    let on = true;
    const spin = () => {
      if (!on) return;
      ticks++;
      setImmediate(spin);
    };
    spin();
    await runtime.start('ticks');
    const duringStart = ticks;
    await runtime.stop('ticks', { timeoutMs: 5000 });
    on = false;
    // A blocked loop would show 1 tick per phase; the loop keeps turning while liblxc works.
    expect(duringStart).toBeGreaterThan(10);
    expect(ticks - duringStart).toBeGreaterThan(10);
  });

  it('applies cgroup v1 limits, capabilities and volumes', async () => {
    const data = join(tmp.path, 'vol-data');
    await mkdir(data, { recursive: true });
    await writeFile(join(data, 'kept.txt'), 'persisted\n');
    const conf = join(tmp.path, 'vol-conf');
    await mkdir(conf, { recursive: true });
    await runtime.create(
      req(
        'limits',
        {
          start: sh('while true; do sleep 1; done'),
          resources: { memoryBytes: '64M', cpuShares: 256, pids: 20 },
          capabilities: { drop: ['NET_RAW'], keep: [] },
          volumes: [
            { name: 'data', path: '/var/lib/app', persistence: 'permanent' },
            { name: 'conf', path: '/etc/app', persistence: 'revision', readOnly: true },
            { name: 'scratch', path: '/run/scratch', persistence: 'boot' },
          ],
        },
        {
          volumes: {
            data: { kind: 'bind', hostPath: data },
            conf: { kind: 'bind', hostPath: conf },
            scratch: { kind: 'tmpfs', sizeBytes: 1 << 20 },
          },
        },
      ),
    );
    await runtime.start('limits');
    const c = lxc.open('limits', runtime.lxcpath);
    try {
      expect(c.getCgroupItem('memory.limit_in_bytes')?.trim()).toBe('67108864');
      expect(c.getCgroupItem('cpu.shares')?.trim()).toBe('256');
      expect(c.getCgroupItem('pids.max')?.trim()).toBe('20');
    } finally {
      c.put();
    }
    const x = (cmd: string) => runtime.exec('limits', ['sh', '-c', cmd], { timeoutMs: 10_000 });
    expect((await x('cat /var/lib/app/kept.txt && echo new > /var/lib/app/new.txt')).stdout).toBe(
      'persisted\n',
    );
    expect(await readFile(join(data, 'new.txt'), 'utf8')).toBe('new\n');
    expect((await x('touch /etc/app/nope')).exitCode).not.toBe(0);
    expect((await x('grep /run/scratch /proc/mounts')).stdout).toContain('tmpfs');
    // CAP_NET_RAW is bit 13: gone from the bounding set.
    const capBnd = BigInt(
      `0x${/CapBnd:\s+([0-9a-f]+)/.exec((await x('cat /proc/self/status')).stdout)?.[1] ?? '0'}`,
    );
    expect(capBnd & (1n << 13n)).toBe(0n);
    expect(capBnd & (1n << 12n)).toBe(1n << 12n);
    await runtime.kill('limits');

    // keep: only the listed capabilities stay in the bounding set (NET_BIND_SERVICE is bit 10).
    await runtime.create(
      req('keeper', { start: sh('sleep 100'), capabilities: { drop: [], keep: ['NET_BIND_SERVICE'] } }),
    );
    await runtime.start('keeper');
    const kept = (await runtime.exec('keeper', ['cat', '/proc/self/status'], { timeoutMs: 10_000 })).stdout;
    expect(BigInt(`0x${/CapBnd:\s+([0-9a-f]+)/.exec(kept)?.[1] ?? '0'}`)).toBe(1n << 10n);
    await runtime.remove('keeper');
  });

  it('mounts the update lock directory at /run/fleet over a /run tmpfs, owned by the workload user; hostname from the manifest name', async () => {
    const lockDir = join(tmp.path, 'locks', 'app');
    await runtime.create(
      req(
        'app-0123456789ab',
        {
          start: sh('exec sleep 1000', { user: '1000:1000' }),
          volumes: [{ name: 'run', path: '/run', persistence: 'boot' }],
        },
        { volumes: { run: { kind: 'tmpfs' } }, labels: { 'fleet.container': 'app' }, updateLockDir: lockDir },
      ),
    );
    expect(await stat(lockDir)).toMatchObject({ uid: 1000, gid: 1000 });
    await runtime.start('app-0123456789ab');
    const x = (cmd: string) => runtime.exec('app-0123456789ab', ['sh', '-c', cmd], { timeoutMs: 10_000 });
    expect((await x('hostname')).stdout.trim()).toBe('app');
    // The app takes its lock as balena apps do (O_CREAT|O_EXCL); the agent sees it on the host.
    expect(await x('set -C; : > /run/fleet/updates.lock && id -u')).toMatchObject({
      exitCode: 0,
      stdout: '1000\n',
    });
    expect((await stat(join(lockDir, 'updates.lock'))).uid).toBe(1000);
    expect((await x('set -C; : > /run/fleet/updates.lock')).exitCode).not.toBe(0);
    expect((await x('touch /run/other && grep " /run " /proc/mounts')).stdout).toContain('tmpfs');
    await runtime.stop('app-0123456789ab', { timeoutMs: 0 });
    // Gone when the container starts again (cleaned by someone): recreated, the start works.
    await run('rm', ['-rf', lockDir]);
    await runtime.start('app-0123456789ab');
    expect((await x('ls -A /run/fleet')).stdout).toBe('');
    await runtime.remove('app-0123456789ab');
    // The lock directory outlives the instance: the next instance of the app shares it.
    expect((await stat(lockDir)).isDirectory()).toBe(true);
  });

  it('connects bridge containers on the agent bridge with addresses from its IPAM', async () => {
    await runtime.create(req('srv', { network: 'bridge', start: sh('exec httpd -f -p 80 -h /www') }));
    await runtime.create(req('cli', { network: 'bridge', start: sh('while true; do sleep 1; done') }));
    await runtime.start('srv');
    await runtime.start('cli');
    const ipam = JSON.parse(await readFile(join(runtime.lxcpath, '.ipam.json'), 'utf8')) as Record<
      string,
      string
    >;
    expect(ipam).toEqual({ srv: '10.213.7.2', cli: '10.213.7.3' });
    const page = await waitFor(
      'http over the bridge',
      async () => {
        const r = await runtime.exec('cli', ['wget', '-q', '-O', '-', 'http://10.213.7.2/'], {
          timeoutMs: 5000,
        });
        return r.exitCode === 0 ? r.stdout : false;
      },
      20,
    );
    expect(page).toBe('hello from busybox httpd\n');
    // And from the host through the bridge's gateway address.
    const { stdout } = await run('busybox', ['wget', '-q', '-O', '-', 'http://10.213.7.2/']);
    expect(stdout).toBe('hello from busybox httpd\n');
    await runtime.remove('srv');
    await runtime.remove('cli');
    expect(JSON.parse(await readFile(join(runtime.lxcpath, '.ipam.json'), 'utf8'))).toEqual({});
  });

  it('runs host and none networking as asked', async () => {
    await runtime.create(req('nethost', { network: 'host', start: sh('while true; do sleep 1; done') }));
    await runtime.create(req('netnone', { network: 'none', start: sh('while true; do sleep 1; done') }));
    await runtime.start('nethost');
    await runtime.start('netnone');
    const links = async (n: string) =>
      (await runtime.exec(n, ['cat', '/proc/net/dev'], { timeoutMs: 5000 })).stdout;
    expect(await links('nethost')).toContain('eth0');
    expect(await links('netnone')).not.toContain('eth0');
    await runtime.remove('nethost');
    await runtime.remove('netnone');
  });

  it('follows the console log across rotation', async () => {
    // 200 lines of 40 bytes, one write each: one rotation at the 4 KiB limit.
    await runtime.create(
      req('follow', {
        start: sh(
          'i=0; while [ $i -lt 200 ]; do echo "tick $i padded to rotate the log soon"; i=$((i+1)); sleep 0.01; done; echo done; sleep 100',
        ),
      }),
    );
    const ac = new AbortController();
    const seen: string[] = [];
    const started = runtime.start('follow');
    for await (const chunk of runtime.followLogs('follow', { signal: ac.signal, pollMs: 50 })) {
      seen.push(chunk);
      if (/\ndone\r?\n/.test(seen.join(''))) ac.abort();
    }
    await started;
    const dir = join(runtime.lxcpath, 'follow');
    const onDisk =
      (await readFile(join(dir, 'console.log.1'), 'utf8')) +
      (await readFile(join(dir, 'console.log'), 'utf8'));
    // What the follower saw is exactly the two files end to end: nothing lost or doubled at the
    // rotation. (LXC 5.0.2 itself garbles the one line that straddles the limit: after
    // rotating it writes the head of the buffer instead of its tail; see docs/runtime.md.)
    expect(seen.join('')).toBe(onDisk);
    const lines = onDisk.split(/\r?\n/).filter((l) => l.startsWith('tick'));
    expect(lines.length).toBeGreaterThanOrEqual(199);
    expect(lines[0]).toBe('tick 0 padded to rotate the log soon');
    expect(lines.at(-1)).toBe('tick 199 padded to rotate the log soon');
    await runtime.remove('follow');
  });

  it('rotates the console log at its size limit', async () => {
    await runtime.create(
      req('chatty', {
        start: sh(
          'i=0; while [ $i -lt 400 ]; do echo "line $i of some console output"; i=$((i+1)); done; sleep 100',
        ),
      }),
    );
    await runtime.start('chatty');
    await waitFor('rotation', async () =>
      stat(join(runtime.lxcpath, 'chatty/console.log.1')).then(
        () => true,
        () => false,
      ),
    );
    // Sampled once right after .1 appeared, console.log was over the limit in a CI run at load 30
    // (LXC rotates from its own thread; the new file's first writes can race our stat): wait for
    // the settled state instead. A log that never comes back under the limit still fails here.
    await waitFor('console.log back under its limit', async () =>
      stat(join(runtime.lxcpath, 'chatty/console.log')).then(
        (st) => st.size <= 4096,
        () => false,
      ),
    );
    await runtime.remove('chatty');
  });

  it('refuses bad input with a clear error and changes nothing', async () => {
    await expect(runtime.create(req('Bad_Name'))).rejects.toThrow(/bad container name "Bad_Name"/);
    await expect(
      runtime.create(req('nofs', {}, { rootfs: { kind: 'squashfs', path: join(tmp.path, 'missing.sqfs') } })),
    ).rejects.toThrow(/does not exist/);
    const notSquash = join(tmp.path, 'not.sqfs');
    await writeFile(notSquash, 'garbage');
    await expect(
      runtime.create(req('badfs', {}, { rootfs: { kind: 'squashfs', path: notSquash } })),
    ).rejects.toThrow(/not a squashfs image/);
    await expect(
      runtime.create(req('badenv', { start: sh('true', { env: { X: 'a\nlxc.init.uid = 0' } }) })),
    ).rejects.toThrow(/start.env.X: must not contain a newline/);
    await expect(
      runtime.create(req('novol', { volumes: [{ name: 'data', path: '/data', persistence: 'permanent' }] })),
    ).rejects.toThrow(/volume "data" of novol has no source/);
    await expect(
      runtime.create(req('nodev', { devices: [{ path: '/dev/nonexistent-device' }] })),
    ).rejects.toThrow(/does not exist on this host/);
    await expect(runtime.start('ghost')).rejects.toThrow(/ghost is not defined/);
    const badIpam = join(tmp.path, 'bad-ipam.json');
    await writeFile(badIpam, '{not json');
    await expect(
      new BridgeNetwork({ name: 'fltbad', subnet: '10.213.8.0/24', stateFile: badIpam }).allocate('x'),
    ).rejects.toThrow(/cannot read IPAM state .*bad-ipam.json/);
    expect(await readFile(badIpam, 'utf8')).toBe('{not json');
    expect(
      () => new BridgeNetwork({ name: 'this-name-is-too-long', subnet: '10.213.8.0/24', stateFile: badIpam }),
    ).toThrow(/bad bridge name/);
    for (const n of ['nofs', 'badfs', 'badenv', 'novol', 'nodev'])
      await expect(stat(join(runtime.lxcpath, n))).rejects.toThrow(/ENOENT/);

    await runtime.create(req('twice', { start: sh('while true; do sleep 1; done') }));
    const first = await runtime.start('twice');
    await expect(runtime.start('twice')).rejects.toThrow(/already running/);
    await expect(runtime.create(req('twice'))).rejects.toThrow(/is running; stop it before redefining it/);
    expect((await runtime.state('twice')).initPid).toBe(first.initPid);
    await runtime.remove('twice');

    await runtime.create(req('noexec', { start: { entrypoint: ['/bin/does-not-exist'], cmd: [] } }));
    await runtime.start('noexec').catch(() => undefined);
    const st = await waitFor('failed start settles', async () => {
      const s = await runtime.state('noexec');
      return s.state === 'stopped' ? s : false;
    });
    expect(st.lastExit?.code).not.toBe(0);
    await runtime.remove('noexec');
  });

  it('respawns the starter process after it died, and keeps it out of container cgroups', async () => {
    await runtime.create(req('respawn', { start: sh('sleep 100') }));
    await runtime.start('respawn');
    const before = starter.pid!;
    const home = await readFile(`/proc/${before}/cgroup`, 'utf8');
    expect(home).not.toMatch(/lxc\.(monitor|payload)/);
    expect(home).toBe(await readFile('/proc/self/cgroup', 'utf8'));
    process.kill(before, 'SIGKILL');
    await waitFor(
      'starter gone',
      async () =>
        !(await stat(`/proc/${before}`).then(
          () => true,
          () => false,
        )),
    );
    await runtime.kill('respawn');
    expect((await runtime.start('respawn')).state).toBe('running');
    expect(starter.pid).not.toBe(before);
    await runtime.remove('respawn');
  });

  it('starts through the C helper as well: tiny monitor, clean signals, same runtime', async () => {
    const viaHelper = new LxcRuntime({
      lxc,
      starter: new ExecStarter(lxcStartHelperPath),
      lxcpath: runtime.lxcpath,
    });
    await viaHelper.create(req('helper1', { start: sh('echo via-helper; exec httpd -f -p 80 -h /www') }));
    const st = await viaHelper.start('helper1');
    expect(st).toMatchObject({ state: 'running' });
    expect(st.initPid).toBeGreaterThan(1);
    const status = await readFile(`/proc/${st.initPid}/status`, 'utf8');
    expect(BigInt(`0x${/SigIgn:\s+([0-9a-f]+)/.exec(status)?.[1]}`) & 0x1001000n).toBe(0n);
    await waitFor('output', async () => (await viaHelper.logs('helper1')).includes('via-helper'));
    expect((await runtime.state('helper1')).initPid).toBe(st.initPid);
    await expect(viaHelper.start('helper1')).rejects.toThrow(/helper1 is already running/);
    expect(await viaHelper.stop('helper1', { timeoutMs: 3000 })).toEqual({ graceful: true });
    await expect(
      new LxcRuntime({
        lxc,
        starter: new ExecStarter('/nonexistent/fleet-lxc-start'),
        lxcpath: runtime.lxcpath,
      }).start('helper1'),
    ).rejects.toThrow(/start helper \/nonexistent\/fleet-lxc-start is missing/);
    await viaHelper.remove('helper1');
  });

  it('starts through one long-lived C helper (what main.ts uses): parallel starts, helper outside container cgroups, respawned after it died', async () => {
    const served = new HelperStarter(lxcStartHelperPath);
    const viaServed = new LxcRuntime({ lxc, starter: served, lxcpath: runtime.lxcpath });
    const names = ['served1', 'served2', 'served3'];
    for (const n of names) await viaServed.create(req(n, { start: sh(`echo ${n} up; sleep 100`) }));
    const started = await Promise.all(names.map((n) => viaServed.start(n)));
    const helper = served.pid!;
    for (const [i, st] of started.entries()) {
      expect(st).toMatchObject({ name: names[i], state: 'running' });
      expect((await runtime.state(names[i]!)).initPid).toBe(st.initPid);
      const status = await readFile(`/proc/${st.initPid}/status`, 'utf8');
      expect(BigInt(`0x${/SigIgn:\s+([0-9a-f]+)/.exec(status)?.[1]}`) & 0x1001000n).toBe(0n);
      // The container's monitor is not a child of the helper (nor of us): adoption works.
      const monitorPid = Number(
        (await readFile(`/proc/${st.initPid}/stat`, 'utf8')).split(') ')[1]!.split(' ')[1],
      );
      const monitorParent = Number(
        (await readFile(`/proc/${monitorPid}/stat`, 'utf8')).split(') ')[1]!.split(' ')[1],
      );
      expect([helper, process.pid]).not.toContain(monitorParent);
    }
    await waitFor('output', async () => (await viaServed.logs('served3')).includes('served3 up'));
    // One helper for every start; it never lands in a container's cgroups (its children do).
    expect(served.pid).toBe(helper);
    const home = await readFile(`/proc/${helper}/cgroup`, 'utf8');
    expect(home).not.toMatch(/lxc\.(monitor|payload)/);
    await expect(viaServed.start('served1')).rejects.toThrow(/served1 is already running/);
    await expect(served.start(runtime.lxcpath, 'nosuch', ['/bin/true'])).rejects.toThrow(
      /container nosuch has no config under/,
    );
    await expect(served.start(runtime.lxcpath, 'served1', ['/bin/echo', 'a\0b'])).rejects.toThrow(/NUL byte/);
    // Killed helper: the next start spawns a new one.
    process.kill(helper, 'SIGKILL');
    await waitFor('helper gone', async () => served.pid === undefined);
    await viaServed.kill('served1');
    expect((await viaServed.start('served1')).state).toBe('running');
    expect(served.pid).not.toBe(helper);
    // Closing the helper leaves the containers running.
    await served.close();
    for (const n of names) expect((await runtime.state(n)).state).toBe('running');
    for (const n of names) await viaServed.remove(n);
    const missing = new HelperStarter('/nonexistent/fleet-lxc-start');
    await expect(missing.start(runtime.lxcpath, 'served1', ['/bin/true'])).rejects.toThrow(
      /start helper \/nonexistent\/fleet-lxc-start is missing/,
    );
    await missing.close();
  });

  it('runs from a prepared rootfs directory as well, and redefines a stopped container cleanly', async () => {
    await runtime.create(req('fromdir', { start: sh('echo from-squashfs; sleep 100') }));
    await runtime.start('fromdir');
    const lower = join(runtime.lxcpath, 'fromdir/lower');
    expect(await readFile('/proc/self/mountinfo', 'utf8')).toContain(` ${lower} `);
    await runtime.kill('fromdir');
    await runtime.create(
      req('fromdir', { start: sh('echo from-dir; sleep 100') }, { rootfs: { kind: 'dir', path: rootfsDir } }),
    );
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(` ${lower} `);
    await runtime.start('fromdir');
    await waitFor('output', async () => (await runtime.logs('fromdir')).includes('from-dir'));
    await runtime.remove('fromdir');
    await expect(stat(join(runtime.lxcpath, 'fromdir'))).rejects.toThrow(/ENOENT/);
    // The prepared directory itself was never written to.
    await expect(stat(join(rootfsDir, 'dev/null'))).rejects.toThrow(/ENOENT/);
  });
});
