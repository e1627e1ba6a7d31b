import { describe, expect, test } from 'vitest';
import type { TelemetrySample } from '@fleet/protocol';
import type { TelemetryRow } from './ingest-sink.js';
import { ServicesIngestSink, type TelemetryIngestPort } from './services-ingest-sink.js';

const unused = () => Promise.reject(new Error('not used in this test'));
const sinkOn = (telemetry: TelemetryIngestPort) =>
  new ServicesIngestSink(
    { recordPresence: unused, recordReport: unused, recordCommandAck: unused },
    { recordProgress: unused },
    telemetry,
    { ingestBatch: unused },
  );
const sample = (s: number): TelemetrySample => ({
  time: new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString(),
  cpuPercent: 1,
  memUsedBytes: 2,
  memTotalBytes: 3,
  diskUsedBytes: 4,
  diskTotalBytes: 5,
});
const rows: TelemetryRow[] = [
  { deviceId: 'a', ...sample(0) },
  { deviceId: 'a', ...sample(1) },
  { deviceId: 'b', ...sample(0) },
];

describe('ServicesIngestSink telemetry', () => {
  test('hands the queued rows as they are to a service that takes rows', async () => {
    const got: (readonly TelemetryRow[])[] = [];
    await sinkOn({
      ingestBatch: unused,
      ingestRows: (r) => Promise.resolve(void got.push(r)),
    }).insertTelemetry(rows);
    expect(got).toEqual([rows]);
  });

  test('falls back to one-sample items for a service with ingestBatch only', async () => {
    const got: unknown[] = [];
    await sinkOn({ ingestBatch: (b) => Promise.resolve(void got.push(b)) }).insertTelemetry(rows);
    expect(got).toEqual([
      [
        { deviceId: 'a', samples: [sample(0)] },
        { deviceId: 'a', samples: [sample(1)] },
        { deviceId: 'b', samples: [sample(0)] },
      ],
    ]);
  });
});
