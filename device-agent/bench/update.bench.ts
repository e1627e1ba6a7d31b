// Benchmark (issue 4): downtime of an HTTP app (busybox httpd) while the agent updates it,
// seen by a client polling at 1 kHz, for the default strategy (stop-start, host network) and
// `hand-over` (bridge network behind a published host port, decision 0023), against
// `lxc-stop` + `lxc-start` of the identical host-network container (the agent's own instance,
// with the agent stopped) in the same run. Not a test: prints and writes
// bench/results/update.json (repository root), with the agent's own step timings.
//
//   node --conditions=fleet-source --import tsx bench/update.bench.ts [--updates 5]
//
// The agent runs as a real process from the device bundle (rebuilt first), installing local
// revisions through its API. Stop-start: httpd on 127.0.0.1:<port> on the host network (the
// old one is gone before the new one binds). Hand-over: httpd on port 80 of its
// own bridge address, <port> published to it; the agent switches the port once the new one
// accepts connections, then drains and stops the old one.
//
// The image and the releases are the update tests' (test/integration/helpers/update-rig.ts);
// the rest of that rig (an in-process LXC runtime and engines) is not used: here the agent
// under measure is its own process.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { link, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { generateSigningKey, type Progress } from '@fleet/protocol';
import { ApiClient } from '../src/api/client.js';
import { tempDir } from '../test/integration/helpers/rootfs.js';
import { busyboxImage, webRelease } from '../test/integration/helpers/update-rig.js';

const run = promisify(execFile);
const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const root = resolve(pkg, '..');
const { values } = parseArgs({ options: { updates: { type: 'string', default: '5' } } });
const UPDATES = Number(values.updates);

interface PollResult {
  ok: number;
  failed: number;
  /** Longest run of failed polls, as wall time from the first failure to the next success. */
  longestOutageMs: number;
  outages: number;
}

// The poller runs in its own process so the agent's API calls and this script's timers do
// not steal its ticks. It polls every millisecond, one request in flight at most.
const POLLER = `
const http = require('node:http');
const port = Number(process.argv[1]);
let ok = 0, failed = 0, outages = 0, longest = 0, downSince = null, stop = false;
const agent = new http.Agent({ keepAlive: false });
function once() {
  if (stop) return;
  const t = performance.now();
  // One outcome per request: a response cut mid-body (reset, or our timeout) errors on both
  // the response and the request; unhandled it killed the poller.
  let settled = false;
  const finish = (success) => { if (!settled) { settled = true; done(success, t); } };
  const req = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 500 }, (res) => {
    res.resume();
    res.on('end', () => finish(res.statusCode === 200));
    res.on('error', () => finish(false));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', () => finish(false));
}
function done(success, t) {
  const now = performance.now();
  if (success) { ok++; if (downSince !== null) { longest = Math.max(longest, now - downSince); downSince = null; } }
  else { failed++; if (downSince === null) { downSince = t; outages++; } }
  setTimeout(once, Math.max(0, 1 - (performance.now() - t)));
}
process.on('SIGTERM', () => { stop = true; setTimeout(() => { process.stdout.write(JSON.stringify({ ok, failed, longestOutageMs: longest, outages })); process.exit(0); }, 50); });
once();
`;

