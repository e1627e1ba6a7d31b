// Power-cut torture of the whole agent (issue 4, "Proof"): the real `fleet-agent run` process
// (the device bundle: link + MQTT + store + LXC runtime + update engine + file boot backend)
// receives each update as a retained, signed hub target over a real Mosquitto and is SIGKILLed
// either at a state boundary (FLEET_CRASH_AT, the engine's crash hook) or at a random instant.
// It is started again (after a simulated power cycle when it asked for a reboot) until the
// update settled. After every run:
//   - exactly the old or the new revision is committed (and the expected one when it is known),
//   - exactly that revision's containers are defined and running, nothing else (no orphan),
//   - the permanent volume's checksum is unchanged,
//   - the journal parses, is idle, carries no update, and recorded this update's outcome,
//   - no slot is left armed or on trial, and the booted slot is the committed one.
// TORTURE_RUNS (default 200, `pnpm torture` 2000) runs; half at boundaries (every boundary of
// every scenario that passes it, in turn), half at random instants.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  decodeMessage,
  encodeMessage,
  generateSigningKey,
  ReleaseManifest,
  signManifest,
  topics,
  UpdateState,
  type Target,
} from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import { connectAsync, type MqttClient } from './helpers/mqtt-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { FileBootControl, defaultFileBootPaths } from '../../src/boot/file-boot-control.js';
import { instancesOf } from '../../src/reconcile/index.js';
import { Liblxc } from '../../src/runtime/lxc/liblxc.js';
import { LxcRuntime } from '../../src/runtime/lxc/lxc-runtime.js';
import { StarterClient } from '../../src/runtime/lxc/starter.js';
import { Journal } from '../../src/update/journal.js';
import { effectiveManifest } from '../../src/update/revision.js';
import {
  prepareAgent,
  provisionServer,
  SIMULATED_REBOOT_EXIT,
  startAgentProcess,
  writeAgentConfig,
  type AgentProcess,
} from './helpers/agent-harness.js';
import { waitFor } from './helpers/link-fixtures.js';
import { TestMosquitto } from './helpers/link-mosquitto.js';
import { buildBusyboxRootfs, buildSquashfs, tempDir } from './helpers/rootfs.js';

const RUNS = Number(process.env.TORTURE_RUNS ?? 200);
// In every spec: instance names hash the spec, and cgroups (lxc.payload.<name>) are named
// machine-wide whatever the lxcpath, so two tortures at once must not share container names.
const RUN_ID = randomBytes(4).toString('hex');
const key = generateSigningKey('torture');
// A failed run leaves what happened here (git-ignored): every agent process of the run, the
// progress the hub received, and for a run that did not settle the stuck processes.
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/agent-torture/', import.meta.url));

type Scenario = 'app-ok' | 'app-fail' | 'sys-ok' | 'sys-fail' | 'sys-bootfail';
const PASSES: Record<Scenario, readonly UpdateState[]> = {
  'app-ok': ['idle', 'downloading', 'verifying', 'waiting', 'installing', 'testing', 'committing'],
  'app-fail': ['idle', 'downloading', 'verifying', 'waiting', 'installing', 'rolling-back'],
  'sys-ok': [
    'idle',
    'downloading',
    'verifying',
    'waiting',
    'installing',
    'rebooting',
    'testing',
    'committing',
  ],
  'sys-fail': [
    'idle',
    'downloading',
    'verifying',
    'waiting',
    'installing',
    'rebooting',
    'testing',
    'rolling-back',
    'rollback-rebooting',
  ],
  'sys-bootfail': ['idle', 'downloading', 'verifying', 'waiting', 'installing', 'rebooting', 'rolling-back'],
};
const SCENARIOS = Object.keys(PASSES) as Scenario[];

