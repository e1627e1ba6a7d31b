// Telemetry ingest benchmark: device publish → row in Postgres through the hub's real path
// (Mosquitto with dynamic security, shared subscription, IngestService, TelemetryService's
// batched COPY FROM STDIN), side by side with Postgres `COPY` of the same rows (psql \copy of a
// CSV file) into an identical table in the same run. Also the hub's batch writes alone (no
// MQTT), to show where the time goes.
//
//   node --conditions=fleet-source --import tsx hub/bench/ingest.bench.ts [devices] [messages] [samples]
//
// [samples] per message defaults to 5: what an agent sends with the default intervals (a sample
// every 60 s, published every 300 s, decision 0037), so the default run is the faithful one.
// 1 is an agent configured with telemetryPublishMs = telemetryMs; 10 was issue 5's figure.
//
// Writes bench/results/ingest.json. Not a test: nothing asserts on time.
import 'reflect-metadata';
import { execFile, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import type { TelemetrySample } from '@fleet/protocol';
import { HubConfig } from '../src/config/hub-config.js';
import { runMigrations } from '../src/database/migration-runner.js';
import { PgPool } from '../src/database/pg-pool.js';
import { PrismaService } from '../src/database/prisma.service.js';
import { brokerUsernameFor } from '../src/devices/broker-authority.js';
import { IngestMetrics } from '../src/ingest/ingest-metrics.js';
import { EventBus } from '../src/events/event-bus.js';
import { DEFAULT_INGEST_OPTIONS, IngestService } from '../src/ingest/ingest.service.js';
import { ServicesIngestSink } from '../src/ingest/services-ingest-sink.js';
import { MetricsRegistry } from '../src/metrics/metrics.registry.js';
import { BrokerConnection } from '../src/mqtt/broker-connection.js';
import { TelemetryRepository } from '../src/telemetry/telemetry.repository.js';
import { TelemetryService } from '../src/telemetry/telemetry.service.js';
import { startMosquitto } from '../test/integration/helpers/mosquitto.js';
import { sampleAt as sampleFrom, type PublisherConfig } from './ingest-publishers.js';
import { PhaseMeter } from './scale-proc.js';

const run = promisify(execFile);
const [devicesArg, messagesArg, samplesArg] = process.argv.slice(2).map(Number);
const DEVICES = devicesArg || 200;
const MESSAGES = messagesArg || 50;
const SAMPLES = samplesArg || 5;
const ROWS = DEVICES * MESSAGES * SAMPLES;
const ADMIN_URL = process.env.FLEET_BENCH_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const RESULTS = fileURLToPath(new URL('../../bench/results/ingest.json', import.meta.url));
const T0 = Date.UTC(2026, 0, 1);
// The simulated devices' MQTT client (ingest-publishers.ts): raw sockets (default) or mqtt.js.
const PUBLISHERS = process.env.FLEET_BENCH_PUBLISHERS === 'mqttjs' ? 'mqttjs' : 'raw';

const quiet = {
  log: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};
const notInBench = async () => {
  throw new Error('only telemetry is sent in this benchmark');
};

const sampleAt = (index: number): TelemetrySample => sampleFrom(T0, index);
// To compare telemetry batch settings: FLEET_BENCH_TELEMETRY_BATCH / _WRITERS (default: the hub's).
// The devices publish the whole run at once, far faster than Postgres takes rows, so the backlog
// lives in the hub's bounded telemetry queue, which drops the oldest rows when full (decision
// 0051). Runs over the hub's 100k samples (e.g. `200 500 5`: 500k rows) stalled there, with
// every message received: the queue holds the run by default, so what is timed is the path,
// not the drop policy. FLEET_BENCH_TELEMETRY_QUEUE sets it (the hub's default to see drops).
const QUEUE =
  Number(process.env.FLEET_BENCH_TELEMETRY_QUEUE) ||
  Math.max(DEFAULT_INGEST_OPTIONS.telemetry.capacity, ROWS);
const OPTIONS = {
  ...DEFAULT_INGEST_OPTIONS,
  telemetry: {
    ...DEFAULT_INGEST_OPTIONS.telemetry,
    capacity: QUEUE,
    maxBatch: Number(process.env.FLEET_BENCH_TELEMETRY_BATCH) || DEFAULT_INGEST_OPTIONS.telemetry.maxBatch,
    writers: Number(process.env.FLEET_BENCH_TELEMETRY_WRITERS) || DEFAULT_INGEST_OPTIONS.telemetry.writers,
  },
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const dbName = `bench_ingest_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = Object.assign(new URL(ADMIN_URL), { pathname: `/${dbName}` }).toString();
  const dir = await mkdtemp(join(tmpdir(), 'fleet-bench-ingest-'));
  const mosquitto = await startMosquitto();
  let publishers: ReturnType<typeof spawn> | undefined;
  let prisma: PrismaService | undefined;
  let pgPool: PgPool | undefined;
  let connection: BrokerConnection | undefined;
  try {
    await runMigrations(dbUrl);
    const config = HubConfig.parse({ databaseUrl: dbUrl, dataDir: dir });
    prisma = new PrismaService(config);
    const registry = new MetricsRegistry();
    pgPool = new PgPool(config);
    const telemetry = new TelemetryService(
      new TelemetryRepository(prisma, pgPool),
      config,
      registry,
      new EventBus(),
    );
    // A running hub has its pools open: connect before timing.
    await prisma.$queryRaw`SELECT 1`;
    await pgPool.pool.query('SELECT 1');

    // Commit time of every message's rows (epoch ms), matched with the publishers' publish times.
    // This runs in the hub's process during the timed phase, so it is kept cheap: one array per
    // device indexed by message number (a string key per sample cost ~0.1 CPU-s and garbage).
    const committed = new Map<string, Float64Array>();
    // Message number of a sample's time (the same for every device); a lookup is cheaper than
    // Date.parse per row.
    const messageOf = new Map(
      Array.from({ length: MESSAGES * SAMPLES }, (_, i) => [sampleAt(i).time, Math.floor(i / SAMPLES)]),
    );
    const timedTelemetry = {
      async ingestBatch(batch: { deviceId: string; samples: TelemetrySample[] }[]) {
        const n = await telemetry.ingestBatch(batch);
        const now = Date.now();
        for (const item of batch) {
          let times = committed.get(item.deviceId);
          if (times === undefined) committed.set(item.deviceId, (times = new Float64Array(MESSAGES)));
          for (const s of item.samples) {
            const m = messageOf.get(s.time)!;
            if (now > times[m]!) times[m] = now;
          }
        }
        return n;
      },
    };
    const sink = new ServicesIngestSink(
      { recordPresence: notInBench, recordReport: notInBench, recordCommandAck: notInBench },
      { recordProgress: notInBench },
      timedTelemetry,
      { ingestBatch: notInBench },
    );
    const metrics = new IngestMetrics(registry);
    const ingest = new IngestService(sink, metrics, quiet, OPTIONS);
    connection = await BrokerConnection.open(
      {
        mode: 'mosquitto',
        url: mosquitto.url,
        adminUsername: mosquitto.admin.username,
        adminPassword: mosquitto.admin.password,
        hubUsername: 'fleet-hub',
        hubPassword: randomBytes(12).toString('hex'),
      },
      quiet,
    );
    await ingest.attach(connection.session, { shared: true });

    // Devices: provisioned through dynsec; their clients run in a separate process.
    const devices: { id: string; username: string; password: string }[] = [];
    for (let d = 0; d < DEVICES; d++) {
      const id = randomUUID();
      const password = randomBytes(12).toString('hex');
      await connection.authority.upsertDevice(id, brokerUsernameFor(id), password);
      devices.push({ id, username: brokerUsernameFor(id), password });
    }
    const publisherConfig: PublisherConfig = {
      url: mosquitto.url,
      devices,
      messages: MESSAGES,
      samples: SAMPLES,
      t0: T0,
      publishedFile: join(dir, 'published.json'),
      client: PUBLISHERS,
    };
    await writeFile(join(dir, 'publishers.json'), JSON.stringify(publisherConfig));
    const child = spawn(
      process.execPath,
      [
        '--conditions=fleet-source',
        '--import',
        'tsx',
        fileURLToPath(new URL('./ingest-publishers.ts', import.meta.url)),
        join(dir, 'publishers.json'),
      ],
      {
        stdio: ['pipe', 'pipe', 'inherit'],
      },
    );
    publishers = child;
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const expectLine = async (want: string) => {
      const { value, done } = await lines.next();
      if (done || value !== want)
        throw new Error(`publishers said ${JSON.stringify(value)}, expected ${want}`);
    };
    await expectLine('ready');

    // 1. The hub's path: every device publishes all its messages (QoS 1) at once. Each
    // process's CPU is read from /proc: the hub (this process), the publishers, the broker and
    // this database's Postgres backends share the same 2 cores.
    const sqlPids = new pg.Client({ connectionString: dbUrl });
    // A failed run drops the database WITH (FORCE) in `finally`: that must not hide its error.
    sqlPids.on('error', () => undefined);
    await sqlPids.connect();
    const meter = new PhaseMeter(
      {
        hub: () => [process.pid],
        publishers: () => [child.pid!],
        mosquitto: async () => [Number((await readFile(mosquitto.pidFile, 'utf8')).trim())],
        postgres: async () =>
          (
            await sqlPids.query<{ pid: number }>(
              'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
              [dbName],
            )
          ).rows.map((r) => r.pid),
      },
      ['hub'],
    );
    await meter.start();
    const written = () => metrics.rowsWritten.get({ kind: 'telemetry' });
    const start = performance.now();
    child.stdin!.write('go\n');
    const publishedDone = expectLine('done').then(() => performance.now());
    // A failed wait below kills the publishers in `finally`: their missing 'done' must not
    // crash the process before that failure is reported (it is awaited after the wait).
    publishedDone.catch(() => undefined);
    let last = { rows: -1, at: performance.now() };
    let receivedAll: number | undefined;
    while (written() < ROWS) {
      // A dropped row is never written: say so at once rather than wait for the stall.
      const dropped = metrics.rowsDropped.get({ kind: 'telemetry' });
      if (dropped > 0)
        throw new Error(
          `the hub dropped ${dropped} of ${ROWS} rows from its full telemetry queue (capacity ${QUEUE}, fleet_ingest_rows_dropped_total; decision 0051) after receiving ${metrics.received.get({ kind: 'telemetry' })} of ${DEVICES * MESSAGES} messages: the run publishes more rows at once than the queue holds (FLEET_BENCH_TELEMETRY_QUEUE)`,
        );
      if (receivedAll === undefined && metrics.received.get({ kind: 'telemetry' }) >= DEVICES * MESSAGES)
        receivedAll = performance.now();
      if (written() !== last.rows) last = { rows: written(), at: performance.now() };
      else if (performance.now() - last.at > 15_000) {
        throw new Error(
          // The counters tell a row the hub dropped (its bounded queue, by design) from a
          // message the hub never got (the broker's) or one it holds.
          `stalled at ${written()} of ${ROWS} rows: hub received ${metrics.received.get({ kind: 'telemetry' })} of ${DEVICES * MESSAGES} messages, dropped ${metrics.rowsDropped.get({ kind: 'telemetry' })} rows from its full queue (see ${mosquitto.dir}/mosquitto.log)\n${(await mosquitto.log()).slice(-2000)}`,
        );
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const ingestSeconds = (performance.now() - start) / 1000;
    const processes = await meter.stop();
    await sqlPids.end();
    const publishedAll = await publishedDone;
    // Publish time of every message: per device, by message number.
    const published = JSON.parse(await readFile(publisherConfig.publishedFile, 'utf8')) as Record<
      string,
      number[]
    >;
    const latencies = Object.entries(published)
      .flatMap(([deviceId, times]) => times.map((at, m) => (committed.get(deviceId)?.[m] || NaN) - at))
      .sort((a, b) => a - b);
    const sql = new pg.Client({ connectionString: dbUrl });
    sql.on('error', () => undefined);
    await sql.connect();
    const { rows: counted } = await sql.query<{ n: string }>('SELECT count(*) AS n FROM telemetry');
    if (Number(counted[0]?.n) !== ROWS)
      throw new Error(`telemetry holds ${counted[0]?.n} rows, expected ${ROWS}`);
    const dropped = metrics.rowsDropped.get({ kind: 'telemetry' });
    const batches = metrics.rowsWritten.get({ kind: 'telemetry' });
    await ingest.close();

    const allRows = devices.flatMap(({ id }) =>
      Array.from({ length: MESSAGES * SAMPLES }, (_, i) => ({ deviceId: id, sample: sampleAt(i) })),
    );
    const csv = allRows
      .map(({ deviceId, sample: s }) =>
        [
          deviceId,
          s.time,
          s.cpuPercent,
          s.memUsedBytes,
          s.memTotalBytes,
          s.diskUsedBytes,
          s.diskTotalBytes,
          s.temperatureC,
          s.uptimeSeconds,
        ].join(','),
      )
      .join('\n');
    const csvFile = join(dir, 'telemetry.csv');
    await writeFile(csvFile, `${csv}\n`);

    // 2. Reference: COPY into a table with the same columns and indexes.
    await sql.query('CREATE TABLE telemetry_copy (LIKE telemetry INCLUDING ALL)');
    // Its CPU too, to compare per row with the hub's: psql's from /usr/bin/time, the backend's
    // from its own /proc/self/stat read at the end of the same session (utime, stime in ticks).
    const copyStart = performance.now();
    const copyRun = await run('/usr/bin/time', [
      '-f',
      'psql-cpu %U %S',
      'psql',
      dbUrl,
      '-v',
      'ON_ERROR_STOP=1',
      '-At',
      '-c',
      `\\copy telemetry_copy (device_id, at, cpu_percent, mem_used_bytes, mem_total_bytes, disk_used_bytes, disk_total_bytes, temperature_c, uptime_seconds) FROM '${csvFile}' WITH (FORMAT csv)`,
      '-c',
      "SELECT pg_read_file('/proc/self/stat')",
    ]);
    const copySeconds = (performance.now() - copyStart) / 1000;
    const statFields = (copyRun.stdout.split(') ').at(-1) ?? '').trim().split(/\s+/);
    const ticks = Number((await run('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
    const psqlCpu = /psql-cpu ([\d.]+) ([\d.]+)/.exec(copyRun.stderr);
    const copyCpu = {
      backendCpuSeconds: (Number(statFields[11]) + Number(statFields[12])) / ticks,
      psqlCpuSeconds: psqlCpu ? Number(psqlCpu[1]) + Number(psqlCpu[2]) : NaN,
    };
    const { rows: copied } = await sql.query<{ n: string }>('SELECT count(*) AS n FROM telemetry_copy');
    if (Number(copied[0]?.n) !== ROWS) throw new Error(`COPY wrote ${copied[0]?.n} rows, expected ${ROWS}`);

    // 3. The hub's batch writes alone (COPY FROM STDIN, same batch size as ingest), no MQTT.
    await sql.query('TRUNCATE telemetry');
    const batchSize = OPTIONS.telemetry.maxBatch;
    const insertStart = performance.now();
    for (let i = 0; i < allRows.length; i += batchSize) {
      await telemetry.ingestBatch(
        allRows.slice(i, i + batchSize).map((r) => ({ deviceId: r.deviceId, samples: [r.sample] })),
      );
    }
    const insertSeconds = (performance.now() - insertStart) / 1000;
    await sql.end();

    const result = {
      date: new Date().toISOString(),
      devices: DEVICES,
      messagesPerDevice: MESSAGES,
      samplesPerMessage: SAMPLES,
      rows: ROWS,
      publishers: PUBLISHERS,
      hubIngest: {
        seconds: ingestSeconds,
        rowsPerSecond: ROWS / ingestSeconds,
        publishSeconds: (publishedAll - start) / 1000,
        /** When the hub had received every message (the rest is the last batches' writes). */
        receiveSeconds: ((receivedAll ?? performance.now()) - start) / 1000,
        publishToRowMs: {
          p50: percentile(latencies, 50),
          p99: percentile(latencies, 99),
          max: latencies.at(-1) ?? NaN,
        },
        rowsDropped: dropped,
        rowsWritten: batches,
        telemetryBatch: {
          maxBatch: OPTIONS.telemetry.maxBatch,
          writers: OPTIONS.telemetry.writers,
          /** The hub's telemetry queue in this run (the hub's default is 100k samples). */
          capacity: OPTIONS.telemetry.capacity,
        },
        /** CPU of each process while ingesting (% of one core; the machine has 2) and the hub's peak RSS. */
        processes,
      },
      hubBatchWritesOnly: {
        seconds: insertSeconds,
        rowsPerSecond: ROWS / insertSeconds,
        batchSize,
        method: 'TelemetryRepository.insertBatch: COPY FROM STDIN per batch',
      },
      postgresCopy: {
        seconds: copySeconds,
        rowsPerSecond: ROWS / copySeconds,
        note: 'psql \\copy from a CSV file, process start included',
        ...copyCpu,
      },
      /** CPU per row (µs): the hub's path against COPY's. */
      cpuMicrosecondsPerRow: {
        hub: (processes.cpu.hub!.cpuSeconds * 1e6) / ROWS,
        hubPostgresBackends: (processes.cpu.postgres!.cpuSeconds * 1e6) / ROWS,
        mosquitto: (processes.cpu.mosquitto!.cpuSeconds * 1e6) / ROWS,
        publishers: (processes.cpu.publishers!.cpuSeconds * 1e6) / ROWS,
        copyBackend: (copyCpu.backendCpuSeconds * 1e6) / ROWS,
        copyPsql: (copyCpu.psqlCpuSeconds * 1e6) / ROWS,
      },
      ratio: {
        hubIngestVsCopy: copySeconds / ingestSeconds,
        hubBatchWritesVsCopy: copySeconds / insertSeconds,
      },
      goal: 'hubIngestVsCopy >= 0.5 (issue 5)',
      /** 1/5/15-minute load when the run ended: other work on the same 2 cores skews every number. */
      loadAverage: loadavg(),
      setup:
        'devices: MQTT 5 QoS 1 publishers in a separate process (raw sockets, or mqtt.js clients with FLEET_BENCH_PUBLISHERS=mqttjs); hub ingest with a real TelemetryService; Mosquitto 2.0 + dynsec, set_tcp_nodelay, max_queued_messages 100000, max_inflight_messages 1000; the hub telemetry queue holds the whole run (telemetryBatch.capacity); local Postgres 15; 2 cores shared with other work',
    };
    console.log(JSON.stringify(result, null, 2));
    await mkdir(join(RESULTS, '..'), { recursive: true });
    await writeFile(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    publishers?.kill();
    await connection?.close().catch(() => undefined);
    await prisma?.$disconnect().catch(() => undefined);
    await pgPool?.onModuleDestroy().catch(() => undefined);
    await mosquitto.stop();
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
