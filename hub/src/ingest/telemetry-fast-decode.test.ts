// The fast path must never change what ingest accepts: whenever it answers, decodeMessage
// accepts the same payload with an equal value; when it does not answer, ingest asks
// decodeMessage. Checked on valid messages and on many mutations of them (seeded, repeatable).
import { randomUUID } from 'node:crypto';
import { decodeMessage, encodeMessage } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import { decodeTelemetryFast } from './telemetry-fast-decode.js';

/** mulberry32: a small seeded generator so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const INTERESTING: unknown[] = [
  0,
  -0,
  1,
  -1,
  0.5,
  -0.5,
  100,
  102_400,
  102_400.5,
  1000,
  1000.01,
  -273.15,
  -273.16,
  1e308,
  Infinity, // JSON text 1e400 is tested below: stringify writes null
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 1,
  2 ** 60,
  '',
  'x',
  '1',
  null,
  true,
  false,
  [],
  {},
  [1],
  { a: 1 },
  '2026-01-01T00:00:00.000Z',
  '2026-02-29T00:00:00.000Z',
  '2024-02-29T00:00:00.000Z',
  '2000-02-29T00:00:00.000Z',
  '2100-02-29T00:00:00.000Z',
  '2026-04-31T00:00:00.000Z',
  '2026-00-10T00:00:00.000Z',
  '2026-01-00T00:00:00.000Z',
  '2026-12-31T23:59:59.999Z',
  '9999-12-31T23:59:59.999Z',
  '2026-01-01T24:00:00.000Z',
  '2026-01-01T00:00:60.000Z',
  '2026-01-01T00:00:00Z',
  '2026-01-01T00:00:00.000+01:00',
  '2026-13-01T00:00:00.000Z',
  '0000-01-01T00:00:00.000Z',
  '+012026-01-01T00:00:00.000Z',
  '2026-01-01 00:00:00.000Z',
  randomUUID(),
  randomUUID().toUpperCase(),
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '00000000-0000-0000-0000-00000000000g',
  '123e4567-e89b-02d3-a456-426614174000',
  '123e4567-e89b-12d3-c456-426614174000',
  'telemetry',
  'logs',
  2,
  'samples',
  '__proto__',
];
const KEYS = [
  'time',
  'cpuPercent',
  'memUsedBytes',
  'memTotalBytes',
  'diskUsedBytes',
  'diskTotalBytes',
  'temperatureC',
  'load1',
  'uptimeSeconds',
  'v',
  'kind',
  'id',
  'body',
  'samples',
  'extra',
  '__proto__',
  'data',
  'pattern',
];

function validEnvelope(r: () => number): Record<string, unknown> {
  const n = 1 + Math.floor(r() * 4);
  const samples = Array.from({ length: n }, (_, i) => {
    const s: Record<string, unknown> = {
      time: new Date(Date.UTC(2026, 0, 1) + Math.floor(r() * 1e10) + i).toISOString(),
      cpuPercent: Math.round(r() * 10_000) / 100,
      memUsedBytes: Math.floor(r() * 1e9),
      memTotalBytes: 1e9,
      diskUsedBytes: Math.floor(r() * 1e10),
      diskTotalBytes: 1e10,
    };
    if (r() < 0.5) s.temperatureC = Math.round(r() * 1000) / 10 - 20;
    if (r() < 0.5) s.load1 = r() * 4;
    if (r() < 0.5) s.uptimeSeconds = Math.floor(r() * 1e6);
    return s;
  });
  const encoded = encodeMessage('telemetry', { samples } as never);
  if (!encoded.ok) throw encoded.error;
  return JSON.parse(encoded.value.payload.toString('utf8')) as Record<string, unknown>;
}

/** One random change somewhere in the document: a leaf replaced, a key deleted or added. */
function mutate(doc: unknown, r: () => number): unknown {
  const nodes: Array<Record<string, unknown> | unknown[]> = [];
  const walk = (v: unknown) => {
    if (typeof v === 'object' && v !== null) {
      nodes.push(v as Record<string, unknown>);
      for (const c of Object.values(v)) walk(c);
    }
  };
  walk(doc);
  const node = nodes[Math.floor(r() * nodes.length)]!;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  // A copy: the shared samples must not be mutated into a cycle.
  const interesting = () => structuredClone(pick(INTERESTING));
  const op = r();
  if (Array.isArray(node)) {
    if (op < 0.2) node.length = 0;
    else if (op < 0.4) node.push(interesting());
    else if (node.length > 0) node[Math.floor(r() * node.length)] = interesting();
    return doc;
  }
  const keys = Object.keys(node);
  if (op < 0.25 && keys.length > 0) {
    delete node[pick(keys)];
  } else if (op < 0.45) {
    Object.defineProperty(node, pick(KEYS), {
      value: interesting(),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else if (keys.length > 0) {
    node[pick(keys)] = interesting();
  }
  return doc;
}

function check(payload: Buffer): 'fast' | 'slow' {
  const fast = decodeTelemetryFast(payload);
  const slow = decodeMessage('telemetry', payload);
  if (fast === undefined) return 'slow';
  // Whatever the fast path accepts, protocol accepts with the same value.
  expect(slow.ok, payload.toString()).toBe(true);
  if (slow.ok) expect(fast).toStrictEqual(slow.value);
  return 'fast';
}

describe('decodeTelemetryFast', () => {
  it('accepts valid telemetry exactly as decodeMessage decodes it', () => {
    const r = rng(1);
    for (let i = 0; i < 2_000; i++) {
      const payload = Buffer.from(JSON.stringify(validEnvelope(r)));
      expect(check(payload)).toBe('fast');
    }
  });

  it('answers only for payloads decodeMessage accepts (10k mutations, 1-3 changes each)', () => {
    const r = rng(2);
    let fast = 0;
    let rejected = 0;
    for (let i = 0; i < 10_000; i++) {
      let doc: unknown = validEnvelope(r);
      for (let m = 1 + Math.floor(r() * 3); m > 0; m--) doc = mutate(doc, r);
      const payload = Buffer.from(JSON.stringify(doc));
      if (check(payload) === 'fast') fast++;
      if (!decodeMessage('telemetry', payload).ok) rejected++;
    }
    // The mutations must reach both sides, or this test proves nothing.
    expect(fast).toBeGreaterThan(200);
    expect(rejected).toBeGreaterThan(5_000);
  });

  it('leaves malformed and odd payloads to decodeMessage', () => {
    const base = JSON.stringify(validEnvelope(rng(3)));
    const odd = [
      '',
      'not json',
      '[]',
      'null',
      base.slice(0, -1),
      base.replace('"v":1', '"v":1.0e0'), // still 1: may be fast, must then match
      base.replace('"kind":"telemetry"', '"kind":"logs"'),
      base.replace('"samples":', '"extra":0,"samples":'),
      base.replace('"cpuPercent":', '"cpuPercent":1e400,"x":'),
      base.replace(/"id":"[^"]+"/, '"id":"ffffffff-ffff-ffff-ffff-ffffffffffff"'),
      base.replace(/"samples":\[/, '"samples":[' + '{},'.repeat(1)),
      JSON.stringify({
        ...JSON.parse(base),
        body: { samples: Array(1_001).fill(JSON.parse(base).body.samples[0]) },
      }),
    ];
    for (const text of odd) check(Buffer.from(text));
    expect(decodeTelemetryFast(Buffer.from('not json'))).toBeUndefined();
    expect(
      decodeTelemetryFast(Buffer.from(base.replace('"kind":"telemetry"', '"kind":"logs"'))),
    ).toBeUndefined();
  });
});
