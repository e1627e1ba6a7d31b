// State ingest benchmark (issue 9, decision 0035): how fast the hub stores device presence and
// reports, without MQTT (the 10k-device run in scale.bench.ts has the broker in the way).
// N devices each send an online presence and a report with two containers:
//   batched    IngestService.handle → pending map → batch writers → DevicesService.recordPresences
//              /recordReports (set-based statements), as the hub runs now
//   reference  the former path on other, identical devices in the same run: the former
//              statements (ingest-state-former.ts: one statement per presence, one interactive
//              transaction per report, a Prisma upsert per container), 8 messages at once, a
//              device's two in order (decision 0034's admission)
// Each phase reports messages/s and the CPU of this process and of the database's backends.
//
//   node --conditions=fleet-source --import tsx hub/bench/ingest-state.bench.ts [devices]
//   FLEET_STATE_WRITERS / FLEET_STATE_MAX_BATCH override the ingest defaults (to size them).
//
// Writes bench/results/ingest-state.json. Not a test: nothing asserts on time.
import 'reflect-metadata';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { deviceTopics, encodeMessage, type Presence, type Report } from '@fleet/protocol';
import type { AuditService } from '../src/audit/audit.service.js';
import { HubConfig } from '../src/config/hub-config.js';
import { runMigrations } from '../src/database/migration-runner.js';
import { PrismaService } from '../src/database/prisma.service.js';
import type { BrokerAuthority } from '../src/devices/broker-authority.js';
import type { CommandPublisher } from '../src/devices/command-publisher.js';
import { DeviceRepository } from '../src/devices/device.repository.js';
import { DevicesService } from '../src/devices/device.service.js';
import { EventBus } from '../src/events/event-bus.js';
import { IngestMetrics } from '../src/ingest/ingest-metrics.js';
import { DEFAULT_INGEST_OPTIONS, IngestService } from '../src/ingest/ingest.service.js';
import { ServicesIngestSink } from '../src/ingest/services-ingest-sink.js';
import { MetricsRegistry } from '../src/metrics/metrics.registry.js';
import { formerRecordPresence, formerRecordReport } from './ingest-state-former.js';
import { PhaseMeter, round } from './scale-proc.js';

const DEVICES = Number(process.argv[2]) || 5_000;
const ADMIN_URL = process.env.FLEET_BENCH_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const RESULTS = fileURLToPath(new URL('../../bench/results/ingest-state.json', import.meta.url));
const OPTIONS = {
  ...DEFAULT_INGEST_OPTIONS,
  state: {
    ...DEFAULT_INGEST_OPTIONS.state,
    writers: Number(process.env.FLEET_STATE_WRITERS) || DEFAULT_INGEST_OPTIONS.state.writers,
    maxBatch: Number(process.env.FLEET_STATE_MAX_BATCH) || DEFAULT_INGEST_OPTIONS.state.maxBatch,
  },
};
const quiet = {
  log: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};
const notInBench = async (): Promise<never> => {
  throw new Error('only presence and reports are sent in this benchmark');
};

const report = (i: number): Report => ({
  revision: { digest: `sha256:${'a'.repeat(64)}`, version: '1.0.0', sequence: 1 },
  updateState: 'idle',
  board: 'qemu-aarch64',
  agentVersion: '1.0.0',
  containers: [
    { name: 'web', state: 'running', restarts: i % 3 },
    { name: 'db', state: 'running', restarts: 0 },
  ],
  inventory: { objects: [], freeBytes: 1000, totalBytes: 2000 },
  failedRevisions: [],
});
const presence: Presence = { state: 'online', agentVersion: '1.0.0', bootId: 'boot-1' };

