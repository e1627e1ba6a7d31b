// Fleet-scale benchmark (issues 5 and 9): N simulated devices (default 10000) connecting to and
// reporting through real Mosquitto (dynamic security) into the hub as operators run it
// (src/main.ts, its own process) on real Postgres. Phases:
//   connect  every device connects (retained Last Will), sends presence and a report; ends when
//            the hub has stored every report
//   steady   every device sends telemetry every T ms (and a report every R ms) for S seconds:
//            publish→row latency (sample time → row visible, polled every 100 ms), hub CPU and RSS
//   burst    periodic traffic stopped, every device sends B telemetry messages at once: ingest
//            throughput with one hub, then again with a second replica (shared subscriptions
//            `$share/hub/...`): the ratio is the replica scaling
//   copy     reference: Postgres COPY of the same number of rows into an identical table
// Every phase reports each process's CPU from /proc/<pid>/stat (hub replicas, Mosquitto, the
// simulator, this database's Postgres backends, this process) as % of one core.
//
//   node --conditions=fleet-source --import tsx hub/bench/scale.bench.ts [devices] [steadySeconds] [burst]
//   (or `pnpm bench:scale` from the repository root)
//
// Devices are inserted into the database directly and share one broker login, as in
// rollout.bench.ts: provisioning 10k devices through dynsec costs minutes and is not measured.
// Writes bench/results/scale.json and bench/results/scale.md. Not a test: nothing asserts on time.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { TOPIC_ROOT } from '@fleet/protocol';
import { runMigrations } from '../src/database/migration-runner.js';
import { DEFAULT_INGEST_OPTIONS } from '../src/ingest/ingest.service.js';
import { freePort, startMosquitto } from '../test/integration/helpers/mosquitto.js';
import { hubProcessEnv } from '../test/integration/helpers/hub-process.js';
import { CpuLimitGroup, type ThrottleStat } from './scale-cgroup.js';
import type { ScaleDevicesConfig } from './scale-devices.js';
import {
  cpuSeconds,
  PhaseMeter,
  percentile,
  pidsByCommandLine,
  round,
  type PhaseResult,
} from './scale-proc.js';

const run = promisify(execFile);
const positional: string[] = [];
const flags = new Map<string, string>();
for (let i = 2; i < process.argv.length; i++) {
  const arg = process.argv[i]!;
  if (!arg.startsWith('--')) positional.push(arg);
  else if (arg.includes('=')) flags.set(arg.slice(2, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1));
  else flags.set(arg.slice(2), process.argv[++i] ?? '');
}
for (const name of flags.keys())
  if (!['replica-cpu', 'replica-burst'].includes(name)) throw new Error(`unknown option --${name}`);
const [devicesArg, steadyArg, burstArg] = positional.map(Number);
/**
 * Cores each hub replica may use in the replica comparison (cgroup CFS quota, decision 0093);
 * unset: the replicas compete, unlimited, with everything else on the machine (as before).
 */
const REPLICA_CPU = flags.has('replica-cpu') ? Number(flags.get('replica-cpu')) : undefined;
if (REPLICA_CPU !== undefined && !(REPLICA_CPU > 0 && REPLICA_CPU <= cpus().length))
  throw new Error(`--replica-cpu must be a number of cores in (0, ${cpus().length}]`);
/**
 * Telemetry messages per device in each limited-replica burst: the backlog the broker holds
 * for the replicas. Below 10 (100k messages) so that neither the broker's queue for one session
 * (max_queued_messages 100000) nor a replica's telemetry queue (100k samples) drops any.
 */
const REPLICA_BURST = Number(flags.get('replica-burst') ?? 8);
const DEVICES = devicesArg || 10_000;
const STEADY_SECONDS = steadyArg || 60;
const BURST = burstArg || 5;
const TELEMETRY_MS = Number(process.env.FLEET_SCALE_TELEMETRY_MS) || 10_000;
const REPORT_MS = Number(process.env.FLEET_SCALE_REPORT_MS) || 60_000;
const ADMIN_URL = process.env.FLEET_BENCH_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const HUB = fileURLToPath(new URL('../', import.meta.url));
const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