let tmp: Awaited<ReturnType<typeof tempDir>>;
let storage: string;
let lxcpath: string;
let configPath: string;
let broker: TestMosquitto;
let prov: Awaited<ReturnType<typeof provisionServer>>;
let objectServer: Server;
let objectBase: string;
let objectsDir: string;
let mqtt: MqttClient;
let deviceId: string;
let api: ApiClient;
let runtime: LxcRuntime;
let starter: StarterClient;
let boot: FileBootControl;
let agent: AgentProcess | null = null;
let rootfs: { digest: string; size: number };
let seq = 1;
let seedSum = '';
let randomWindowMs = 1000;
const counts = {
  runs: 0,
  boundaryRuns: 0,
  randomRuns: 0,
  crashHookKills: 0,
  randomKills: 0,
  idleKills: 0,
  agentStarts: 0,
  powerCycles: 0,
  onNew: 0,
  onOld: 0,
  checksPassed: 0,
};
const durations: number[] = [];
/** The agent processes of the current run, in start order (their output is the run's log). */
let runAgents: { label: string; proc: AgentProcess }[] = [];
/** Progress the hub received, per update id. */
const hubProgress = new Map<string, string[]>();

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function addObject(path: string): Promise<{ digest: string; size: number }> {
  const bytes = await readFile(path);
  const hex = sha(bytes);
  await writeFile(join(objectsDir, hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

async function release(scenario: Scenario | 'base'): Promise<ReleaseManifest> {
  const fail = scenario === 'app-fail' || scenario === 'sys-fail';
  let system: { rootfs: { digest: string; size: number; slot: 'ab' } } | undefined;
  if (scenario.startsWith('sys')) {
    const img = join(tmp.path, 'slot.img');
    await writeFile(img, randomBytes(32 * 1024));
    system = { rootfs: { ...(await addObject(img)), slot: 'ab' } };
  }
  const script = fail
    ? 'exit 3'
    : '[ -f /data/seed ] || head -c 4096 /dev/urandom > /data/seed; exec sleep 100000';
  // A failing release fails the gate whatever the timing: it exits at once (no restart:
  // maxRetries 0 makes the first exit a crash loop, which ends the gate as soon as it is
  // seen) and its status goal `ready` needs a health check that never passes. With `exit 3`
  // alone and a 0 s bake, the gate only saw the failure if the exit came within one poll
  // (50 ms) of a (re)start: under load a CI run committed a failing app (decision 0015).
  const failing = fail
    ? {
        restart: { policy: 'always' as const, maxRetries: 0, backoffMs: 1_000 },
        statusGoal: 'ready' as const,
        health: {
          exec: ['/bin/sh', '-c', 'exit 1'],
          intervalMs: 200,
          timeoutMs: 1_000,
          retries: 1,
          startPeriodMs: 0,
        },
      }
    : {};
  const r = aRelease({
    version: `${seq}.0.0`,
    sequence: seq,
    release: `r${seq}`,
    ...(system ? { system } : {}),
    containers: {
      web: aContainer({
        rootfs,
        image: { ref: 'busybox', digest: rootfs.digest },
        start: {
          entrypoint: ['/bin/sh', '-c'],
          cmd: [script],
          env: { SEQ: String(seq), TORTURE: RUN_ID },
          stopTimeoutMs: 2_000,
        },
        volumes: [{ name: 'data', path: '/data', persistence: 'permanent' }],
        ...failing,
      }),
      // Unchanged across revisions: it must keep running through every update (same instance).
      net: aContainer({
        group: 'platform',
        rootfs,
        image: { ref: 'busybox', digest: rootfs.digest },
        start: {
          entrypoint: ['/bin/sh', '-c'],
          cmd: ['exec sleep 100000'],
          env: { TORTURE: RUN_ID },
          stopTimeoutMs: 2_000,
        },
      }),
    },
  });
  return signManifest(ReleaseManifest.parse(r), key);
}

function start(crashAt?: string): AgentProcess {
  counts.agentStarts++;
  agent = startAgentProcess(configPath, {
    args: ['--poll-ms', '50', '--goal-timeout-ms', '5000', '--space-reserve-bytes', '1'],
    ...(crashAt ? { env: { FLEET_CRASH_AT: crashAt } } : {}),
  });
  runAgents.push({
    label: `agent pid ${agent.child.pid}${crashAt ? ` FLEET_CRASH_AT=${crashAt}` : ''}`,
    proc: agent,
  });
  return agent;
}

async function kill(why: 'random' | 'idle'): Promise<void> {
  const a = agent;
  if (!a) return;
  agent = null;
  if (a.child.exitCode === null && a.child.signalCode === null) {
    a.child.kill('SIGKILL');
    if (why === 'random') counts.randomKills++;
    else counts.idleKills++;
  }
  await a.exited;
}

/** Power off: every container dies with the machine; then the (file) bootloader runs. */
async function powerCycle(failingSlots: ('A' | 'B')[]): Promise<void> {
  counts.powerCycles++;
  for (const c of await runtime.list())
    if (c.state !== 'stopped') await runtime.kill(c.name).catch(() => undefined);
  await boot.simulateBoot({ failingSlots });
}

interface AgentStatus {
  journal: Journal;
  running: string | null;
}

async function agentStatus(): Promise<AgentStatus | null> {
  return api.json<AgentStatus>('GET', '/v1/status').catch(() => null);
}

async function publishTarget(t: Target): Promise<void> {
  const enc = encodeMessage('target', t);
  if (!enc.ok) throw enc.error;
  await mqtt.publishAsync(topics.device(deviceId).target, enc.value.payload, { qos: 1, retain: true });
}

async function committedRelease(): Promise<ReleaseManifest | null> {
  const cur = JSON.parse(await readFile(join(storage, 'current'), 'utf8').catch(() => 'null'));
  if (!cur) return null;
  const doc = JSON.parse(
    await readFile(join(storage, 'update-revisions', `${cur.committed.revision}.json`), 'utf8'),
  );
  return ReleaseManifest.parse(doc.release);
}

/**
 * Runs the agent until the update settled: the journal is idle and records this update's
 * outcome, nothing runs in the exclusive runner. A process that dies (the crash hook, a kill)
 * or exits for a reboot is started again, after a power cycle for a reboot.
 */
async function settle(updateId: string, failing: ('A' | 'B')[], deadlineMs = 90_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    if (Date.now() > deadline)
      throw new Error(`update ${updateId} did not settle:\n${await stuck(updateId)}`);
    const a = agent;
    if (!a || a.child.exitCode !== null || a.child.signalCode !== null) {
      const exit = a ? await a.exited : null;
      if (exit?.signal === 'SIGKILL') counts.crashHookKills++;
      else if (exit && exit.code === SIMULATED_REBOOT_EXIT) await powerCycle(failing);
      else if (exit) throw new Error(`agent exited ${exit.code ?? exit.signal}: ${a?.output().slice(-3000)}`);
      start();
      continue;
    }
    const s = await agentStatus();
    if (
      s &&
      s.journal.state === 'idle' &&
      s.journal.lastOutcome?.updateId === updateId &&
      s.journal.lastOutcome.reported &&
      s.running === null
    )
      return;
    await new Promise((r) => setTimeout(r, 40));
  }
}

/** One update: publish, kill (at a boundary or a random instant), restart until settled, check. */
async function run(scenario: Scenario | 'base', crash: { at?: string; afterMs?: number }): Promise<void> {
  counts.runs++;
  const before = await committedRelease();
  const fromSlot = await boot.activeSlot();
  const r = await release(scenario);
  seq++;
  const updateId = `t${r.sequence}`;
  const failing: ('A' | 'B')[] = scenario === 'sys-bootfail' ? [fromSlot === 'A' ? 'B' : 'A'] : [];
  const t0 = Date.now();
  if (crash.at) {
    counts.boundaryRuns++;
    // The crash hook is read at process start: this agent dies at that boundary.
    await kill('idle');
    start(crash.at);
    await waitFor('agent api', () => agentStatus(), 60_000);
  } else if (!agent) {
    start();
    await waitFor('agent api', () => agentStatus(), 60_000);
  }
  // Every update bakes 0 s: the gate observes at least one poll of a fresh supervisor view.
  // That alone is no proof against a workload that exits "at once" (on a loaded machine its
  // exit can come later than the poll); failing releases are built to fail the gate at any
  // speed (release()). What the gate makes of timing is the health-gate unit tests' subject.
  const bakeSeconds = 0;
  await publishTarget({
    updateId,
    release: r,
    objectBaseUrl: objectBase,
    config: {},
    configVersion: 0,
    strategy: 'stop-start',
    force: false,
    bakeSeconds,
  });
  if (crash.afterMs !== undefined) {
    counts.randomRuns++;
    await new Promise((res) => setTimeout(res, crash.afterMs));
    // Whatever the agent does at this instant, it dies (a reboot exit already under way is fine).
    await kill('random');
  }
  await settle(updateId, failing);
  durations.push(Date.now() - t0);
  // Slow runs are not failures (no wall-time assertions), but worth a look when tuning.
  if (Date.now() - t0 > 20_000)
    console.log(
      `slow run ${updateId} (${scenario} ${JSON.stringify(crash)}): ${Date.now() - t0} ms\n${agent?.output().slice(-4000)}`,
    );

  // --- checks
  const journal = Journal.parse(JSON.parse(await readFile(join(storage, 'journal.json'), 'utf8')));
  expect(journal.state).toBe('idle');
  expect(journal.update).toBeNull();
  const now = await committedRelease();
  expect(now).not.toBeNull();
  const onNew = now?.sequence === r.sequence;
  expect(
    onNew || now?.sequence === before?.sequence,
    `committed ${now?.sequence}, before ${before?.sequence}, new ${r.sequence}`,
  ).toBe(true);
  const healthy = scenario === 'base' || scenario === 'app-ok' || scenario === 'sys-ok';
  if (!healthy)
    expect(
      onNew,
      `failing ${scenario} must end on the old revision: ${JSON.stringify(journal.lastOutcome)}; hub progress: ${(hubProgress.get(updateId) ?? []).join(' | ')}`,
    ).toBe(false);
  if (healthy && crash.at) {
    // A crash while the journal said `installing` is rolled back by design (RESUME).
    const inInstalling =
      crash.at === 'installing:after' ||
      crash.at === (scenario === 'sys-ok' ? 'rebooting:before' : 'testing:before');
    expect(onNew, `${scenario} ${crash.at}: ${JSON.stringify(journal.lastOutcome)}`).toBe(!inInstalling);
  }
  if (onNew) counts.onNew++;
  else counts.onOld++;
  const want = instancesOf(effectiveManifest({ release: now as ReleaseManifest, config: {} }));
  const all = await runtime.list();
  const seen = JSON.stringify(all.map((c) => ({ name: c.name, state: c.state, lastExit: c.lastExit })));
  expect(all.map((c) => c.name).sort(), `defined containers: ${seen}`).toEqual(want);
  expect(
    all
      .filter((c) => c.state === 'running')
      .map((c) => c.name)
      .sort(),
    `running containers: ${seen}; ${JSON.stringify(journal.lastOutcome)}; hub progress: ${(hubProgress.get(updateId) ?? []).join(' | ')}`,
  ).toEqual(want);
  const running = await lxcRunning();
  expect(running, 'lxc-ls --running').toEqual(want);
  const verdict = await boot.verifyBoot();
  expect(verdict.armedSlot).toBeUndefined();
  const cur = JSON.parse(await readFile(join(storage, 'current'), 'utf8'));
  if (cur.slot) expect(verdict.bootedSlot).toBe(cur.slot);
  if (seedSum) expect(sha(await readFile(join(storage, 'volumes', 'web', 'data', 'seed')))).toBe(seedSum);
  counts.checksPassed++;
}

/** Output of a command, killed after `ms` (a wedged LXC monitor must not hang the test too). */
function capture(cmd: string, args: string[], ms = 5_000): Promise<string> {
  return new Promise<string>((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let s = '';
    p.stdout.on('data', (d: Buffer) => (s += d.toString()));
    p.stderr.on('data', (d: Buffer) => (s += d.toString()));
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      s += `\n(${cmd} killed after ${ms} ms)`;
    }, ms);
    p.on('error', (e) => resolve(`${cmd}: ${e.message}`));
    p.on('close', () => {
      clearTimeout(t);
      resolve(s);
    });
  });
}