async function main(): Promise<void> {
  const dbName = `bench_state_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = Object.assign(new URL(ADMIN_URL), { pathname: `/${dbName}` }).toString();
  let prisma: PrismaService | undefined;
  const sql = new pg.Pool({ connectionString: dbUrl, max: 1 });
  try {
    await runMigrations(dbUrl);
    const fleetId = randomUUID();
    await sql.query(`INSERT INTO fleets (id, name) VALUES ($1, 'bench')`, [fleetId]);
    const batched = Array.from({ length: DEVICES }, () => randomUUID());
    const reference = Array.from({ length: DEVICES }, () => randomUUID());
    await sql.query(
      `INSERT INTO devices (id, fleet_id, name, hardware_id, public_key, board, agent_version, tags, credentials_hash)
       SELECT id, $1, 'bench-' || id, 'hw-' || id, 'none', 'qemu-aarch64', '0.1.0', '{}', '' FROM unnest($2::uuid[]) AS x(id)`,
      [fleetId, [...batched, ...reference]],
    );
    await sql.query('ANALYZE devices');

    const config = HubConfig.parse({ databaseUrl: dbUrl, dataDir: '/nonexistent' });
    prisma = new PrismaService(config);
    await prisma.$queryRaw`SELECT 1`;
    const registry = new MetricsRegistry();
    const devices = new DevicesService(
      new DeviceRepository(prisma),
      {} as AuditService, // not used by the ingest paths
      new EventBus(),
      {} as BrokerAuthority,
      {} as CommandPublisher,
      registry,
    );
    const sink = new ServicesIngestSink(
      devices,
      { recordProgress: notInBench },
      { ingestBatch: notInBench },
      { ingestBatch: notInBench },
    );
    const ingest = new IngestService(sink, new IngestMetrics(registry), quiet, OPTIONS);

    const meter = () =>
      new PhaseMeter({
        hub: () => [process.pid],
        postgres: async () =>
          (
            await sql.query<{ pid: number }>(
              'SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
              [dbName],
            )
          ).rows.map((r) => r.pid),
      });

    // Payloads encoded before timing (the devices' work).
    const payloads = batched.map((id, i) => {
      const p = encodeMessage('presence', presence);
      const r = encodeMessage('report', report(i));
      if (!p.ok || !r.ok) throw new Error('encoding failed');
      return { topics: deviceTopics(id), presence: p.value.payload, report: r.value.payload };
    });

    // 1. Batched: what the hub's MQTT listener does per message, then wait until stored.
    const m1 = meter();
    await m1.start();
    for (const p of payloads) {
      await ingest.handle(p.topics.presence, p.presence, { retained: false });
      await ingest.handle(p.topics.report, p.report, { retained: false });
    }
    await ingest.drain();
    const batchedPhase = await m1.stop();

    // 2. Reference: one transaction per message, 8 at once, each device's two in order.
    const m2 = meter();
    await m2.start();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = next++; i < reference.length; i = next++) {
          const id = reference[i]!;
          const now = new Date();
          await formerRecordPresence(prisma!, id, presence, now, now);
          await formerRecordReport(prisma!, id, report(i), new Date(), now);
        }
      }),
    );
    const referencePhase = await m2.stop();
    await ingest.close();

    const { rows } = await sql.query<{ n: string; history: string }>(
      `SELECT (SELECT count(*) FROM devices WHERE report_sent_at IS NOT NULL AND online) AS n,
              (SELECT count(*) FROM device_container_events) AS history`,
    );
    const stored = Number(rows[0]?.n);
    if (stored !== 2 * DEVICES) throw new Error(`${stored} devices stored, expected ${2 * DEVICES}`);
    const messages = 2 * DEVICES;
    const result = {
      date: new Date().toISOString(),
      devices: DEVICES,
      messagesPerPhase: messages,
      containerHistoryRows: Number(rows[0]?.history),
      batched: { ...batchedPhase, messagesPerSecond: round(messages / batchedPhase.seconds) },
      reference: {
        ...referencePhase,
        messagesPerSecond: round(messages / referencePhase.seconds),
        method:
          'the former statements (one per presence, one interactive transaction per report), 8 in flight, no events',
      },
      ratio: { batchedVsOnePerMessage: round(referencePhase.seconds / batchedPhase.seconds) },
      settings: OPTIONS.state,
      loadAverage: loadavg(),
    };
    console.log(JSON.stringify(result, null, 2));
    await mkdir(dirname(RESULTS), { recursive: true });
    await writeFile(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await prisma?.$disconnect().catch(() => undefined);
    await sql.end();
    // Prisma's driver adapter closes its pool's sockets after $disconnect resolves: a forced
    // drop before that kills them, and pg throws the error on a client nobody listens to.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.end();
  }
}

await main();
