import { describe, expect, it } from 'vitest';
import { aRelease, hexDigest } from '../testing/builders.js';
import { decodeMessage, encodeMessage, MAX_PAYLOAD_BYTES } from './messages.js';

const report = {
  revision: { digest: hexDigest('1'), version: '1.0.0', sequence: 3 },
  updateState: 'idle',
  board: 'qemu-aarch64',
  agentVersion: '0.1.0',
  containers: [{ name: 'web', state: 'running', restarts: 0 }],
  inventory: { objects: [hexDigest('2')], freeBytes: 10, totalBytes: 100 },
} as const;

describe('envelope', () => {
  it('round-trips every kind through encode and decode', () => {
    const samples = {
      presence: { state: 'online', agentVersion: '0.1.0' },
      report,
      progress: {
        updateId: 'u1',
        revision: report.revision,
        state: 'downloading',
        status: 'downloading',
        percent: 12.5,
        bytesDone: 1,
        bytesTotal: 8,
      },
      telemetry: {
        samples: [
          {
            time: '2026-11-30T12:00:00.000Z',
            cpuPercent: 3,
            memUsedBytes: 1,
            memTotalBytes: 2,
            diskUsedBytes: 3,
            diskTotalBytes: 4,
          },
        ],
      },
      logs: { lines: [{ time: '2026-11-30T12:00:00Z', source: 'web', stream: 'stdout', text: 'hello' }] },
      ack: { commandId: 'c1', status: 'done' },
      target: { updateId: 'u1', release: aRelease(), objectBaseUrl: 'http://127.0.0.1:8080/api/v1/objects' },
      command: { commandId: 'c1', name: 'restart-container', container: 'web' },
    } as const;
    for (const [kind, body] of Object.entries(samples)) {
      const enc = encodeMessage(kind as keyof typeof samples, body as never);
      if (!enc.ok) throw enc.error;
      const dec = decodeMessage(kind as keyof typeof samples, enc.value.payload);
      if (!dec.ok) throw dec.error;
      expect(dec.value).toEqual(enc.value.envelope);
      expect(Object.keys(JSON.parse(enc.value.payload.toString()) as object).sort()).toEqual([
        'body',
        'id',
        'kind',
        'time',
        'v',
      ]);
    }
  });

  it('fills body defaults on the sending side', () => {
    const enc = encodeMessage('target', { updateId: 'u', release: aRelease(), objectBaseUrl: 'http://h/o' });
    expect(enc.ok && enc.value.envelope.body).toMatchObject({
      strategy: 'stop-start',
      force: false,
      config: {},
    });
  });

  it('refuses to encode a bad body', () => {
    const enc = encodeMessage('ack', { commandId: '', status: 'done' });
    expect(enc.ok).toBe(false);
    if (!enc.ok) expect(enc.error.issues[0]?.path).toBe('$.commandId');
  });

  it('keeps fields a newer sender added to a body out, without refusing it', () => {
    const enc = encodeMessage('presence', { state: 'online' });
    if (!enc.ok) throw enc.error;
    const env = JSON.parse(enc.value.payload.toString()) as { body: Record<string, unknown> };
    env.body.batteryPercent = 80;
    const dec = decodeMessage('presence', JSON.stringify(env));
    expect(dec.ok && dec.value.body).toEqual({ state: 'online' });
  });

  const good = (): Record<string, unknown> => {
    const enc = encodeMessage('ack', { commandId: 'c', status: 'done' });
    if (!enc.ok) throw enc.error;
    return JSON.parse(enc.value.payload.toString()) as Record<string, unknown>;
  };

  it.each([
    ['not JSON', () => '{', '$', /not JSON/],
    ['an array', () => '[]', '$', /./],
    ['a top-level data key', () => JSON.stringify({ ...good(), data: {} }), '$', /data/],
    ['a top-level pattern key', () => JSON.stringify({ ...good(), pattern: 'x' }), '$', /pattern/],
    ['version 2', () => JSON.stringify({ ...good(), v: 2 }), '$.v', /./],
    ['a non-uuid id', () => JSON.stringify({ ...good(), id: '42' }), '$.id', /./],
    ['a time without zone', () => JSON.stringify({ ...good(), time: '2026-11-30T12:00:00' }), '$.time', /./],
    [
      'the kind of another topic',
      () => JSON.stringify({ ...good(), kind: 'report' }),
      '$.kind',
      /on a ack topic/,
    ],
    [
      'a bad body',
      () => JSON.stringify({ ...good(), body: { commandId: 'c', status: 'maybe' } }),
      '$.body.status',
      /./,
    ],
    ['an oversized payload', () => 'x'.repeat(MAX_PAYLOAD_BYTES + 1), '$', /exceeds/],
  ])('refuses %s, naming the path', (_n, payload, path, message) => {
    const r = decodeMessage('ack', payload());
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.error.issues.find((i) => i.path.startsWith(path));
    expect(issue, JSON.stringify(r.error.issues)).toBeDefined();
    expect(`${issue?.path} ${issue?.message}`).toMatch(message);
    expect(r.error.subject).toBe('mqtt:ack');
  });

  it.each([
    [
      'negative percent',
      { updateId: 'u', revision: report.revision, state: 'installing', status: 'installing', percent: -1 },
    ],
    [
      'unknown reason code',
      {
        updateId: 'u',
        revision: report.revision,
        state: 'idle',
        status: 'failed',
        percent: 100,
        reason: 'bad-luck',
      },
    ],
    [
      'unknown state',
      { updateId: 'u', revision: report.revision, state: 'flashing', status: 'installing', percent: 1 },
    ],
  ])('refuses a progress body with %s', (_n, body) => {
    expect(encodeMessage('progress', body as never).ok).toBe(false);
  });
});