/**
 * What a run that did not settle was doing: the agent's own view (status: journal, the
 * exclusive runner's job), its process tree with kernel wait channels and stacks (a start
 * helper child, an LXC monitor), the machine's load, and the web instances' lxc.log tails.
 */
async function stuck(updateId: string): Promise<string> {
  const out: string[] = [];
  const status = await Promise.race([
    api.json<unknown>('GET', '/v1/status').then(
      (s) => JSON.stringify(s),
      (e: Error) => `no answer: ${e.message}`,
    ),
    new Promise<string>((r) => setTimeout(() => r('no answer within 3 s (event loop blocked?)'), 3_000)),
  ]);
  out.push(`agent status: ${status}`);
  out.push(`load: ${await readFile('/proc/loadavg', 'utf8').catch(() => '?')}`);
  const pid = agent?.child.pid;
  if (pid) {
    const ps = await capture('ps', ['-eo', 'pid,ppid,stat,ni,wchan:32,etimes,args']);
    const rows = ps.split('\n');
    const tree = new Set([String(pid)]);
    for (let grew = true; grew;) {
      grew = false;
      for (const r of rows) {
        const [p, pp] = r.trim().split(/\s+/);
        if (p && pp && tree.has(pp) && !tree.has(p)) {
          tree.add(p);
          grew = true;
        }
      }
    }
    out.push('agent process tree:', ...rows.filter((r) => tree.has(r.trim().split(/\s+/)[0] ?? '')));
    out.push('lxc monitors of this lxcpath:', ...rows.filter((r) => r.includes(lxcpath)));
    for (const p of tree) {
      const stack = await readFile(`/proc/${p}/stack`, 'utf8').catch(() => '');
      if (stack) out.push(`stack of ${p}:\n${stack}`);
    }
  }
  for (const e of await readdir(lxcpath).catch(() => [])) {
    if (!e.startsWith('web-') && !e.startsWith('net-')) continue;
    const log = await readFile(join(lxcpath, e, 'lxc.log'), 'utf8').catch(() => '');
    out.push(`${e}/lxc.log (tail):\n${log.split('\n').slice(-8).join('\n')}`);
  }
  out.push(`hub progress of ${updateId}:`, ...(hubProgress.get(updateId) ?? []));
  return out.join('\n');
}

