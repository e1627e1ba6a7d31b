// Benchmark (issue 3): the agent's LXC runtime against crun, runc and lxc-start on the same
// busybox rootfs in the same run, reported as ratios. Not a test: nothing asserts on time.
//   node --conditions=fleet-source --import tsx bench/runtime.bench.ts [--cycles 100] [--parallel 50]
//     [--agent-idle-only]
// Every method runs `sleep 1000` in fresh namespaces and stops with a hard kill (liblxc stop(),
// lxc-stop -k, crun/runc delete -f), as in research/feasibility-lxc.md §3.
// "fleet-runtime" is what main.ts composes (HelperStarter: one long-lived fleet-lxc-start);
// "fleet-runtime/exec-helper" spawns the helper for every start (the previous design), kept so
// the gain of the persistent helper is measured in the same run.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ContainerSpec, generateSigningKey } from '@fleet/protocol';
import { aContainer } from '@fleet/protocol/testing';
import { Liblxc } from '../src/runtime/lxc/liblxc.js';
import { LxcRuntime } from '../src/runtime/lxc/lxc-runtime.js';
import { ExecStarter, HelperStarter } from '../src/runtime/lxc/starter.js';
import { HOST_INIT } from '../src/runtime/lxc/config.js';
import { lxcStartHelperPath } from '@fleet/native';
import { buildBusyboxRootfs } from '../test/integration/helpers/rootfs.js';
import { BUNDLE, provisionServer, writeAgentConfig } from '../test/integration/helpers/agent-harness.js';
import { AGENT_NODE_FLAGS } from '../src/node-flags.js';

const run = promisify(execFile);
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const CYCLES = arg('cycles', 100);
const PARALLEL = arg('parallel', 50);
const REPEATS = arg('repeats', 3);
// `--sequential-only`: just the start->running->stop cycles and their ratios (no parallel
// starts, no memory), printed and written to bench/results/runtime-sequential.json.
const SEQUENTIAL_ONLY = process.argv.includes('--sequential-only');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Runs a bash loop of `n` start/stop pairs and prints the elapsed ms (measured inside bash). */
function bashLoop(n: number, start: string, stop: string, prelude = ''): string {
  return `${prelude}
t0=$(date +%s%N)
for i in $(seq 1 ${n}); do
  ${start} >/dev/null 2>&1 || { echo "start failed at $i" >&2; exit 1; }
  ${stop} >/dev/null 2>&1 || { echo "stop failed at $i" >&2; exit 1; }
done
t1=$(date +%s%N)
echo $(( (t1 - t0) / 1000000 ))`;
}

async function bash(script: string): Promise<number> {
  const { stdout } = await run('bash', ['-c', script], { maxBuffer: 1 << 20 });
  return Number(stdout.trim().split('\n').pop());
}

async function rssKiB(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0);
}

async function mjsBytes(dir: string): Promise<number> {
  let n = 0;
  for (const f of await readdir(dir)) if (f.endsWith('.mjs')) n += (await stat(join(dir, f))).size;
  return n;
}

async function pssKiB(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  return Number(/^Pss:\s+(\d+)/m.exec(s)?.[1] ?? 0);
}

async function monitorsOf(lxcpath: string): Promise<number[]> {
  const pids: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (cmd.startsWith('[lxc monitor]') && cmd.includes(lxcpath)) pids.push(Number(p));
  }
  return pids;
}

const pkgDir = resolve(import.meta.dirname, '..');

/** Compile src/runtime to JS next to a node_modules link, so it runs as it would in production. */
async function buildRuntime(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: join(pkgDir, 'tsconfig.json'),
      compilerOptions: {
        rootDir: join(pkgDir, 'src'),
        outDir: join(dir, 'dist'),
        declaration: false,
        sourceMap: false,
        typeRoots: [join(pkgDir, 'node_modules/@types')],
      },
      include: [join(pkgDir, 'src/runtime/**/*.ts')],
      exclude: [join(pkgDir, 'src/**/*.test.ts')],
    }),
  );
  await run(join(pkgDir, 'node_modules/.bin/tsc'), ['-p', join(dir, 'tsconfig.json')]);
  await symlink(join(pkgDir, 'node_modules'), join(dir, 'node_modules'));
  await writeFile(join(dir, 'package.json'), '{"type":"module"}');
  return join(dir, 'dist');
}

