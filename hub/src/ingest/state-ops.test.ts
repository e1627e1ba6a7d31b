import { describe, expect, test } from 'vitest';
import type { Report } from '@fleet/protocol';
import type { MessageMeta } from './ingest-sink.js';
import { mergeState, reportOrder, type StateOp } from './state-ops.js';

const T = Date.UTC(2026, 10, 30, 12);
const meta = (sentSeconds: number, receivedSeconds = sentSeconds, retained = false): MessageMeta => ({
  messageId: `m${sentSeconds}`,
  sentAt: new Date(T + sentSeconds * 1000),
  receivedAt: new Date(T + receivedSeconds * 1000),
  retained,
  seenAt: new Date(T + receivedSeconds * 1000),
});
const aReport = (over: Partial<Report> = {}): Report => ({
  revision: null,
  updateState: 'idle',
  board: 'qemu-aarch64',
  agentVersion: '1.0.0',
  containers: [{ name: 'web', state: 'running', restarts: 0 }],
  inventory: { objects: [], freeBytes: 1, totalBytes: 2 },
  failedRevisions: [],
  ...over,
});
const report = (m: MessageMeta, over: Partial<Report> = {}): StateOp => ({
  kind: 'report',
  body: aReport(over),
  meta: m,
});

describe('mergeState', () => {
  test('a later live presence replaces the earlier one and keeps its boot id and agent version when it has none', () => {
    const online: StateOp = {
      kind: 'presence',
      body: { state: 'online', bootId: 'b2', agentVersion: '1.2.0' },
      meta: meta(1),
    };
    const will: StateOp = { kind: 'presence', body: { state: 'offline' }, meta: meta(0, 2) };
    expect(mergeState(online, will)).toEqual({
      kind: 'presence',
      body: { state: 'offline', bootId: 'b2', agentVersion: '1.2.0' },
      meta: will.meta,
    });
  });

  test('a retained and a live presence are not merged (they are dated differently)', () => {
    const retained: StateOp = { kind: 'presence', body: { state: 'offline' }, meta: meta(0, 1, true) };
    const live: StateOp = { kind: 'presence', body: { state: 'online' }, meta: meta(2) };
    expect(mergeState(retained, live)).toBeUndefined();
  });

  test('a report with the same container states replaces the earlier one (same history either way)', () => {
    const older = report(meta(1), { updateState: 'downloading' });
    const newer = report(meta(2), { updateState: 'idle' });
    expect(mergeState(older, newer)).toBe(newer);
  });

  test('reports whose container states differ are both kept (each writes its history)', () => {
    const older = report(meta(1));
    expect(mergeState(older, report(meta(2), { containers: [] }))).toBeUndefined();
    expect(
      mergeState(older, report(meta(2), { containers: [{ name: 'web', state: 'running', restarts: 1 }] })),
    ).toBeUndefined();
  });

  test('a report older than the pending one (by envelope time capped at arrival) is dropped: the database would skip it', () => {
    const newer = report(meta(5));
    const late = report(meta(3, 6), { containers: [] });
    expect(mergeState(newer, late)).toBe(newer);
    // A clock ahead of the hub orders by arrival instead.
    expect(reportOrder(meta(100, 7))).toBe(T + 7000);
    const ahead = report(meta(100, 7));
    expect(mergeState(newer, ahead)).toBe(ahead);
  });

  test('progress, acks and different kinds are never merged', () => {
    const ack: StateOp = { kind: 'ack', body: { commandId: 'c1', status: 'done' }, meta: meta(1) };
    expect(mergeState(ack, { ...ack, meta: meta(2) })).toBeUndefined();
    expect(
      mergeState(report(meta(1)), { kind: 'presence', body: { state: 'online' }, meta: meta(2) }),
    ).toBeUndefined();
    expect(
      mergeState({ kind: 'presence', body: { state: 'online' }, meta: meta(1) }, report(meta(2))),
    ).toBeUndefined();
  });
});
