// Ingest's own CPU per telemetry message, without MQTT or a database: the same pre-encoded
// payloads through (a) JSON.parse alone, (b) protocol's decodeMessage (JSON + validation), and
// (c) IngestService.handle → batch queue → ServicesIngestSink → a sink that only counts. Tells
// how much of the hub's ingest cost is the hub's own code and how much is validation; the
// end-to-end path (MQTT, COPY) is ingest.bench.ts. CPU time (process.cpuUsage), not wall time:
// on a shared machine wall time mostly measures the other processes.
//
//   node --conditions=fleet-source --import tsx hub/bench/ingest-hotpath.bench.ts [messages] [samples]
//
// Writes bench/results/ingest-hotpath.json. Not a test: nothing asserts on time.
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { decodeMessage, deviceTopics, encodeMessage } from '@fleet/protocol';
import { IngestMetrics } from '../src/ingest/ingest-metrics.js';
import { DEFAULT_INGEST_OPTIONS, IngestService } from '../src/ingest/ingest.service.js';
import { ServicesIngestSink } from '../src/ingest/services-ingest-sink.js';
import { decodeTelemetryFast } from '../src/ingest/telemetry-fast-decode.js';
import { MetricsRegistry } from '../src/metrics/metrics.registry.js';
import { sampleAt } from './ingest-publishers.js';
import { round } from './scale-proc.js';

const [messagesArg, samplesArg] = process.argv.slice(2).map(Number);
const MESSAGES = messagesArg || 10_000;
const SAMPLES = samplesArg || 10;
const DEVICES = 200;
const ROUNDS = 5;
const RESULTS = fileURLToPath(new URL('../../bench/results/ingest-hotpath.json', import.meta.url));

const notInBench = async () => {
  throw new Error('only telemetry is sent in this benchmark');
};
let rows = 0;
const sink = new ServicesIngestSink(
  { recordPresence: notInBench, recordReport: notInBench, recordCommandAck: notInBench },
  { recordProgress: notInBench },
  {
    async ingestBatch(batch) {
      for (const item of batch) rows += item.samples.length;
      return 0;
    },
    // TelemetryService's form, which ServicesIngestSink uses when present.
    async ingestRows(batch) {
      rows += batch.length;
      return 0;
    },
  },
  { ingestBatch: notInBench },
);
const ingest = new IngestService(
  sink,
  new IngestMetrics(new MetricsRegistry()),
  { log: () => undefined, warn: console.warn, error: console.error },
  DEFAULT_INGEST_OPTIONS,
);
const ids = Array.from({ length: DEVICES }, () => randomUUID());

/** Fresh payloads per round: ingest drops an envelope id it has seen. */
function payloads(round: number): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  for (let m = 0; m < MESSAGES; m++) {
    const id = ids[m % DEVICES]!;
    const t0 = Date.UTC(2026, 0, 1) + round * 1e9;
    const e = encodeMessage('telemetry', {
      samples: Array.from({ length: SAMPLES }, (_, k) => sampleAt(t0, m * SAMPLES + k)),
    });
    if (!e.ok) throw e.error;
    out.push([deviceTopics(id).telemetry, e.value.payload]);
  }
  return out;
}

async function cpuMicros(fn: () => Promise<void> | void): Promise<number> {
  const c0 = process.cpuUsage();
  await fn();
  const c = process.cpuUsage(c0);
  return c.user + c.system;
}

const variants = {
  jsonParse: (msgs: [string, Buffer][]) => {
    for (const [, p] of msgs) JSON.parse(p.toString('utf8'));
  },
  decodeMessage: (msgs: [string, Buffer][]) => {
    for (const [, p] of msgs) if (!decodeMessage('telemetry', p).ok) throw new Error('invalid');
  },
  // The hub's telemetry fast path (hub/src/ingest/telemetry-fast-decode.ts), falling back to
  // decodeMessage as ingest does.
  fastDecode: (msgs: [string, Buffer][]) => {
    for (const [, p] of msgs)
      if (decodeTelemetryFast(p) === undefined && !decodeMessage('telemetry', p).ok)
        throw new Error('invalid');
  },
  ingestHandle: async (msgs: [string, Buffer][]) => {
    // As the MQTT client does: wait only when handle returns a promise.
    for (const [topic, p] of msgs) {
      const held = ingest.handle(topic, p, { retained: false });
      if (held !== undefined) await held;
    }
    await ingest.drain();
  },
};
const perMessage: Record<string, number[]> = {
  jsonParse: [],
  decodeMessage: [],
  fastDecode: [],
  ingestHandle: [],
};
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of Object.entries(variants)) {
    const msgs = payloads(r * 4 + Object.keys(variants).indexOf(name));
    perMessage[name]!.push((await cpuMicros(() => fn(msgs))) / MESSAGES);
  }
}
if (rows !== ROUNDS * MESSAGES * SAMPLES) throw new Error(`sink got ${rows} rows`);
// The first round warms the JIT; the median of the rest is reported.
const median = (xs: number[]) => xs.slice(1).sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const result = {
  date: new Date().toISOString(),
  messages: MESSAGES,
  samplesPerMessage: SAMPLES,
  cpuMicrosecondsPerMessage: {
    jsonParse: round(median(perMessage.jsonParse!), 1),
    decodeMessage: round(median(perMessage.decodeMessage!), 1),
    fastDecode: round(median(perMessage.fastDecode!), 1),
    ingestHandle: round(median(perMessage.ingestHandle!), 1),
  },
  ratio: {
    ingestHandleVsDecode: round(median(perMessage.ingestHandle!) / median(perMessage.decodeMessage!)),
    fastDecodeVsDecode: round(median(perMessage.fastDecode!) / median(perMessage.decodeMessage!)),
  },
  rounds: perMessage,
  loadAverage: loadavg(),
};
console.log(JSON.stringify(result, null, 2));
await mkdir(fileURLToPath(new URL('.', new URL('../../bench/results/', import.meta.url))), {
  recursive: true,
});
await writeFile(RESULTS, `${JSON.stringify(result, null, 2)}\n`);