/** Leaves the 10 containers running under the returned lxcpath (the caller removes them). */
async function measureMemory(
  tmp: string,
  rootfs: string,
  spec: ContainerSpec,
): Promise<{ lxcpath: string; result: Record<string, unknown> }> {
  if (!existsSync(join(tmp, 'build'))) await buildRuntime(join(tmp, 'build'));
  const lxcpath = join(tmp, 'mem');
  await mkdir(lxcpath);
  const agentJs = join(tmp, 'build', 'agent.js');
  // The agent process: the runtime as main.ts composes it (liblxc binding, HelperStarter),
  // idle before its first container (first line), then with 10 running (second line).
  await writeFile(
    agentJs,
    `import { Liblxc } from './dist/runtime/lxc/liblxc.js';
import { LxcRuntime } from './dist/runtime/lxc/lxc-runtime.js';
import { HelperStarter } from './dist/runtime/lxc/starter.js';
const starter = new HelperStarter(process.env.HELPER);
const rt = new LxcRuntime({ lxc: Liblxc.load(), starter, lxcpath: process.env.LXCPATH });
const spec = JSON.parse(process.env.SPEC);
const step = () => new Promise((r) => process.stdin.once('data', r));
console.log(JSON.stringify({ phase: 'idle' }));
await step();
const pids = [];
for (let i = 0; i < 10; i++) {
  await rt.create({ name: 'm' + i, spec, rootfs: { kind: 'dir', path: process.env.ROOTFS }, volumes: {} });
  pids.push((await rt.start('m' + i)).initPid);
}
console.log(JSON.stringify({ phase: 'running', helper: starter.pid, pids }));
setInterval(() => {}, 1e9);
`,
  );
  const agent = spawn(process.execPath, [agentJs], {
    env: {
      ...process.env,
      LXCPATH: lxcpath,
      ROOTFS: rootfs,
      SPEC: JSON.stringify(spec),
      HELPER: lxcStartHelperPath,
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  let waiters: (() => void)[] = [];
  let buf = '';
  agent.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    for (const w of waiters) w();
    waiters = [];
  });
  const exited = new Promise<never>((_, rej) => agent.on('exit', (c) => rej(new Error(`agent exited ${c}`))));
  exited.catch(() => undefined);
  const line = async (n: number) => {
    while (lines.length < n) await Promise.race([new Promise<void>((r) => waiters.push(r)), exited]);
    return JSON.parse(lines[n - 1]!) as { helper: number; pids: number[] };
  };
  const settle = () => new Promise((r) => setTimeout(r, 1000));
  const bare = spawn(process.execPath, ['-e', 'setInterval(()=>{},1e9)'], { stdio: 'ignore' });
  await line(1);
  await settle();
  const idleRss = await rssKiB(agent.pid!);
  const idlePss = await pssKiB(agent.pid!);
  agent.stdin!.write('go\n');
  const info = await line(2);
  await settle();
  const agentRss = await rssKiB(agent.pid!);
  const agentPss = await pssKiB(agent.pid!);
  const helperRss = await rssKiB(info.helper);
  const helperPss = await pssKiB(info.helper);
  const bareRss = await rssKiB(bare.pid!);
  const monitors = await monitorsOf(lxcpath);
  const monitorPss = await Promise.all(monitors.map(pssKiB));
  const initPss = await Promise.all(info.pids.map(pssKiB));
  // The whole agent's code (compiled main.ts and everything it imports, not run): what a
  // device pays before any container, for comparison with the runtime alone.
  const mainJs = join(pkgDir, 'dist/main.js');
  let wholeAgentRss: number | null = null;
  if (existsSync(mainJs)) {
    const whole = spawn(
      process.execPath,
      ['--input-type=module', '-e', `await import(${JSON.stringify(mainJs)}); setInterval(() => {}, 1e9);`],
      { stdio: 'ignore' },
    );
    await new Promise((r) => setTimeout(r, 3000));
    wholeAgentRss = await rssKiB(whole.pid!);
    whole.kill();
  }
  bare.kill();
  agent.kill();
  await new Promise((r) => agent.once('exit', r));
  const agentShare = Math.max(0, agentPss - idlePss) / 10;
  return {
    lxcpath,
    result: {
      note: 'agent = a process running LxcRuntime (compiled to JS) with HelperStarter, as main.ts composes it; helper = its fleet-lxc-start --serve process',
      bareNodeRssKiB: bareRss,
      agentIdleRssKiB: idleRss,
      agentIdleVsBareNode: idleRss / bareRss,
      agentRssKiB: agentRss,
      agentVsBareNode: agentRss / bareRss,
      helperRssKiB: helperRss,
      agentPlusHelperVsBareNode: (agentRss + helperRss) / bareRss,
      wholeAgentImportRssKiB: wholeAgentRss,
      wholeAgentImportVsBareNode: wholeAgentRss === null ? null : wholeAgentRss / bareRss,
      monitorsCounted: monitors.length,
      monitorPssKiBMedian: median(monitorPss),
      containerInitPssKiBMedian: median(initPss),
      agentIdlePssKiB: idlePss,
      agentPssKiB: agentPss,
      helperPssKiB: helperPss,
      // The goal's measure: what one more container costs, i.e. its monitor plus the agent's
      // growth per container (agent PSS with 10 containers minus idle, over 10).
      agentSharePerContainerKiB: agentShare,
      perContainerPssKiB: median(monitorPss) + agentShare,
      perContainerWithInitPssKiB: median(monitorPss) + agentShare + median(initPss),
      // For completeness: the agent and helper's whole PSS spread over the 10 containers.
      perContainerWithAmortizedAgentKiB: median(monitorPss) + median(initPss) + (agentPss + helperPss) / 10,
    },
  };
}

/**
 * The real agent as shipped (dist/bundle/fleet-agent.mjs, `fleet-agent run`), provisioned and
 * connected to the MQTT broker ($FLEET_BENCH_MQTT_URL, default the local Mosquitto), idle with
 * no release: its RSS against a bare `node -e 'setInterval(()=>{},1e9)'` started at the same
 * time. This is the figure the issue-3 goal is about; measureMemory() covers only the runtime.
 */
async function measureAgentProcessIdle(tmp: string): Promise<Record<string, unknown>> {
  // $FLEET_BENCH_AGENT_BUNDLE: another build of the bundle (e.g. the previous commit's) to compare.
  const bundle = process.env.FLEET_BENCH_AGENT_BUNDLE ?? BUNDLE;
  if (!existsSync(bundle))
    throw new Error(`${bundle} is missing: pnpm --filter @fleet/device-agent run build first`);
  const mqttUrl = process.env.FLEET_BENCH_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
  const prov = await provisionServer(mqttUrl);
  const configPath = await writeAgentConfig(
    join(tmp, 'idle-agent', 'storage'),
    prov.url,
    generateSigningKey('bench'),
  );
  // With the node flags the device's launcher passes (images' agent-run; src/node-flags.ts).
  const agent = spawn(process.execPath, [...AGENT_NODE_FLAGS, bundle, 'run', '--config', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const bare = spawn(process.execPath, ['-e', 'setInterval(()=>{},1e9)'], { stdio: 'ignore' });
  let out = '';
  agent.stdout.on('data', (d: Buffer) => (out += d.toString()));
  agent.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    for (let waited = 0; !out.includes('connected to broker'); waited += 100) {
      if (agent.exitCode !== null || waited > 60_000)
        throw new Error(`agent did not connect to ${mqttUrl}:\n${out}`);
      await sleep(100);
    }
    // Idle: connected, no release, nothing to do but its timers. Sample a few times and keep
    // the median so one GC in flight does not decide the figure.
    await sleep(5_000);
    const agentRss: number[] = [];
    const bareRss: number[] = [];
    for (let i = 0; i < 5; i++) {
      agentRss.push(await rssKiB(agent.pid!));
      bareRss.push(await rssKiB(bare.pid!));
      await sleep(1_000);
    }
    const a = median(agentRss);
    const b = median(bareRss);
    return {
      note: 'the real agent bundle (fleet-agent run), provisioned, connected to the broker, idle with no release, 5 s after connecting',
      bundle,
      // fleet-agent.mjs and its chunks (code splitting: the agent's modules sit next to it).
      bundleBytes: await mjsBytes(dirname(bundle)),
      agentNodeFlags: [...AGENT_NODE_FLAGS],
      bareNodeRssKiB: b,
      agentProcessIdleRssKiB: a,
      agentProcessIdlePssKiB: await pssKiB(agent.pid!),
      agentProcessIdleVsBareNode: a / b,
    };
  } finally {
    agent.kill();
    bare.kill();
    prov.server.close();
  }
}

async function main(): Promise<void> {
  const tmp = await mkdtemp(join(tmpdir(), 'fleet-bench-'));
  const results: Record<string, unknown> = {
    cycles: CYCLES,
    parallel: PARALLEL,
    repeats: REPEATS,
    date: new Date().toISOString(),
    loadavgAtStart: loadavg(),
  };
  const lxc = Liblxc.load();
  const starter = new HelperStarter(lxcStartHelperPath);
  try {
    const rootfs = await buildBusyboxRootfs(join(tmp, 'rootfs'));
    // --- ours
    const lxcpath = join(tmp, 'agent');
    await mkdir(lxcpath);
    const runtime = new LxcRuntime({ lxc, starter, lxcpath });
    const viaExec = new LxcRuntime({ lxc, starter: new ExecStarter(lxcStartHelperPath), lxcpath });
    const spec = ContainerSpec.parse(aContainer({ start: { entrypoint: ['/bin/sleep'], cmd: ['1000'] } }));
    await runtime.create({ name: 'b0', spec, rootfs: { kind: 'dir', path: rootfs }, volumes: {} });
    await runtime.start('b0');
    await runtime.kill('b0');
    // --- OCI bundles shared by crun and runc: crun's default spec (new pid/net/ipc/uts/mount
    // namespaces, read-only root, 3 capabilities, masked and read-only /proc paths, devices
    // cgroup deny-all + crun's defaults, no terminal). Two variants:
    //  - `bundle` (the reference for the goals): pid 1 is the same LXC static init our runtime
    //    runs, bind-mounted read-only at /.fleet-init, with the workload as its child, so both
    //    sides start the same two processes (init + sleep) in the container;
    //  - `bundle-default`: the workload itself is pid 1 (the reference before decision 0024).
    // Still not the same on both sides: ours mounts a per-container writable overlay, allocates
    // a console pty logged to console.log, writes lxc.log (INFO), keeps an `[lxc monitor]` with
    // its own cgroups, and brings `lo` up; crun's config has more mounts (masked/read-only
    // paths), drops all but 3 capabilities and writes no log.
    const ociBundle = async (dir: string, args: string[], extraMounts: object[]) => {
      await mkdir(dir);
      await run('crun', ['spec'], { cwd: dir });
      const cfg = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
      cfg.process.terminal = false;
      cfg.process.args = args;
      cfg.root = { path: rootfs, readonly: true };
      cfg.mounts.push(...extraMounts);
      await writeFile(join(dir, 'config.json'), JSON.stringify(cfg));
    };
    const bundle = join(tmp, 'bundle');
    // The mount point is created by the runtime under the (shared, host-side) rootfs dir.
    await writeFile(join(rootfs, '.fleet-init'), '');
    await ociBundle(
      bundle,
      ['/.fleet-init', '-q', '-n', 'oci', '--', '/bin/sleep', '1000'],
      [{ destination: '/.fleet-init', type: 'bind', source: HOST_INIT, options: ['bind', 'ro'] }],
    );
    const bundleDefault = join(tmp, 'bundle-default');
    await ociBundle(bundleDefault, ['/bin/sleep', '1000'], []);
    // --- lxc-start on the very config our runtime generated (same overlay, init, limits),
    // with the argv in lxc.init.cmd (no argument has a space, so LXC's splitting is harmless).
    const clipath = join(tmp, 'cli');
    await mkdir(join(clipath, 'c0', 'upper'), { recursive: true });
    const generated = await readFile(join(lxcpath, 'b0', 'config'), 'utf8');
    await writeFile(
      join(clipath, 'c0/config'),
      generated.replaceAll(join(lxcpath, 'b0'), join(clipath, 'c0')) +
        'lxc.init.cmd = /.fleet-init -q -n c0 -- /bin/sleep 1000\n',
    );
    // crun 1.8.1 refuses hybrid cgroups while cgroup2 holds a controller: hide that file in a
    // private mount namespace (research §3); this masking only exists to benchmark crun here.
    const empty = join(tmp, 'empty');
    await writeFile(empty, '');
    const crunPrelude = `mount --bind ${empty} /sys/fs/cgroup/unified/cgroup.controllers`;

    const crunLoop = (b: string) => (n: number) =>
      run('unshare', [
        '-m',
        '--propagation',
        'private',
        'bash',
        '-c',
        bashLoop(
          n,
          `crun --root ${tmp}/crun run -d --bundle ${b} k0`,
          `crun --root ${tmp}/crun delete -f k0`,
          crunPrelude,
        ),
      ]).then((r) => Number(r.stdout.trim().split('\n').pop()));
    const runcLoop = (b: string) => (n: number) =>
      bash(
        bashLoop(
          n,
          `runc --root ${tmp}/runc run -d --bundle ${b} r0`,
          `runc --root ${tmp}/runc delete -f r0`,
        ),
      );
    const cycles = (rt: LxcRuntime) => async (n: number) => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const st = await rt.start('b0');
        if (st.state !== 'running') throw new Error(`b0 is ${st.state}`);
        await rt.kill('b0');
      }
      return performance.now() - t0;
    };
    const methods: Record<string, (n: number) => Promise<number>> = {
      'fleet-runtime': cycles(runtime),
      'fleet-runtime/exec-helper': cycles(viaExec),
      'lxc-start': (n) =>
        bash(bashLoop(n, `lxc-start -P ${clipath} -n c0 -d`, `lxc-stop -P ${clipath} -n c0 -k`)),
      crun: crunLoop(bundle),
      runc: runcLoop(bundle),
      'crun/default-spec': crunLoop(bundleDefault),
      'runc/default-spec': runcLoop(bundleDefault),
    };
    // Methods take turns in chunks of CHUNK cycles (rotating who goes first), so that load
    // from other jobs on the machine spreads over all of them instead of hitting one.
    const CHUNK = Math.min(10, CYCLES);
    const seq: Record<string, number[]> = {};
    const methodNames = Object.keys(methods);
    for (let r = 0; r < REPEATS; r++) {
      const totals: Record<string, number> = Object.fromEntries(methodNames.map((n) => [n, 0]));
      for (let c = 0; c < CYCLES / CHUNK; c++) {
        for (let k = 0; k < methodNames.length; k++) {
          const name = methodNames[(c + k) % methodNames.length]!;
          try {
            totals[name]! += await methods[name]!(CHUNK);
          } catch (err) {
            console.error(`${name}: ${(err as Error).message}`);
            totals[name] = Number.NaN;
          }
        }
      }
      for (const n of methodNames) (seq[n] ??= []).push(totals[n]!);
    }
    const med = Object.fromEntries(Object.entries(seq).map(([k, v]) => [k, median(v)]));
    results.sequential = {
      runsMs: seq,
      medianMs: med,
      perCycleMs: Object.fromEntries(Object.entries(med).map(([k, v]) => [k, v / CYCLES])),
    };
    const ratio = (ours: number) => ({
      vsCrun: ours / med.crun!,
      vsRunc: ours / med.runc!,
      vsLxcStart: ours / med['lxc-start']!,
      vsCrunDefaultSpec: ours / med['crun/default-spec']!,
      vsRuncDefaultSpec: ours / med['runc/default-spec']!,
    });
    results.ratios = {
      fleetRuntime: ratio(med['fleet-runtime']!),
      execHelper: ratio(med['fleet-runtime/exec-helper']!),
    };
    if (SEQUENTIAL_ONLY) {
      await runtime.remove('b0');
      return await writeResults(results, 'runtime-sequential.json');
    }

    // --- parallel starts through our runtime
    const names = Array.from({ length: PARALLEL }, (_, i) => `p${i}`);
    for (const n of names)
      await runtime.create({ name: n, spec, rootfs: { kind: 'dir', path: rootfs }, volumes: {} });
    const t0 = performance.now();
    await Promise.all(names.map((n) => runtime.start(n)));
    const parallelStartMs = performance.now() - t0;
    const t1 = performance.now();
    await Promise.all(names.map((n) => runtime.kill(n)));
    results.parallel = {
      containers: PARALLEL,
      startAllMs: parallelStartMs,
      stopAllMs: performance.now() - t1,
    };

    // --- memory, production-like: the runtime compiled to JS (no tsx loader) in its own agent
    // process running 10 containers, against a bare idle Node.
    const m = await measureMemory(tmp, rootfs, spec);
    const agentProcess = await measureAgentProcessIdle(tmp);
    results.memory = { ...m.result, agentProcess };
    const memRt = new LxcRuntime({ lxc, starter, lxcpath: m.lxcpath });
    for (const c of await memRt.list()) await memRt.remove(c.name);
    const r = results.ratios as Record<string, Record<string, number>>;
    const mem = m.result as Record<string, number>;
    results.goals = {
      'sequential <= 0.5x crun': { value: r.fleetRuntime!.vsCrun, met: r.fleetRuntime!.vsCrun! <= 0.5 },
      'sequential <= 0.25x runc': { value: r.fleetRuntime!.vsRunc, met: r.fleetRuntime!.vsRunc! <= 0.25 },
      'agent RSS with 10 containers <= 1.5x bare node': {
        value: mem.agentVsBareNode,
        met: mem.agentVsBareNode! <= 1.5,
      },
      'real agent process idle RSS <= 1.5x bare node': {
        value: agentProcess.agentProcessIdleVsBareNode,
        met: (agentProcess.agentProcessIdleVsBareNode as number) <= 1.5,
      },
      'per-container PSS (monitor + agent share) <= 1 MiB': {
        value: mem.perContainerPssKiB,
        met: mem.perContainerPssKiB! <= 1024,
      },
    };
    for (const c of await runtime.list()) await runtime.remove(c.name);
  } finally {
    await starter.close();
    results.loadavgAtEnd = loadavg();
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
  await writeResults(results, 'runtime.json');
}

async function writeResults(results: Record<string, unknown>, file: string): Promise<void> {
  results.loadavgAtEnd = loadavg();
  const out = resolve(import.meta.dirname, '../../bench/results', file);
  await mkdir(resolve(out, '..'), { recursive: true });
  await writeFile(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
  for (const [k, r] of Object.entries(results.ratios as Record<string, Record<string, number>>)) {
    console.log(
      `${CYCLES} sequential start->running->stop cycles, ${k} = ${r.vsCrun!.toFixed(2)}x crun, ${r.vsRunc!.toFixed(2)}x runc, ${r.vsLxcStart!.toFixed(2)}x lxc-start (goals: <=0.5x crun, <=0.25x runc); default-spec OCI (workload as pid 1): ${r.vsCrunDefaultSpec!.toFixed(2)}x crun, ${r.vsRuncDefaultSpec!.toFixed(2)}x runc`,
    );
  }
  console.log(`written to ${out}`);
}

// `--agent-idle-only`: just the real agent's idle RSS against bare Node, printed, no JSON
// written (a quick before/after check of a bundle change; the full run records it too).
if (process.argv.includes('--agent-idle-only')) {
  const tmp = await mkdtemp(join(tmpdir(), 'fleet-bench-'));
  try {
    console.log(JSON.stringify(await measureAgentProcessIdle(tmp), null, 2));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
} else {
  await main();
}