/** Every agent process of the run with its output; the file name goes into the failure. */
async function keepRunLog(label: string, error: unknown): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = join(ARTIFACTS, `${label.replace(/[^a-z0-9]+/gi, '-')}.log`);
  const parts = [`${label}\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}`];
  for (const { label: l, proc } of runAgents) {
    const exit =
      proc.child.exitCode !== null || proc.child.signalCode !== null
        ? `exit ${proc.child.exitCode ?? proc.child.signalCode}`
        : 'alive';
    parts.push(`===== ${l} (${exit})\n${proc.output()}`);
  }
  await writeFile(file, parts.join('\n\n'));
  return file;
}

async function lxcRunning(): Promise<string[]> {
  const out = await new Promise<string>((resolve) => {
    const p = spawn('lxc-ls', ['-P', lxcpath, '--running', '-1'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let s = '';
    p.stdout.on('data', (d: Buffer) => (s += d.toString()));
    p.on('exit', () => resolve(s));
  });
  return out.split(/\s+/).filter(Boolean).sort();
}

beforeAll(async () => {
  tmp = await tempDir('fleet-agent-torture-');
  storage = join(tmp.path, 'storage');
  lxcpath = join(storage, 'containers');
  objectsDir = join(tmp.path, 'objects');
  await mkdir(objectsDir, { recursive: true });
  await prepareAgent();
  broker = await TestMosquitto.create();
  prov = await provisionServer(broker.url);
  const tree = await buildBusyboxRootfs(join(tmp.path, 'rootfs'));
  rootfs = await addObject(await buildSquashfs(tree, join(tmp.path, 'rootfs.sqfs')));
  objectServer = createServer((req, res) => {
    const hex = /\/sha256\/([0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
    const path = hex ? join(objectsDir, hex) : null;
    if (!path) return void res.writeHead(404).end();
    stat(path).then(
      (st) => {
        res.writeHead(200, { 'content-length': st.size });
        createReadStream(path).pipe(res);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((r) => objectServer.listen(0, '127.0.0.1', () => r()));
  const addr = objectServer.address();
  objectBase = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/objects`;
  configPath = await writeAgentConfig(storage, prov.url, key, {
    intervals: { telemetryMs: 600_000, reportMs: 60_000, logFlushMs: 1_000 },
  });
  mqtt = await connectAsync(broker.url, { clientId: 'torture-hub', protocolVersion: 5 });
  api = new ApiClient(join(storage, 'agent.sock'));
  start();
  await waitFor('agent api', () => agentStatus(), 60_000);
  deviceId = await waitFor(
    'provisioned',
    async () =>
      (await api.json<{ hub: { deviceId: string | null } }>('GET', '/v1/status').catch(() => null))?.hub
        .deviceId ?? undefined,
    60_000,
  );
  mqtt.on('message', (_topic, payload) => {
    const m = decodeMessage('progress', payload);
    if (!m.ok) return;
    const p = m.value.body;
    const list = hubProgress.get(p.updateId) ?? [];
    list.push(
      `${m.value.time.slice(11, 23)} ${p.state} ${p.status} ${p.percent}%${p.reason ? ` ${p.reason}` : ''}${p.message ? `: ${p.message}` : ''}`,
    );
    hubProgress.set(p.updateId, list);
  });
  await mqtt.subscribeAsync(topics.device(deviceId).progress, { qos: 1 });
  await waitFor(
    'connected',
    async () =>
      (await api.json<{ hub: { connected: boolean } }>('GET', '/v1/status').catch(() => null))?.hub.connected,
    60_000,
  );
  starter = new StarterClient();
  runtime = new LxcRuntime({ lxc: Liblxc.load(), starter, lxcpath });
  boot = new FileBootControl(defaultFileBootPaths(join(storage, 'boot')));
  const t0 = Date.now();
  await run('base', {});
  randomWindowMs = Math.max(300, Math.round((Date.now() - t0) * 1.5));
  seedSum = sha(await readFile(join(storage, 'volumes', 'web', 'data', 'seed')));
}, 180_000);

afterAll(async () => {
  durations.sort((a, b) => a - b);
  console.log(
    `agent torture: ${JSON.stringify(counts)}; random window ${randomWindowMs} ms; run ms median ${durations[durations.length >> 1]}, p95 ${durations[Math.floor(durations.length * 0.95)]}, max ${durations.at(-1)}`,
  );
  await kill('idle');
  if (runtime) for (const c of await runtime.list()) await runtime.remove(c.name).catch(() => undefined);
  await starter?.close();
  await mqtt?.endAsync(true);
  await new Promise((r) => objectServer?.close(r));
  await new Promise((r) => prov?.server.close(r));
  await broker?.destroy();
  await tmp?.cleanup();
}, 120_000);

const boundaries: [string, Scenario][] = [];
for (const state of UpdateState.options) {
  for (const phase of ['before', 'after'] as const) {
    for (const sc of SCENARIOS) if (PASSES[sc].includes(state)) boundaries.push([`${state}:${phase}`, sc]);
  }
}
let plan: { label: string; scenario: Scenario; at?: string; random?: true }[] = [];
for (let i = 0; i < RUNS; i++) {
  if (i % 2 === 0) {
    const [at, scenario] = boundaries[(i / 2) % boundaries.length] as [string, Scenario];
    plan.push({ label: `kill at ${at} during ${scenario}`, scenario, at });
  } else {
    const scenario = SCENARIOS[((i - 1) / 2) % SCENARIOS.length] as Scenario;
    plan.push({ label: `kill at a random instant during ${scenario}`, scenario, random: true });
  }
}

// TORTURE_ONLY=<text>: only the runs whose label contains it (debugging one boundary).
const only = process.env.TORTURE_ONLY;
if (only) plan = plan.filter((p) => p.label.includes(only));

describe(`agent power-cut torture: ${RUNS} runs (real agent process, MQTT, LXC, file boot backend)`, () => {
  it.each(plan.map((p, i) => [i, p.label, p] as const))('run %i: %s', async (i, label, p) => {
    // The agent that carries on into this run belongs to its log too.
    runAgents = agent ? [{ label: `agent pid ${agent.child.pid} (from the run before)`, proc: agent }] : [];
    try {
      await run(p.scenario, p.at ? { at: p.at } : { afterMs: Math.floor(Math.random() * randomWindowMs) });
    } catch (e) {
      const file = await keepRunLog(`run ${i} ${label}`, e);
      console.log(`run ${i} failed; its agents' output and diagnostics: ${file}`);
      throw e;
    }
  });
});
