// Rollout benchmark: one rollout of one release to N simulated devices (default 2000; the
// issue's figure is 10000) through the hub's real path: the hub in its own process (src/main.ts)
// on Postgres and Mosquitto with dynamic security, the engine dispatching retained targets,
// protocol-faithful devices (test/sim) in `--procs` processes of their own, each a slice,
// reporting progress back and downloading the release's object from the hub (digest checked;
// `--downloads 0` simulates the download time instead). Measures the time until every device
// has its target, decision → device notification latency (decision = the row marked
// `dispatched`, notification = the device process read the target off its socket), each stage
// in between, the time until the rollout completes (every device's final progress stored by
// ingest and synced by the engine), and the CPU of the hub, the devices, Mosquitto and the Postgres backends. Side by
// side in the same run: the same N retained targets published by a bare MQTT client.
//
//   node --conditions=fleet-source --import tsx hub/bench/rollout.bench.ts [devices]
//     [--procs N (default 4)] [--downloads N per process (default 16; 0: simulated)]
//     [--complete-wait S (default 120: seconds after the last target to wait for completion)]
//
// Devices are inserted into the database directly and share one broker identity (provisioning
// 10k devices through Mosquitto's dynamic security costs minutes and is not what is measured).
// Writes bench/results/rollout-<devices>.json. Not a test: nothing asserts on time.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt from '../test/integration/helpers/mqtt-client.js';
import pg from 'pg';
import {
  deviceTopics,
  encodeMessage,
  generateSigningKey,
  ReleaseManifest,
  signManifest,
  TOPIC_ROOT,
} from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import { runMigrations } from '../src/database/migration-runner.js';
import { freePort, startMosquitto } from '../test/integration/helpers/mosquitto.js';
import { hubProcessEnv } from '../test/integration/helpers/hub-process.js';