async function until(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 200,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

async function main(): Promise<void> {
  const dbName = `bench_scale_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const dbUrl = Object.assign(new URL(ADMIN_URL), { pathname: `/${dbName}` }).toString();
  const dir = await mkdtemp(join(tmpdir(), 'fleet-bench-scale-'));
  const broker = await startMosquitto();
  const sql = new pg.Pool({ connectionString: dbUrl, max: 2 });
  const children: ChildProcess[] = [];
  const cgroups: CpuLimitGroup[] = [];
  // The finally below removes the groups; this covers an exit it does not reach (a signal).
  const removeGroups = () => {
    for (const g of cgroups) g.removeSync();
  };
  process.once('exit', removeGroups);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      for (const c of children) c.kill('SIGKILL');
      removeGroups();
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    });
  try {
    await runMigrations(dbUrl);
    const ctrl = (...args: string[]) =>
      run('mosquitto_ctrl', [
        ...['-h', '127.0.0.1', '-p', String(broker.port), '-u', broker.admin.username],
        ...['-P', broker.admin.password, 'dynsec', ...args],
      ]);
    const devicePassword = randomBytes(12).toString('hex');
    await ctrl('createClient', 'bench-devices', '-p', devicePassword);
    await ctrl('createRole', 'bench-devices');
    for (const acl of ['publishClientSend', 'publishClientReceive', 'subscribePattern', 'unsubscribePattern'])
      await ctrl('addRoleACL', 'bench-devices', acl, `${TOPIC_ROOT}/#`, 'allow');
    await ctrl('addClientRole', 'bench-devices', 'bench-devices');
    const fleetId = randomUUID();
    await sql.query(`INSERT INTO fleets (id, name) VALUES ($1, 'bench')`, [fleetId]);
    const deviceIds = Array.from({ length: DEVICES }, () => randomUUID());
    await sql.query(
      `INSERT INTO devices (id, fleet_id, name, hardware_id, public_key, board, agent_version, tags, credentials_hash)
       SELECT id, $1, 'bench-' || n, 'bench-hw-' || n, 'none', 'qemu-aarch64', '0.1.0', '{}', '' FROM unnest($2::uuid[]) WITH ORDINALITY AS x(id, n)`,
      [fleetId, deviceIds],
    );

    // ---- the hub, as operators run it; a second replica joins for the last burst ----
    const hubPassword = randomBytes(12).toString('hex');
    const hubPorts: number[] = [];
    const startHub = async (name: string): Promise<ChildProcess> => {
      const port = await freePort();
      hubPorts.push(port);
      // FLEET_SCALE_HUB_NODE_FLAGS: extra node flags for the replicas, for looking into a run
      // (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`; phases carry CLOCK_MONOTONIC bounds to
      // cut a profile by).
      const nodeFlags = (process.env.FLEET_SCALE_HUB_NODE_FLAGS ?? '').split(' ').filter(Boolean);
      const hub = spawn(
        process.execPath,
        [...nodeFlags, '--conditions=fleet-source', '--import', 'tsx', 'src/main.ts'],
        {
          cwd: HUB,
          env: hubProcessEnv({
            databaseUrl: dbUrl,
            broker,
            hubPassword,
            port,
            dataDir: join(dir, name),
            adminEmail: 'bench@example.com',
            adminPassword: 'bench-password',
            logLevel: 'warn',
          }),
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      );
      children.push(hub);
      await until(
        `hub ${name} ready`,
        () =>
          fetch(`http://127.0.0.1:${port}/readyz`).then(
            (r) => r.ok,
            () => false,
          ),
        180_000,
      );
      return hub;
    };
    const mosquittoPids = await pidsByCommandLine(join(broker.dir, 'mosquitto.conf'));
    if (mosquittoPids.length !== 1) throw new Error(`found mosquitto pids ${mosquittoPids.join(',')}`);
    const progress = (m: string) => console.error(`scale.bench ${new Date().toISOString()}: ${m}`);
    const metric = async (hubPort: number, name: string) => {
      const text = await fetch(`http://127.0.0.1:${hubPort}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
      let sum = 0;
      for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').at(-1));
      return sum;
    };
    /** The hub's telemetry counters (fleet_ingest_*{kind="telemetry"}); fails if it does not answer. */
    const telemetryCounters = async (hubPort: number) => {
      const text = await fetch(`http://127.0.0.1:${hubPort}/metrics`).then((r) => r.text());
      const value = (name: string) => {
        const line = text.split('\n').find((l) => l.startsWith(`${name}{kind="telemetry"} `));
        return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
      };
      return {
        received: value('fleet_ingest_messages_total'),
        written: value('fleet_ingest_rows_written_total'),
        dropped: value('fleet_ingest_rows_dropped_total'),
      };
    };
    progress('starting hub a');
    const hubA = await startHub('hub-a');
    const hubs: ChildProcess[] = [hubA];
    const simPids: number[] = [];
    const backends = async () =>
      (
        await sql.query<{ pid: number }>(
          // The benchmark's own connections included: leaving out only the one that asks made
          // the pool's two connections appear and vanish in turn, and one that reappears counts
          // its whole life's CPU in the phase.
          'SELECT pid FROM pg_stat_activity WHERE datname = $1',
          [dbName],
        )
      ).rows.map((r) => r.pid);
    const groups = {
      hub: () => hubs.map((h) => h.pid!),
      // Mosquitto writes its pid_file only when it daemonises: found by its config path.
      mosquitto: () => mosquittoPids,
      simulator: () => simPids,
      postgres: backends,
      bench: () => [process.pid],
    };
    const meter = () => new PhaseMeter(groups, ['hub', 'mosquitto', 'simulator']);

    // ---- connect ----
    const devicesConfig = join(dir, 'devices.json');
    const simConfig: ScaleDevicesConfig = {
      mqttUrl: broker.url,
      username: 'bench-devices',
      password: devicePassword,
      deviceIds,
      telemetryIntervalMs: TELEMETRY_MS,
      reportIntervalMs: REPORT_MS,
    };
    await writeFile(devicesConfig, JSON.stringify(simConfig));
    const connectMeter = meter();
    await connectMeter.start();
    const t0 = performance.now();
    const sim = spawn(
      process.execPath,
      ['--conditions=fleet-source', '--import', 'tsx', join(HUB, 'bench/scale-devices.ts'), devicesConfig],
      { cwd: HUB, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    children.push(sim);
    simPids.push(sim.pid!);
    const lines: string[] = [];
    const waiting: ((line: string) => void)[] = [];
    createInterface({ input: sim.stdout! }).on('line', (line) => {
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    });
    const nextLine = () =>
      new Promise<string>((resolve) => {
        const l = lines.shift();
        if (l !== undefined) resolve(l);
        else waiting.push(resolve);
      });
    progress(`${DEVICES} devices connecting`);
    const connectedLine = await nextLine();
    progress(`${connectedLine}; waiting for every report`);
    const connectAllMs = performance.now() - t0;
    if (!connectedLine.startsWith('connected')) throw new Error(`simulator said ${connectedLine}`);
    const count = async (q: string) => Number((await sql.query<{ n: string }>(q)).rows[0]?.n);
    await until(
      'every report stored',
      async () =>
        (await count(`SELECT count(*) AS n FROM devices WHERE online AND inventory ? 'objects'`)) === DEVICES,
      1_200_000,
      500,
    );
    const reportedAllMs = performance.now() - t0;
    const connect = await connectMeter.stop();
    // State messages the database kept refusing (retried, then dropped; the periodic report
    // fills the gap): the connect storm's cost in lost reports.
    const connectSinkErrors = await metric(hubPorts[0]!, 'fleet_ingest_sink_errors_total');
    progress(`connect: ${JSON.stringify({ connectAllMs, reportedAllMs, connectSinkErrors, ...connect })}`);
    progress(`reports stored; steady phase ${STEADY_SECONDS} s`);

    // ---- steady reporting: publish→row latency by polling new rows ----
    const steadyMeter = meter();
    await steadyMeter.start();
    const latencies: number[] = [];
    const steadyStart = Date.now();
    // Rows before the phase (the first samples may land during connect) are not counted.
    let lastXid = Number(
      (await sql.query<{ x: string }>(`SELECT coalesce(max(xmin::text::bigint), 0) AS x FROM telemetry`))
        .rows[0]?.x,
    );
    while (Date.now() - steadyStart < STEADY_SECONDS * 1000) {
      await new Promise((r) => setTimeout(r, 100));
      const { rows } = await sql.query<{ x: string; at: number }>(
        `SELECT xmin::text::bigint AS x, extract(epoch FROM at) * 1000 AS at FROM telemetry WHERE xmin::text::bigint > $1`,
        [lastXid],
      );
      const seen = Date.now();
      for (const r of rows) {
        latencies.push(seen - Number(r.at));
        lastXid = Math.max(lastXid, Number(r.x));
      }
    }
    const steady = await steadyMeter.stop();
    latencies.sort((a, b) => a - b);
    progress(
      `steady: ${JSON.stringify({ rows: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99), ...steady })}`,
    );

    // ---- bursts: one hub, then two ----
    sim.stdin!.write('quiet\n');
    if ((await nextLine()) !== 'quiet') throw new Error('simulator did not go quiet');
    await new Promise((r) => setTimeout(r, 3000)); // in-flight periodic messages land
    const burst = async (label: string) => {
      const before = await count('SELECT count(*) AS n FROM telemetry');
      const m = meter();
      await m.start();
      const start = performance.now();
      sim.stdin!.write(`burst ${BURST}\n`);
      const done = nextLine().then((l) => ({ line: l, at: performance.now() }));
      const expected = DEVICES * BURST;
      // Until every row is there, or nothing new arrived for 20 s (the time is then the last row's).
      let last = { rows: -1, at: performance.now() };
      for (;;) {
        const rows = (await count('SELECT count(*) AS n FROM telemetry')) - before;
        if (rows !== last.rows) last = { rows, at: performance.now() };
        if (rows >= expected || performance.now() - last.at > 20_000) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const rows = last.rows;
      const seconds = (last.at - start) / 1000;
      const published = await done;
      const phase = await m.stop();
      return {
        label,
        messagesPublished: expected,
        rowsWritten: rows,
        lostOrDropped: expected - rows,
        publishSeconds: round((published.at - start) / 1000),
        rowsPerSecond: Math.round(rows / seconds),
        ...phase,
        /** Burst start to the last row (the meter's `seconds` also waits for the simulator). */
        seconds: round(seconds),
      };
    };
    progress('burst, 1 replica');
    const oneReplica = await burst('1 hub replica');
    progress(`burst 1: ${JSON.stringify(oneReplica)}`);
    let twoReplicas: Awaited<ReturnType<typeof burst>> | undefined;
    let replicaScaling: Awaited<ReturnType<typeof limitedReplicas>> | undefined;
    let rowsDroppedByHubs = 0;
    for (const port of hubPorts) rowsDroppedByHubs += await metric(port, 'fleet_ingest_rows_dropped_total');

    // ---- replica comparison, each replica limited to the same CPU (decision 0093) ----
    type Replica = { name: string; hub: ChildProcess; port: number; group: CpuLimitGroup };
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    /**
     * Capacity of the replicas under their CPU limit: the replicas are stopped (SIGSTOP), every
     * device sends REPLICA_BURST messages, the broker queues them for the stopped sessions, and
     * once it has them all the replicas are resumed together. From then on the replicas are
     * offered more than they can take until the backlog is drained, and the simulator's
     * publishing is not in the measured time: capacity = rows stored / (resume → last row),
     * rows counted in Postgres every 200 ms (the replicas' own /metrics answer late while their
     * event loop drains the session, so they are read only before and after).
     */
    const limitedBurst = async (label: string, replicas: Replica[]) => {
      const rowsBefore = await count('SELECT count(*) AS n FROM telemetry');
      const counters0 = await Promise.all(replicas.map((r) => telemetryCounters(r.port)));
      for (const r of replicas) process.kill(r.hub.pid!, 'SIGSTOP');
      let resumed = false;
      const resume = () => {
        if (resumed) return;
        resumed = true;
        for (const r of replicas) process.kill(r.hub.pid!, 'SIGCONT');
      };
      try {
        // Burst samples carry the time they are sent (test/sim burstTelemetry): the rows of
        // this burst are those from shortly before it, found through the BRIN index on `at`.
        const since = new Date(Date.now() - 1000);
        const p0 = performance.now();
        sim.stdin!.write(`burst ${REPLICA_BURST}\n`);
        const doneLine = await nextLine();
        const publishSeconds = (performance.now() - p0) / 1000;
        // The broker has the backlog when it stops working on incoming messages.
        let idle = 0;
        for (let cpu = await cpuSeconds(mosquittoPids[0]!), i = 0; idle < 2 && i < 80; i++) {
          await sleep(250);
          const now = await cpuSeconds(mosquittoPids[0]!);
          idle = now - cpu < 0.01 ? idle + 1 : 0;
          cpu = now;
        }
        const stored = () =>
          count(`SELECT count(*) AS n FROM telemetry WHERE at >= '${since.toISOString()}'::timestamptz`);
        const rowsBeforeResume = await stored();
        const throttle0 = await Promise.all(replicas.map((r) => r.group.stat()));
        const m = new PhaseMeter(
          {
            ...Object.fromEntries(replicas.map((r) => [r.name, () => [r.hub.pid!]])),
            mosquitto: () => mosquittoPids,
            simulator: () => simPids,
            postgres: backends,
            bench: () => [process.pid],
          },
          replicas.map((r) => r.name),
          { timeline: true },
        );
        await m.start();
        const start = performance.now();
        const monotonicStart = process.hrtime.bigint();
        resume();
        const expected = DEVICES * REPLICA_BURST;
        const samples: { t: number; rows: number }[] = [];
        let last = { rows: -1, at: start, monotonic: monotonicStart };
        for (;;) {
          const rows = await stored();
          const t = performance.now();
          samples.push({ t, rows });
          if (rows !== last.rows) last = { rows, at: t, monotonic: process.hrtime.bigint() };
          // A replica reads its whole backlog before its writers catch up: 30 s without a
          // new row means rows were lost, not that they are late.
          if (rows >= expected || t - last.at > 30_000) break;
          await sleep(200);
        }
        const phase = await m.stop();
        const throttle1 = await Promise.all(replicas.map((r) => r.group.stat()));
        const counters1 = await Promise.all(replicas.map((r) => telemetryCounters(r.port)));
        const rowsStored = (await count('SELECT count(*) AS n FROM telemetry')) - rowsBefore;
        const seconds = (last.at - start) / 1000;
        const throttle = replicas.map((r, i) => throttleDelta(throttle0[i]!, throttle1[i]!));
        return {
          label,
          /**
           * The measure holds only if the quota, not the machine, limited the replicas: every
           * replica throttled in most periods it ran, and the machine (other work included)
           * not near its cores. A phase that fails this measured the machine.
           */
          checks: {
            replicasAtQuota: throttle.every((t) => t.throttledShare >= 0.8),
            machineNotSaturated: phase.machine.busyPercentOfOneCore < 85 * cpus().length,
            noRowLost: rowsStored === expected,
          },
          replicas: replicas.length,
          messagesPublished: expected,
          simulator: doneLine,
          publishSeconds: round(publishSeconds),
          /** Must be 0: the replicas were stopped while the backlog formed. */
          rowsStoredBeforeResume: rowsBeforeResume,
          rowsStored,
          secondsToLastRow: round(seconds),
          rowsPerSecond: Math.round(last.rows / seconds),
          /** CLOCK_MONOTONIC µs (the clock of V8's CPU profiles) at the resume and at the last row. */
          monotonicUs: [Number(monotonicStart / 1000n), Number(last.monotonic / 1000n)],
          /** Seconds since the replicas resumed and rows stored, about every second. */
          rowsTimeline: samples
            .filter((x, i) => i % 5 === 0 || i === samples.length - 1)
            .map((x) => [round((x.t - start) / 1000), x.rows]),
          perReplica: replicas.map((r, i) => ({
            name: r.name,
            pid: r.hub.pid,
            telemetryReceived: counters1[i]!.received - counters0[i]!.received,
            rowsWritten: counters1[i]!.written - counters0[i]!.written,
            rowsDroppedByQueue: counters1[i]!.dropped - counters0[i]!.dropped,
            throttle: throttle[i]!,
          })),
          ...phase,
        };
      } finally {
        resume();
      }
    };
    const limitedReplicas = async (cores: number) => {
      const groupA = await CpuLimitGroup.create('hub-a', cores);
      cgroups.push(groupA);
      const groupB = await CpuLimitGroup.create('hub-b', cores);
      cgroups.push(groupB);
      await groupA.add(hubA.pid!);
      const replicas: Replica[] = [{ name: 'hub-a', hub: hubA, port: hubPorts[0]!, group: groupA }];
      await sleep(2000);
      const phases = [];
      progress(`limited replicas (${cores} core each): 1 replica`);
      phases.push(await limitedBurst('1 replica', replicas));
      progress(`limited 1: ${JSON.stringify(phases.at(-1))}`);
      // B starts unlimited (tsx compiling the hub at 0.3 core takes minutes), then joins its group.
      progress('starting hub b');
      const hubB = await startHub('hub-b');
      hubs.push(hubB);
      await groupB.add(hubB.pid!);
      replicas.push({ name: 'hub-b', hub: hubB, port: hubPorts.at(-1)!, group: groupB });
      // B must be in A's state, not fresher: A's ingest path was compiled by the phases before,
      // and A's duplicate filter (RecentIds, DEFAULT_INGEST_OPTIONS.recentIds ids) is full,
      // which costs ~40 µs per telemetry message while B's is not (measured with --cpu-prof,
      // decision 0093). Unmeasured messages fill B's, with both quotas lifted so that this
      // takes seconds, not minutes.
      const warmUp = Math.ceil((DEFAULT_INGEST_OPTIONS.recentIds * 2 * 1.2) / DEVICES);
      progress(`warm-up: ${warmUp} messages per device, quotas lifted`);
      await groupA.limit(false);
      await groupB.limit(false);
      const warmRows = await count('SELECT count(*) AS n FROM telemetry');
      sim.stdin!.write(`burst ${warmUp}\n`);
      await nextLine();
      // Until every row is stored or none came for 5 s (a lost warm-up row is not measured;
      // how many arrived is reported).
      let warm = { rows: -1, at: performance.now() };
      for (;;) {
        const rows = (await count('SELECT count(*) AS n FROM telemetry')) - warmRows;
        if (rows !== warm.rows) warm = { rows, at: performance.now() };
        if (rows >= warmUp * DEVICES || performance.now() - warm.at > 5_000) break;
        await sleep(500);
      }
      progress(`warm-up: ${warm.rows} of ${warmUp * DEVICES} rows stored`);
      await groupA.limit(true);
      await groupB.limit(true);
      await sleep(3000);
      progress(`limited replicas (${cores} core each): 2 replicas`);
      phases.push(await limitedBurst('2 replicas', replicas));
      progress(`limited 2: ${JSON.stringify(phases.at(-1))}`);
      // B leaves (clean session: the broker drops its share), and A alone is measured again:
      // the two one-replica figures bound what the machine's other work changed meanwhile.
      hubB.kill('SIGTERM');
      await Promise.race([new Promise((r) => hubB.once('exit', r)), sleep(20_000)]);
      hubs.pop();
      replicas.pop();
      await sleep(3000);
      progress(`limited replicas (${cores} core each): 1 replica again`);
      phases.push(await limitedBurst('1 replica (after the second left)', replicas));
      progress(`limited 1 again: ${JSON.stringify(phases.at(-1))}`);
      const [one, two, oneAgain] = phases as [(typeof phases)[0], (typeof phases)[0], (typeof phases)[0]];
      const oneMean = (one.rowsPerSecond + oneAgain.rowsPerSecond) / 2;
      return {
        valid: phases.every((p) => Object.values(p.checks).every(Boolean)),
        cpuPerReplica: cores,
        cfsQuotaUs: groupA.quotaUs,
        cfsPeriodUs: groupA.periodUs,
        cpuShares: groupA.shares,
        messagesPerDevice: REPLICA_BURST,
        warmUpMessagesPerDeviceForTheSecondReplica: warmUp,
        warmUpRowsStored: warm.rows,
        phases,
        ratio: {
          /** Two replicas' capacity / the mean of the one-replica capacity before and after. */
          twoReplicasVsOne: round(two.rowsPerSecond / oneMean),
          twoReplicasVsOneBefore: round(two.rowsPerSecond / one.rowsPerSecond),
          twoReplicasVsOneAfter: round(two.rowsPerSecond / oneAgain.rowsPerSecond),
        },
      };
    };

    if (REPLICA_CPU === undefined) {
      progress('starting hub b');
      hubs.push(await startHub('hub-b'));
      await new Promise((r) => setTimeout(r, 3000)); // replica B subscribed and warm
      progress('burst, 2 replicas');
      twoReplicas = await burst('2 hub replicas (shared subscription)');
      rowsDroppedByHubs = 0;
      for (const port of hubPorts) rowsDroppedByHubs += await metric(port, 'fleet_ingest_rows_dropped_total');
    } else {
      replicaScaling = await limitedReplicas(REPLICA_CPU);
    }
    progress('COPY reference');

    // ---- reference: COPY of the same number of rows ----
    const n = DEVICES * BURST;
    const csvFile = join(dir, 'telemetry.csv');
    const t = Date.UTC(2026, 0, 1);
    const csv: string[] = [];
    for (let i = 0; i < n; i++)
      csv.push(
        `${deviceIds[i % DEVICES]},${new Date(t + Math.floor(i / DEVICES)).toISOString()},12.5,${200 << 20},${1 << 30},${64 << 20},${8 * 2 ** 30},45.1,\n`,
      );
    await writeFile(csvFile, csv.join(''));
    await sql.query('CREATE TABLE telemetry_copy (LIKE telemetry INCLUDING ALL)');
    const c0 = performance.now();
    await run('psql', [
      dbUrl,
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      `\\copy telemetry_copy (device_id, at, cpu_percent, mem_used_bytes, mem_total_bytes, disk_used_bytes, disk_total_bytes, temperature_c, uptime_seconds) FROM '${csvFile}' WITH (FORMAT csv)`,
    ]);
    const copySeconds = (performance.now() - c0) / 1000;

    sim.stdin!.write('stop\n');
    await Promise.race([new Promise((r) => sim.once('exit', r)), new Promise((r) => setTimeout(r, 60_000))]);

    const twoVsOne =
      replicaScaling !== undefined
        ? replicaScaling.ratio.twoReplicasVsOne
        : round(twoReplicas!.rowsPerSecond / oneReplica.rowsPerSecond);
    const result = {
      benchmark: 'scale',
      date: new Date().toISOString(),
      devices: DEVICES,
      telemetryIntervalMs: TELEMETRY_MS,
      reportIntervalMs: REPORT_MS,
      connect: {
        allConnectedMs: Math.round(connectAllMs),
        allReportsStoredMs: Math.round(reportedAllMs),
        stateMessagesDroppedAfterRetries: connectSinkErrors,
        ...connect,
      },
      steady: {
        samplesExpectedPerSecond: Math.round((DEVICES * 1000) / TELEMETRY_MS),
        rows: latencies.length,
        rowsPerSecond: Math.round(latencies.length / steady.seconds),
        publishToRowMs: {
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
          max: latencies.at(-1) ?? NaN,
          resolution: 'rows polled every 100 ms: includes up to ~100 ms of polling delay',
        },
        ...steady,
      },
      burst: {
        messagesPerDevice: BURST,
        oneReplica,
        ...(twoReplicas !== undefined ? { twoReplicas } : {}),
        rowsDroppedByHubQueues: rowsDroppedByHubs,
      },
      ...(replicaScaling !== undefined ? { replicaScaling } : {}),
      postgresCopy: { rows: n, seconds: round(copySeconds), rowsPerSecond: Math.round(n / copySeconds) },
      ratio: {
        twoReplicasVsOne: twoVsOne,
        twoReplicasVsOneMeasure:
          replicaScaling !== undefined
            ? `capacity with ${REPLICA_CPU} core per replica (cgroup quota), same run`
            : 'unlimited replicas sharing the machine (bounded by the machine, not a replica)',
        oneReplicaIngestVsCopy: round(oneReplica.rowsPerSecond / (n / copySeconds)),
        ...(twoReplicas !== undefined
          ? { twoReplicasIngestVsCopy: round(twoReplicas.rowsPerSecond / (n / copySeconds)) }
          : {}),
      },
      goals: {
        hubCpuSteadyPercentOfOneCore: { goal: '<= 50', measured: steady.cpu.hub?.percentOfOneCore },
        twoReplicasVsOne: {
          goal: '>= 1.7',
          measured: twoVsOne,
          ...(replicaScaling !== undefined ? { valid: replicaScaling.valid } : {}),
        },
      },
      machine: { cpus: cpus().length, memoryGiB: round(totalmem() / 2 ** 30), loadAverageAtEnd: loadavg() },
      setup:
        'hub: src/main.ts under tsx, HUB_LOG_LEVEL=warn; Mosquitto 2.0.11 + dynsec (max_queued_messages 100000, max_inflight_messages 1000, set_tcp_nodelay); devices: test/sim FleetSimulator (mqtt.js, MQTT 5, telemetry QoS 1 as the agent sends it, one sample a message so publish→row is measured from the sample time) in one separate process on one shared login; Postgres 15 on the same machine; all processes share the 2 cores with other work',
    };
    console.log(JSON.stringify(result, null, 2));
    await mkdir(RESULTS_DIR, { recursive: true });
    await writeFile(join(RESULTS_DIR, 'scale.json'), `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(join(RESULTS_DIR, 'scale.md'), markdown(result));
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all(
      children.map((c) =>
        c.exitCode !== null || c.signalCode !== null
          ? null
          : Promise.race([new Promise((r) => c.once('exit', r)), new Promise((r) => setTimeout(r, 20_000))]),
      ),
    );
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const g of cgroups) await g.remove().catch((e: Error) => console.error(`scale.bench: ${e.message}`));
    await sql.end();
    // The broker's log (connections, disconnections, warnings) for looking into a run.
    if (process.env.FLEET_SCALE_BROKER_LOG)
      await copyFile(join(broker.dir, 'mosquitto.log'), process.env.FLEET_SCALE_BROKER_LOG).catch(
        () => undefined,
      );
    await broker.stop();
    const a = new pg.Client({ connectionString: ADMIN_URL });
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await a.end();
    await rm(dir, { recursive: true, force: true });
  }
}

type Phase = PhaseResult;

function throttleDelta(a: ThrottleStat, b: ThrottleStat) {
  const periods = b.periods - a.periods;
  const throttled = b.throttled - a.throttled;
  return {
    periods,
    throttled,
    /** Share of the periods (100 ms) in which the replica used its whole quota and was stopped. */
    throttledShare: round(throttled / periods),
    throttledSeconds: round(b.throttledSeconds - a.throttledSeconds),
  };
}

function cpuLine(p: Phase): string {
  return Object.entries(p.cpu)
    .map(([k, v]) => `${k} ${v.percentOfOneCore} %`)
    .join(', ');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function markdown(r: any): string {
  return `# Scale benchmark (${r.date})

${r.devices} simulated devices, telemetry every ${r.telemetryIntervalMs / 1000} s, report every ${r.reportIntervalMs / 1000} s;
machine: ${r.machine.cpus} cores, load average at the end ${r.machine.loadAverageAtEnd.map((x: number) => x.toFixed(1)).join(' / ')}.
CPU is per process, CPU seconds / wall seconds of the phase × 100 (100 % = one core; the machine has ${r.machine.cpus}).

| phase | result | CPU (% of one core) | peak RSS (MiB) |
| --- | --- | --- | --- |
| connect | all connected ${r.connect.allConnectedMs} ms, all reports stored ${r.connect.allReportsStoredMs} ms (${r.connect.stateMessagesDroppedAfterRetries} state messages dropped after retries) | ${cpuLine(r.connect)} | hub ${r.connect.rssPeakMiB.hub} |
| steady (${r.steady.seconds} s) | ${r.steady.rowsPerSecond} rows/s, publish→row p50 ${r.steady.publishToRowMs.p50} ms, p99 ${r.steady.publishToRowMs.p99} ms | ${cpuLine(r.steady)} | hub ${r.steady.rssPeakMiB.hub} |
| burst, 1 replica | ${r.burst.oneReplica.rowsWritten}/${r.burst.oneReplica.messagesPublished} rows in ${r.burst.oneReplica.seconds} s = ${r.burst.oneReplica.rowsPerSecond} rows/s | ${cpuLine(r.burst.oneReplica)} | hub ${r.burst.oneReplica.rssPeakMiB.hub} |
${
  r.burst.twoReplicas
    ? `| burst, 2 replicas | ${r.burst.twoReplicas.rowsWritten}/${r.burst.twoReplicas.messagesPublished} rows in ${r.burst.twoReplicas.seconds} s = ${r.burst.twoReplicas.rowsPerSecond} rows/s | ${cpuLine(r.burst.twoReplicas)} | hubs ${r.burst.twoReplicas.rssPeakMiB.hub} |\n`
    : ''
}| Postgres COPY (reference) | ${r.postgresCopy.rows} rows in ${r.postgresCopy.seconds} s = ${r.postgresCopy.rowsPerSecond} rows/s | | |

Ratios: 2 replicas / 1 = **${r.ratio.twoReplicasVsOne}** (goal ≥ 1.7; ${r.ratio.twoReplicasVsOneMeasure}); ingest / COPY = ${r.ratio.oneReplicaIngestVsCopy} (1 replica)${r.ratio.twoReplicasIngestVsCopy !== undefined ? `, ${r.ratio.twoReplicasIngestVsCopy} (2)` : ''}.
Hub CPU in the steady phase: **${r.goals.hubCpuSteadyPercentOfOneCore.measured} %** of one core (goal ≤ 50).
${r.replicaScaling ? replicaMarkdown(r.replicaScaling) : ''}`;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function replicaMarkdown(s: any): string {
  const cpu = (p: Phase) =>
    Object.entries(p.cpu)
      .map(([k, v]) => `${k} ${v.percentOfOneCore} (peak ${v.peakPercentOfOneCore})`)
      .join(', ');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const rows = s.phases.map((p: any) => {
    const per = p.perReplica
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      .map((q: any) => {
        const t = q.throttle;
        return `${q.name}: ${q.telemetryReceived} received, ${q.rowsWritten} stored, ${q.rowsDroppedByQueue} dropped, throttled ${t.throttled}/${t.periods} periods (${t.throttledSeconds} s)`;
      })
      .join('; ');
    return `| ${p.label} | ${p.rowsStored}/${p.messagesPublished} rows (${p.rowsStoredBeforeResume} before the resume); last row ${p.secondsToLastRow} s after the resume: **${p.rowsPerSecond} rows/s** | ${per} | ${cpu(p)}; machine ${p.machine.busyPercentOfOneCore} (peak ${p.machine.peakBusyPercentOfOneCore}) of 200 |`;
  });
  return `
## Replica scaling, ${s.cpuPerReplica} core per replica

Each hub replica in its own cgroup (cpu.cfs_quota_us ${s.cfsQuotaUs} per ${s.cfsPeriodUs} µs); replicas stopped while every device sends ${s.messagesPerDevice} telemetry messages, the broker queues them, replicas resumed together; capacity = rows stored / (resume → last row).

| phase | rows | per replica | CPU, % of one core (peak second) |
| --- | --- | --- | --- |
${rows.join('\n')}

Checks (replicas throttled in ≥ 80 % of periods, machine below 85 % of its cores, no row lost): ${s.phases
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    .map((p: any) => `${p.label} ${JSON.stringify(p.checks)}`)
    .join(
      '; ',
    )} → **${s.valid ? 'valid' : 'NOT valid: the machine, not the quota, may have limited a phase'}**.

2 replicas / 1 = **${s.ratio.twoReplicasVsOne}** (vs the first 1-replica phase ${s.ratio.twoReplicasVsOneBefore}, vs the last ${s.ratio.twoReplicasVsOneAfter}).
`;
}

await main();
