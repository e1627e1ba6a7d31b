import { ENVELOPE_VERSION, MAX_PAYLOAD_BYTES, type Envelope, type MessageBody } from '@fleet/protocol';

// A fast path for the one message kind that arrives by the thousand (issue 5): protocol's
// decodeMessage spends most of its ~32 µs per 10-sample message in zod. This accepts only
// telemetry it can prove valid with plain checks, each a subset of protocol's rules, and returns
// `undefined` for anything else: the caller then runs decodeMessage, which decides and words the
// error. So a message is never refused here, and what is accepted here decodeMessage accepts with
// the same value (property test: telemetry-fast-decode.test.ts). Unknown keys, which zod would
// strip, are not handled here either: such a message takes the slow path.

type TelemetryEnvelope = Envelope<'telemetry', MessageBody<'telemetry'>>;

// Lower-case, version 1-8 UUIDs (what randomUUID gives): a subset of zod's z.uuid().
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
// Date.toISOString's own form (years 0000-9999, UTC, milliseconds), its fields checked below
// against the calendar without building a Date (which cost more than the rest of the check):
// what passes is inside zod's z.iso.datetime({ offset: true }).
const ISO = /^(\d{4})-(\d\d)-(\d\d)T([01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;
const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const ENVELOPE_KEYS = 5; // v, kind, id, time, body (a strict object)
const REQUIRED = ['cpuPercent', 'memUsedBytes', 'memTotalBytes', 'diskUsedBytes', 'diskTotalBytes'];

function isTime(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const m = ISO.exec(value);
  if (m === null) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : DAYS[month]!);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isBytes = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
const inRange = (v: unknown, min: number, max: number): boolean =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;

function isSample(s: unknown): boolean {
  if (!isRecord(s)) return false;
  let known = 0;
  for (const key in s) {
    if (!Object.hasOwn(s, key)) return false;
    const v = s[key];
    switch (key) {
      case 'time':
        if (!isTime(v)) return false;
        break;
      case 'cpuPercent':
        if (!inRange(v, 0, 100 * 1024)) return false;
        break;
      case 'memUsedBytes':
      case 'memTotalBytes':
      case 'diskUsedBytes':
      case 'diskTotalBytes':
        if (!isBytes(v)) return false;
        break;
      case 'temperatureC':
        if (!inRange(v, -273.15, 1000)) return false;
        break;
      case 'load1':
      case 'uptimeSeconds':
        if (!inRange(v, 0, Infinity)) return false;
        break;
      default:
        return false; // zod would strip it: leave that to the slow path
    }
    known++;
  }
  if (!('time' in s)) return false;
  for (const key of REQUIRED) if (!(key in s)) return false;
  return known === Object.keys(s).length;
}

/**
 * The decoded telemetry envelope when `payload` is certainly valid telemetry in the common form,
 * otherwise `undefined` (decide with protocol's decodeMessage). Never throws.
 */
export function decodeTelemetryFast(payload: Buffer): TelemetryEnvelope | undefined {
  if (payload.byteLength > MAX_PAYLOAD_BYTES) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(json) || Object.keys(json).length !== ENVELOPE_KEYS) return undefined;
  const { v, kind, id, time, body } = json;
  if (v !== ENVELOPE_VERSION || kind !== 'telemetry') return undefined;
  if (typeof id !== 'string' || !UUID.test(id) || !isTime(time)) return undefined;
  if (!isRecord(body) || Object.keys(body).length !== 1) return undefined;
  const samples = body.samples;
  if (!Array.isArray(samples) || samples.length < 1 || samples.length > 1_000) return undefined;
  for (const s of samples) if (!isSample(s)) return undefined;
  return json as unknown as TelemetryEnvelope;
}