const run = promisify(execFile);
const args = process.argv.slice(2);
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} wants a whole number, got ${args[i + 1]}`);
  return v;
};
const DEVICES = Number(args[0]) || 2000;
const PROCS = Math.max(1, flag('procs', 4));
const DOWNLOADS = flag('downloads', 16);
/** How long after the last target is received the bench waits for the rollout to complete. */
const COMPLETE_WAIT_MS = flag('complete-wait', 120) * 1000;
const ADMIN_URL = process.env.FLEET_BENCH_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const HUB = fileURLToPath(new URL('../', import.meta.url));
const RESULTS = fileURLToPath(
  new URL(`../../bench/results/rollout-${DEVICES}-p${PROCS}-d${DOWNLOADS}.json`, import.meta.url),
);
const CLK_TCK = 100;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function cpuSeconds(pid: number): Promise<number> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return (Number(stat[11]) + Number(stat[12])) / CLK_TCK;
}

async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main(): Promise<void> {
  const dbName = `bench_rollout_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const dbUrl = Object.assign(new URL(ADMIN_URL), { pathname: `/${dbName}` }).toString();
  const dir = await mkdtemp(join(tmpdir(), 'fleet-bench-rollout-'));
  const broker = await startMosquitto();
  const sql = new pg.Pool({ connectionString: dbUrl, max: 2 });
  const children: ReturnType<typeof spawn>[] = [];
  try {
    await runMigrations(dbUrl);
    // One broker identity for every simulated device, allowed on every device topic.
    const ctrl = (...args: string[]) =>
      run('mosquitto_ctrl', [
        '-h',
        '127.0.0.1',
        '-p',
        String(broker.port),
        '-u',
        broker.admin.username,
        '-P',
        broker.admin.password,
        'dynsec',
        ...args,
      ]);
    const devicePassword = randomBytes(12).toString('hex');
    // Devices fetch objects with HTTP Basic `device:<id>` and this password (its sha256 is stored).
    const httpPassword = randomBytes(12).toString('hex');
    const httpHash = createHash('sha256').update(httpPassword).digest('hex');
    await ctrl('createClient', 'bench-devices', '-p', devicePassword);
    await ctrl('createRole', 'bench-devices');
    for (const acl of [
      'publishClientSend',
      'publishClientReceive',
      'subscribePattern',
      'unsubscribePattern',
    ]) {
      await ctrl('addRoleACL', 'bench-devices', acl, `${TOPIC_ROOT}/#`, 'allow');
    }
    await ctrl('addClientRole', 'bench-devices', 'bench-devices');

    // The fleet and its devices, straight into the database.
    const fleetId = randomUUID();
    await sql.query(`INSERT INTO fleets (id, name) VALUES ($1, 'bench')`, [fleetId]);
    const deviceIds = Array.from({ length: DEVICES }, () => randomUUID());
    await sql.query(
      `INSERT INTO devices (id, fleet_id, name, hardware_id, public_key, board, agent_version, tags, credentials_hash)
       SELECT id, $1, 'bench-' || n, 'bench-hw-' || n, 'none', 'qemu-aarch64', '0.1.0', '{}', $3 FROM unnest($2::uuid[]) WITH ORDINALITY AS x(id, n)`,
      [fleetId, deviceIds, httpHash],
    );

    // The hub, as operators run it.
    const port = await freePort();
    const hubUrl = `http://127.0.0.1:${port}`;
    const hubPassword = randomBytes(12).toString('hex');
    const hub = spawn(process.execPath, ['--conditions=fleet-source', '--import', 'tsx', 'src/main.ts'], {
      cwd: HUB,
      env: hubProcessEnv({
        databaseUrl: dbUrl,
        broker,
        hubPassword,
        port,
        dataDir: join(dir, 'hub'),
        adminEmail: 'bench@example.com',
        adminPassword: 'bench-password',
        logLevel: 'warn',
      }),
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    children.push(hub);
    await until(
      'hub ready',
      () =>
        fetch(`${hubUrl}/readyz`).then(
          (r) => r.ok,
          () => false,
        ),
      120_000,
    );
    const login = await fetch(`${hubUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bench@example.com', password: 'bench-password' }),
    });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const api = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${hubUrl}/api/v1${path}`, {
        method,
        headers: { cookie, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (r.status >= 400) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
      return r.json() as Promise<Record<string, unknown>>;
    };
    const key = generateSigningKey('bench');
    await api('POST', '/keys', { name: 'bench', publicKey: key.trustRoot.publicKey });
    const blob = randomBytes(64 * 1024);
    const hex = createHash('sha256').update(blob).digest('hex');
    await fetch(`${hubUrl}/api/v1/objects/sha256/${hex}`, {
      method: 'PUT',
      headers: { cookie, 'content-type': 'application/octet-stream' },
      body: blob,
    });
    const manifest = signManifest(
      ReleaseManifest.parse(
        aRelease({
          version: '2.0.0',
          release: '2.0.0',
          sequence: 2,
          containers: { web: aContainer({ rootfs: { digest: `sha256:${hex}`, size: blob.length } }) },
        }),
      ),
      key,
    );
    await api('POST', '/releases', manifest);

    // The devices, in PROCS processes of their own, each a slice.
    const received = new Map<string, { read: number; handled: number }>();
    const samples: Array<Record<string, number> & { proc: number }> = [];
    let ready = 0;
    const sims: ReturnType<typeof spawn>[] = [];
    const per = Math.ceil(DEVICES / PROCS);
    for (let p = 0; p < PROCS; p++) {
      const slice = deviceIds.slice(p * per, (p + 1) * per);
      const file = join(dir, `devices-${p}.json`);
      await writeFile(
        file,
        JSON.stringify({
          mqttUrl: broker.url,
          username: 'bench-devices',
          password: devicePassword,
          deviceIds: slice,
          firstIndex: p * per,
          downloadConcurrency: DOWNLOADS,
          httpPassword,
        }),
      );
      const sim = spawn(
        process.execPath,
        ['--conditions=fleet-source', '--import', 'tsx', join(HUB, 'bench/rollout-devices.ts'), file],
        { cwd: HUB, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      children.push(sim);
      sims.push(sim);
      createInterface({ input: sim.stdout! }).on('line', (line) => {
        if (line === 'ready') ready++;
        else if (line.startsWith('{')) {
          const e = JSON.parse(line) as { t: string; id: string; read: number; handled: number };
          if (e.t === 'target' && !received.has(e.id))
            received.set(e.id, { read: e.read, handled: e.handled });
          else if (e.t === 'sample') samples.push({ ...(e as unknown as Record<string, number>), proc: p });
        }
      });
    }
    const connectStart = Date.now();
    await until('devices connected', async () => ready === PROCS, 900_000);
    const connectMs = Date.now() - connectStart;
    // Every device's first report, or as many as ingest stored once the count stops growing: on
    // a loaded machine ingest may drop some (its own limits, hub/src/ingest), and the dispatch
    // measured here does not need them. How many there were goes into the result.
    const reportedCount = async () =>
      Number((await sql.query(`SELECT count(*) AS n FROM devices WHERE inventory ? 'objects'`)).rows[0].n);
    let reported = 0;
    let steadySince = Date.now();
    await until(
      'device reports settled',
      async () => {
        const n = await reportedCount();
        if (n !== reported) [reported, steadySince] = [n, Date.now()];
        return n === DEVICES || Date.now() - steadySince > 20_000;
      },
      600_000,
    );

    // A tap on every target topic: the envelope's time is when the hub encoded the target (just
    // before its publish call); the tap's receipt is the broker's delivery, independent of the
    // devices process (whose own event loop carries 10k sessions).
    const tap = await mqtt.connectAsync(broker.url, {
      username: 'bench-devices',
      password: devicePassword,
      clientId: 'bench-tap',
      protocolVersion: 5,
    });
    const tapped = new Map<string, { encodedAt: number; tapAt: number }>();
    tap.on('message', (topic, payload) => {
      const deviceId = topic.split('/')[3] ?? '';
      if (payload.length === 0 || tapped.has(deviceId)) return;
      const env = JSON.parse(payload.toString()) as { time: string };
      tapped.set(deviceId, { encodedAt: Date.parse(env.time), tapAt: Date.now() });
    });
    await tap.subscribeAsync(`${TOPIC_ROOT}/+/target`, { qos: 1 });

    // ---- the hub: one rollout, every device in one phase, no download cap in the way ----
    const brokerPid = Number((await readFile(broker.pidFile, 'utf8')).trim());
    // The Postgres backends serving this database (the hub's pool): they do the dispatch's queries.
    const pgPids = async () =>
      (
        (
          await sql.query(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [
            dbName,
          ])
        ).rows as Array<{ pid: number }>
      ).map((r) => r.pid);
    const simCpu = async () =>
      (await Promise.all(sims.map((c) => cpuSeconds(c.pid!)))).reduce((a, b) => a + b, 0);
    const pgCpu = async () =>
      (await Promise.all((await pgPids()).map((pid) => cpuSeconds(pid).catch(() => 0)))).reduce(
        (a, b) => a + b,
        0,
      );
    const cpuNow = async () => ({
      at: Date.now(),
      hub: await cpuSeconds(hub.pid!),
      devices: await simCpu(),
      broker: await cpuSeconds(brokerPid),
      postgres: await pgCpu(),
    });
    // CPU of each process, once a second, for the timeline (percent of one core per second).
    const cpuTimeline: Array<Awaited<ReturnType<typeof cpuNow>>> = [];
    const cpuTimer = setInterval(
      () =>
        void cpuNow().then(
          (c) => cpuTimeline.push(c),
          () => {},
        ),
      1000,
    );
    const cpuStart = await cpuNow();
    const cpu0 = cpuStart.hub;
    const t0 = Date.now();
    const rollout = await api('POST', '/rollouts', {
      release: '2.0.0',
      fleet: 'bench',
      maxParallel: DEVICES,
      deviceBakeSeconds: 1,
      maxFailurePercent: 100,
      minSuccessPercent: 0,
    });
    // Once a second: progress events stored and devices counted succeeded by the engine, to see
    // whether ingest (events stored) or the engine (states synced) trails the devices.
    const stored: Array<{ at: number; events: number; succeeded: number }> = [];
    const storedTimer = setInterval(
      () =>
        void sql
          .query(
            `SELECT (SELECT count(*) FROM update_events) AS events,
               (SELECT count(*) FROM rollout_devices WHERE rollout_id = $1 AND state = 'succeeded') AS succeeded`,
            [rollout.id],
          )
          .then(
            (r) =>
              stored.push({
                at: Date.now(),
                events: Number(r.rows[0].events),
                succeeded: Number(r.rows[0].succeeded),
              }),
            () => {},
          ),
      1000,
    );
    await until('every target received', async () => received.size === DEVICES, 600_000);
    const dispatchMs = Math.max(...[...received.values()].map((r) => r.read)) - t0;
    const cpuDispatched = await cpuNow();
    const used = (k: 'hub' | 'devices' | 'broker' | 'postgres') =>
      Math.round(((cpuDispatched[k] - cpuStart[k]) * 100_000) / dispatchMs);
    // Completion needs every device's final progress stored by ingest: reported (from the
    // rollout's creation) when it happens within COMPLETE_WAIT_MS of the last target, null
    // otherwise (with the counts reached). `allSucceededMs`: when every device counted as
    // succeeded (the rollout can complete with failures too: this bench allows 100 %).
    let finalCounts: unknown = null;
    let allSucceededMs: number | null = null;
    const completed = await until(
      'rollout completed',
      async () => {
        const r = await api('GET', `/rollouts/${String(rollout.id)}`);
        finalCounts = r.counts;
        const succeeded = (r.counts as Record<string, number> | undefined)?.succeeded ?? 0;
        if (allSucceededMs === null && succeeded === DEVICES) allSucceededMs = Date.now() - t0;
        return r.state === 'completed';
      },
      COMPLETE_WAIT_MS,
    ).then(
      () => true,
      () => false,
    );
    const completeMs = completed ? Date.now() - t0 : null;
    clearInterval(storedTimer);
    // Progress events by the devices' clock (capped at arrival), per 5 s bucket: what was sent.
    const sentRows = (
      await sql.query(
        `SELECT floor((extract(epoch FROM at) * 1000 - $1) / 5000)::int AS b, count(*)::int AS n FROM update_events
         GROUP BY 1`,
        [t0],
      )
    ).rows as Array<{ b: number; n: number }>;
    const cpu1 = await cpuSeconds(hub.pid!);
    const elapsedMs = Date.now() - t0;
    clearInterval(cpuTimer);
    await tap.endAsync();
    // Timestamps along the path, per device: decision (dispatched_at, the row written), publish
    // called (the envelope's time), PUBACK (device_targets.published_at, taken after the
    // publish resolved), broker delivery (the tap), device receipt (the simulated device).
    const rows = (
      await sql.query(
        `SELECT rd.device_id::text AS id, extract(epoch FROM rd.dispatched_at) * 1000 AS at,
           extract(epoch FROM t.published_at) * 1000 AS acked
         FROM rollout_devices rd LEFT JOIN device_targets t ON t.device_id = rd.device_id
         WHERE rd.rollout_id = $1`,
        [rollout.id],
      )
    ).rows as Array<{ id: string; at: string; acked: string | null }>;
    const stat = (xs: number[]) => {
      const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
      return {
        n: s.length,
        p50: percentile(s, 50),
        p95: percentile(s, 95),
        p99: percentile(s, 99),
        max: s.at(-1) ?? NaN,
      };
    };
    const readAt = (id: string) => received.get(id)?.read ?? NaN;
    const latencies = stat(rows.map((r) => readAt(r.id) - Number(r.at)));
    const tapAt = (id: string) => tapped.get(id)?.tapAt ?? NaN;
    const stages = {
      decisionToPublishCall: stat(rows.map((r) => (tapped.get(r.id)?.encodedAt ?? NaN) - Number(r.at))),
      publishCallToPuback: stat(
        rows.map((r) => Number(r.acked ?? NaN) - (tapped.get(r.id)?.encodedAt ?? NaN)),
      ),
      publishCallToBrokerDelivery: stat(
        rows.map((r) => (tapped.get(r.id)?.tapAt ?? NaN) - (tapped.get(r.id)?.encodedAt ?? NaN)),
      ),
      publishCallToDeviceReceipt: stat(rows.map((r) => readAt(r.id) - (tapped.get(r.id)?.encodedAt ?? NaN))),
      // The broker's delivery to one subscriber (the tap) to the device process reading it.
      brokerDeliveryToDeviceRead: stat(rows.map((r) => readAt(r.id) - tapAt(r.id))),
      deviceReadToHandler: stat(rows.map((r) => (received.get(r.id)?.handled ?? NaN) - readAt(r.id))),
      rolloutCreatedToDecision: stat(rows.map((r) => Number(r.at) - t0)),
    };
    // Per 5 s from the rollout's creation: decisions, publish calls, broker deliveries, device
    // reads, and each process's CPU and the devices' event-loop delay, to see which one lags.
    const BUCKET = 5000;
    const buckets = Math.ceil(elapsedMs / BUCKET);
    const count = (xs: number[]) => {
      const c = new Array<number>(buckets).fill(0);
      for (const x of xs)
        if (Number.isFinite(x) && x >= t0) c[Math.min(buckets - 1, Math.floor((x - t0) / BUCKET))]!++;
      return c;
    };
    // Sessions lost so far, over every devices process (each sample counts since its start).
    const disconnectsUntil = (at: number) =>
      Array.from({ length: PROCS }, (_, p) =>
        Math.max(0, ...samples.filter((x) => x.proc === p && x.at! < at).map((x) => x.disconnects ?? 0)),
      ).reduce((x, y) => x + y, 0);
    const decisions = count(rows.map((r) => Number(r.at)));
    const publishCalls = count([...tapped.values()].map((t) => t.encodedAt));
    const deliveries = count([...tapped.values()].map((t) => t.tapAt));
    const reads = count([...received.values()].map((r) => r.read));
    const timeline = Array.from({ length: buckets }, (_, b) => {
      const from = t0 + b * BUCKET;
      const inB = samples.filter((x) => x.at! >= from && x.at! < from + BUCKET);
      const c0 = cpuTimeline.find((c) => c.at >= from);
      const c1 = [...cpuTimeline].reverse().find((c) => c.at < from + BUCKET);
      const pct = (k: 'hub' | 'devices' | 'broker' | 'postgres') =>
        c0 && c1 && c1.at > c0.at ? Math.round(((c1[k] - c0[k]) * 100_000) / (c1.at - c0.at)) : null;
      return {
        s: (b * BUCKET) / 1000,
        decisions: decisions[b],
        publishCalls: publishCalls[b],
        brokerDeliveries: deliveries[b],
        deviceReads: reads[b],
        cpu: { hub: pct('hub'), devices: pct('devices'), broker: pct('broker'), postgres: pct('postgres') },
        devicesLoopDelayMaxMs: Math.max(0, ...inB.map((x) => x.loopDelayMaxMs ?? 0)),
        devicesDisconnects: disconnectsUntil(from + BUCKET),
        downloadsWaiting: inB.length ? Math.max(...inB.map((x) => x.downloadsWaiting ?? 0)) : 0,
        progressSent: sentRows.find((r) => r.b === b)?.n ?? 0,
        // At the bucket's end: events stored, devices the engine counts succeeded.
        progressStoredTotal: [...stored].reverse().find((x) => x.at < from + BUCKET)?.events ?? 0,
        succeededTotal: [...stored].reverse().find((x) => x.at < from + BUCKET)?.succeeded ?? 0,
      };
    });
    // The engine's batches, told apart by their decision times (one UPDATE marks a batch): how
    // long each took from marking to its last PUBACK, and the gap to the next batch (the queries
    // between: recording, the next selection, and at a new step the sync over the whole rollout).
    const byDecision = rows
      .map((r) => ({
        at: Number(r.at),
        acked: Number(r.acked ?? NaN),
        call: tapped.get(r.id)?.encodedAt ?? NaN,
      }))
      .sort((a, b) => a.at - b.at);
    const batches: Array<{
      decidedAt: number;
      n: number;
      firstCall: number;
      lastCall: number;
      lastAck: number;
    }> = [];
    for (const r of byDecision) {
      const cur = batches.at(-1);
      if (cur && r.at - cur.decidedAt < 50) {
        cur.n++;
        cur.firstCall = Math.min(cur.firstCall, r.call);
        cur.lastCall = Math.max(cur.lastCall, r.call);
        cur.lastAck = Math.max(cur.lastAck, r.acked);
      } else batches.push({ decidedAt: r.at, n: 1, firstCall: r.call, lastCall: r.call, lastAck: r.acked });
    }
    const batchStats = {
      count: batches.length,
      sizes: stat(batches.map((b) => b.n)),
      decisionToFirstPublishCall: stat(batches.map((b) => b.firstCall - b.decidedAt)),
      decisionToLastPublishCall: stat(batches.map((b) => b.lastCall - b.decidedAt)),
      decisionToLastPuback: stat(batches.map((b) => b.lastAck - b.decidedAt)),
      lastPubackToNextDecision: stat(batches.slice(1).map((b, i) => b.decidedAt - batches[i]!.lastAck)),
    };
    // Sessions the broker dropped during the run (a starved client misses its keepalive).
    const brokerLog = (await broker.log()).split('\n');
    const brokerDrops = {
      keepaliveTimeouts: brokerLog.filter((l) => /exceeded timeout/.test(l)).length,
      socketErrors: brokerLog.filter((l) => /socket error|closed its connection/.test(l)).length,
      // A session whose queue (max_queued_messages) is full loses messages: the hub's, in a burst.
      queueFullWarnings: brokerLog.filter((l) => /dropped/i.test(l)).length,
    };

    // ---- reference: the same retained targets from a bare MQTT client ----
    for (const sim of sims) sim.kill('SIGTERM');
    await Promise.all(
      sims.map((sim) => (sim.exitCode !== null ? null : new Promise((r) => sim.once('exit', r)))),
    );
    const target = {
      updateId: 'u-ref',
      release: manifest,
      objectBaseUrl: `${hubUrl}/api/v1/objects`,
      bakeSeconds: 1,
    };
    const bare = await mqtt.connectAsync(broker.url, {
      username: 'fleet-hub',
      password: hubPassword,
      clientId: 'bench-ref',
      protocolVersion: 5,
    });
    const r0 = Date.now();
    let inFlight: Promise<unknown>[] = [];
    for (const id of deviceIds) {
      const enc = encodeMessage('target', { ...target, updateId: `ref-${id.slice(0, 8)}` });
      if (!enc.ok) throw enc.error;
      inFlight.push(bare.publishAsync(deviceTopics(id).target, enc.value.payload, { qos: 1, retain: true }));
      if (inFlight.length >= 500) {
        await Promise.all(inFlight);
        inFlight = [];
      }
    }
    await Promise.all(inFlight);
    const refMs = Date.now() - r0;
    await bare.endAsync();

    const result = {
      benchmark: 'rollout',
      devices: DEVICES,
      deviceProcesses: PROCS,
      downloadConcurrencyPerProcess: DOWNLOADS,
      devicesConnectMs: connectMs,
      devicesReportedBeforeRollout: reported,
      hub: {
        dispatchAllMs: dispatchMs,
        completeMs,
        allSucceededMs,
        completeWaitMs: COMPLETE_WAIT_MS,
        targetsPerSecond: Math.round((DEVICES * 1000) / dispatchMs),
        decisionToNotificationMs: latencies,
        decisionToHandlerMs: stat(rows.map((r) => (received.get(r.id)?.handled ?? NaN) - Number(r.at))),
        stagesMs: stages,
        batchesMs: batchStats,
        cpuSeconds: Math.round((cpu1 - cpu0) * 100) / 100,
        cpuPercentOfOneCore: Math.round(((cpu1 - cpu0) * 100_000) / elapsedMs),
        countsAtEnd: finalCounts,
        cpuPercentOfOneCoreWhileDispatching: used('hub'),
      },
      // Whether the other processes had CPU left: a saturated devices process delays receipts.
      othersWhileDispatching: {
        devicesCpuPercentOfOneCore: used('devices'),
        brokerCpuPercentOfOneCore: used('broker'),
        postgresCpuPercentOfOneCore: used('postgres'),
        devicesLoopDelayMaxMs: Math.max(
          0,
          ...samples.filter((x) => x.at! >= t0).map((x) => x.loopDelayMaxMs ?? 0),
        ),
        devicesDisconnects: disconnectsUntil(Infinity),
        brokerDrops,
        perDevicesProcess: Array.from({ length: PROCS }, (_, p) => {
          const mine = samples.filter((x) => x.proc === p && x.at! >= t0 && x.at! <= t0 + dispatchMs + 1000);
          return {
            loopDelayMaxMs: Math.max(0, ...mine.map((x) => x.loopDelayMaxMs ?? 0)),
            cpuPercentMax: Math.max(0, ...mine.map((x) => x.cpuPercent ?? 0)),
            rssMiBMax: Math.max(0, ...mine.map((x) => x.rssMiB ?? 0)),
          };
        }),
      },
      timeline,
      reference: { bareMqttPublishAllMs: refMs, targetsPerSecond: Math.round((DEVICES * 1000) / refMs) },
      ratio: { dispatchVsBarePublish: Math.round((dispatchMs / refMs) * 100) / 100 },
      goal: { p95DecisionToNotificationMs: 5000, met: latencies.p95 <= 5000 },
      machine: { loadavg: loadavg(), cpus: (await import('node:os')).cpus().length },
      at: new Date().toISOString(),
    };
    console.log(JSON.stringify(result, null, 2));
    await mkdir(fileURLToPath(new URL('../../bench/results/', import.meta.url)), { recursive: true });
    await writeFile(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(
      children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r)))),
    );
    await sql.end();
    await broker.stop();
    const a = new pg.Client({ connectionString: ADMIN_URL });
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await a.end();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