function startPoller(port: number): { stop: () => Promise<PollResult> } {
  const p: ChildProcess = spawn(process.execPath, ['-e', POLLER, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  return {
    stop: () =>
      new Promise((res) => {
        p.on('exit', () => res(JSON.parse(out) as PollResult));
        p.kill('SIGTERM');
      }),
  };
}

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

async function waitServing(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing serves on ${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function main(): Promise<void> {
  const tmp = await tempDir('fleet-update-bench-');
  const storage = join(tmp.path, 'storage');
  const key = generateSigningKey('bench');
  const port = await freePort();
  await run(process.execPath, [join(pkg, 'scripts/bundle.mjs')]);
  const image = await busyboxImage(tmp.path);
  await mkdir(storage, { recursive: true });
  const configPath = join(tmp.path, 'agent.json');
  // No hub here (provisioning retries in the background against a closed port): local installs.
  await writeFile(
    configPath,
    JSON.stringify({
      hubUrl: 'http://127.0.0.1:9',
      trustRoots: [key.trustRoot],
      board: 'qemu-aarch64',
      storageDir: storage,
      bakeSeconds: 0,
    }),
  );
  const agentArgs = [
    join(pkg, 'dist/bundle/fleet-agent.mjs'),
    'run',
    '--config',
    configPath,
    '--poll-ms',
    '20',
  ];
  let agent: ChildProcess = spawn(process.execPath, agentArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  let agentErr = '';
  agent.stderr?.on('data', (d: Buffer) => (agentErr += d.toString()));
  const api = new ApiClient(join(storage, 'agent.sock'));
  const up = async () => {
    for (let i = 0; i < 600; i++) {
      if (
        await api.json('GET', '/v1/status').then(
          () => true,
          () => false,
        )
      )
        return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`agent did not come up: ${agentErr.slice(-2000)}`);
  };
  await up();

  let seq = 0;
  const steps: Record<string, string[]> = { 'stop-start': [], 'hand-over': [] };
  const install = async (strategy: 'stop-start' | 'hand-over', network: 'host' | 'bridge'): Promise<void> => {
    seq++;
    const logFrom = agentErr.length;
    const dir = join(tmp.path, `rev-${seq}`);
    await mkdir(join(dir, 'objects', 'sha256'), { recursive: true });
    // httpd is the workload itself (exec), so the stop signal reaches it as it would a real
    // server. Behind a shell loop the shell deferred SIGTERM while httpd ran: every stop waited
    // out stopTimeoutMs and the old instance was killed, measuring the kill path instead.
    const serve = `exec httpd -f -p ${network === 'host' ? `127.0.0.1:${port}` : '80'} -h /www`;
    const release = webRelease({ key, rootfs: image.rootfs }, seq, {
      network,
      ...(network === 'bridge' ? { ports: [{ host: port, container: 80 }] } : {}),
      statusGoal: 'started',
      start: {
        entrypoint: ['/bin/sh', '-c'],
        cmd: [serve],
        env: { REV: String(seq) },
        stopTimeoutMs: 2_000,
      },
    });
    await writeFile(join(dir, 'release.json'), JSON.stringify(release));
    await link(image.path, join(dir, 'objects', 'sha256', image.rootfs.digest.slice(7))).catch(
      () => undefined,
    );
    const { updateId } = await api.json<{ updateId: string }>('POST', '/v1/install', {
      dir,
      strategy,
      bakeSeconds: 0,
    });
    for (let since = 0; ;) {
      const u = await api.json<{ progress: Progress[]; done: boolean }>(
        'GET',
        `/v1/updates/${updateId}?since=${since}`,
      );
      since = u.progress.length;
      if (u.done) {
        const last = u.progress.at(-1);
        if (last?.status !== 'succeeded')
          throw new Error(`update ${updateId} ${last?.status}: ${last?.message}`);
        // The agent logs each install's step timings ("steps: create web-… 12 ms, …").
        for (const m of agentErr.slice(logFrom).matchAll(/steps: ([^\n]*)/g))
          steps[strategy]?.push(m[1] as string);
        return;
      }
    }
  };

  const results: Record<string, PollResult[]> = {
    'stop-start': [],
    'hand-over': [],
    'lxc-stop+lxc-start': [],
  };
  // Each phase starts from an unmeasured install of its network mode.
  for (const [strategy, network] of [
    ['hand-over', 'bridge'],
    ['stop-start', 'host'],
  ] as const) {
    await install('stop-start', network);
    await waitServing(port);
    steps['stop-start'] = [];
    for (let i = 0; i < UPDATES; i++) {
      const poller = startPoller(port);
      await new Promise((r) => setTimeout(r, 200));
      await install(strategy, network);
      await waitServing(port);
      await new Promise((r) => setTimeout(r, 200));
      results[strategy]?.push(await poller.stop());
    }
  }

  // Reference: the agent's own running instance, agent stopped (SIGTERM leaves containers
  // running), restarted with the LXC tools. lxc-stop uses the stop signal the runtime wrote
  // into the config (lxc.signal.halt), as the agent's stop does.
  agent.kill('SIGTERM');
  await new Promise((r) => agent.on('exit', r));
  const lxcpath = join(storage, 'containers');
  const { stdout } = await run('lxc-ls', ['-P', lxcpath, '--running', '-1']);
  const inst = stdout.trim().split(/\s+/)[0] as string;
  const meta = JSON.parse(await readFile(join(lxcpath, inst, 'fleet.json'), 'utf8')) as {
    argv?: string[];
    workload?: string[];
  };
  const workload = meta.argv ?? meta.workload;
  if (!workload)
    throw new Error(
      `cannot find the workload argv in ${inst}/fleet.json: ${JSON.stringify(Object.keys(meta))}`,
    );
  for (let i = 0; i < UPDATES; i++) {
    const poller = startPoller(port);
    await new Promise((r) => setTimeout(r, 200));
    await run('lxc-stop', ['-P', lxcpath, '-n', inst, '-t', '2']);
    await run('lxc-start', [
      '-P',
      lxcpath,
      '-n',
      inst,
      '-d',
      '--',
      '/.fleet-init',
      '-q',
      '-n',
      inst,
      '--',
      ...workload,
    ]);
    await waitServing(port);
    await new Promise((r) => setTimeout(r, 200));
    results['lxc-stop+lxc-start']?.push(await poller.stop());
  }
  await run('lxc-stop', ['-P', lxcpath, '-n', inst, '-k']).catch(() => undefined);

  // Clean up through the agent's runtime: start it again and remove everything with lxc tools.
  agent = spawn(process.execPath, agentArgs, { stdio: 'ignore' });
  await up();
  agent.kill('SIGTERM');
  await new Promise((r) => agent.on('exit', r));
  for (const name of (await run('lxc-ls', ['-P', lxcpath, '-1'])).stdout.split(/\s+/).filter(Boolean)) {
    await run('lxc-stop', ['-P', lxcpath, '-n', name, '-k']).catch(() => undefined);
    await run('lxc-destroy', ['-P', lxcpath, '-n', name]).catch(() => undefined);
  }
  await run('sh', [
    '-c',
    `grep ' ${tmp.path}' /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l`,
  ]).catch(() => undefined);
  await tmp.cleanup().catch(() => undefined);

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[s.length >> 1] ?? 0;
  };
  const summary = Object.fromEntries(
    Object.entries(results).map(([k, rs]) => [
      k,
      {
        medianOutageMs: median(rs.map((r) => r.longestOutageMs)),
        maxOutageMs: Math.max(...rs.map((r) => r.longestOutageMs)),
        failedRequests: rs.reduce((n, r) => n + r.failed, 0),
        okRequests: rs.reduce((n, r) => n + r.ok, 0),
        runs: rs,
      },
    ]),
  ) as Record<
    string,
    { medianOutageMs: number; maxOutageMs: number; failedRequests: number; okRequests: number }
  >;
  const ref = summary['lxc-stop+lxc-start']?.medianOutageMs ?? Number.NaN;
  const out = {
    name: 'update-downtime',
    date: new Date().toISOString(),
    updates: UPDATES,
    pollHz: 1000,
    summary,
    ratios: {
      stopStartVsLxc: (summary['stop-start']?.medianOutageMs ?? Number.NaN) / ref,
      handOverVsLxc: (summary['hand-over']?.medianOutageMs ?? Number.NaN) / ref,
    },
    goals: { stopStartVsLxc: '<= 2', handOverFailedRequests: 0 },
    load1AtEnd: (await readFile('/proc/loadavg', 'utf8')).split(' ')[0],
    agentSteps: steps,
  };
  await mkdir(join(root, 'bench/results'), { recursive: true });
  await writeFile(join(root, 'bench/results/update.json'), `${JSON.stringify(out, null, 2)}\n`);
  for (const [k, v] of Object.entries(summary))
    console.log(
      `${k.padEnd(20)} median outage ${v.medianOutageMs.toFixed(1)} ms, max ${v.maxOutageMs.toFixed(1)} ms, failed requests ${v.failedRequests} of ${v.failedRequests + v.okRequests}`,
    );
  for (const [k, v] of Object.entries(steps)) for (const line of v) console.log(`${k} steps: ${line}`);
  console.log(
    `ratios vs lxc-stop+lxc-start: stop-start ${out.ratios.stopStartVsLxc.toFixed(2)}x, hand-over ${out.ratios.handOverVsLxc.toFixed(2)}x`,
  );
}

await main();
