import type { CommandAck, Presence, Progress, Report } from '@fleet/protocol';
import type { MessageMeta } from './ingest-sink.js';

/** One pending state message of a device (StateBatcher's item). */
export type StateOp =
  | { kind: 'presence'; body: Presence; meta: MessageMeta }
  | { kind: 'report'; body: Report; meta: MessageMeta }
  | { kind: 'progress'; body: Progress; meta: MessageMeta }
  | { kind: 'ack'; body: CommandAck; meta: MessageMeta };

/**
 * The envelope time that orders a device's reports, as DevicesService stores it: the device's
 * clock capped at arrival (decision 0033).
 */
export function reportOrder(meta: MessageMeta): number {
  return Math.min(meta.sentAt.getTime(), meta.receivedAt.getTime());
}

/** Container states that decide the history a report writes (name, state, restarts). */
function containerKey(report: Report): string {
  return JSON.stringify(report.containers.map((c) => [c.name, c.state, c.restarts]));
}

/**
 * Whether `newer` may replace `older` (both pending, same device, `newer` arrived later), and
 * with what. Undefined: keep both (written one after the other).
 *
 * - Presence is state, ordered by arrival: a later presence of the same origin (live/live or
 *   retained/retained) replaces the earlier one; it keeps the earlier boot id and agent
 *   version when it has none (a Last Will may carry less), so a reboot still clears the
 *   report mark. A live and a retained one are not merged (they are dated differently).
 * - A report replaces the earlier one when its container states are the same: applying both
 *   would write the same container history, so nothing is lost. A report whose order
 *   (envelope time, capped at arrival) is older than the pending one would be skipped by the
 *   database anyway: it is dropped here and the pending one stays. Reports whose containers
 *   changed are both kept: each writes its history rows and its `device.report` event.
 * - Progress and acks are events: never merged.
 */
export function mergeState(older: StateOp, newer: StateOp): StateOp | undefined {
  if (older.kind === 'presence' && newer.kind === 'presence') {
    if (older.meta.retained !== newer.meta.retained) return undefined;
    const bootId = newer.body.bootId ?? older.body.bootId;
    const agentVersion = newer.body.agentVersion ?? older.body.agentVersion;
    return {
      kind: 'presence',
      meta: newer.meta,
      body: {
        ...newer.body,
        ...(bootId !== undefined ? { bootId } : {}),
        ...(agentVersion !== undefined ? { agentVersion } : {}),
      },
    };
  }
  if (older.kind === 'report' && newer.kind === 'report') {
    if (reportOrder(newer.meta) < reportOrder(older.meta)) return older;
    return containerKey(older.body) === containerKey(newer.body) ? newer : undefined;
  }
  return undefined;
}
