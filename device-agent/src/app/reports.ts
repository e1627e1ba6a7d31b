// The device report (protocol Report): what the hub shows for a device. Sent every
// `intervals.reportMs` and whenever something in it changes (update state, committed
// revision, container states, boot slot).
import { statfs } from 'node:fs/promises';
import type { Report } from '@fleet/protocol';
import type { ObjectStore } from '../store/object-store.js';
import type { Ledger } from '../update/ledger.js';
import type { BootPort } from '../update/ports.js';
import { Containers, type ContainerInfo } from './containers.js';

export interface ReportSources {
  readonly board: string;
  readonly agentVersion: string;
  readonly storageDir: string;
  readonly ledger: Ledger;
  readonly objects: ObjectStore;
  readonly containers: Containers;
  readonly boot?: BootPort;
  readonly updateState: () => Report['updateState'];
  readonly restartsOf: (instance: string) => { restarts: number; crashLoop: boolean };
}

const DIGEST = /^sha256:[0-9a-f]{64}/;

export async function buildReport(s: ReportSources, containers?: readonly ContainerInfo[]): Promise<Report> {
  const current = await s.ledger.current();
  const failed = [...(await s.ledger.failed())]
    .map((k) => DIGEST.exec(k)?.[0])
    .filter((d): d is string => d !== undefined);
  const fs = await statfs(s.storageDir);
  const slot = s.boot ? await s.boot.activeSlot().catch(() => undefined) : undefined;
  const list = containers ?? (await s.containers.withHealth());
  return {
    revision: current
      ? {
          digest: current.committed.releaseDigest,
          version: current.committed.version,
          sequence: current.committed.sequence,
        }
      : null,
    updateState: s.updateState(),
    ...(slot ? { bootSlot: slot === 'A' ? 'a' : 'b' } : {}),
    board: s.board,
    agentVersion: s.agentVersion,
    ...(current ? { configVersion: current.committed.configVersion } : {}),
    containers: Containers.wire(list, s.restartsOf).slice(0, 256),
    inventory: {
      objects: (await s.objects.list()).slice(0, 10_000),
      freeBytes: fs.bavail * fs.bsize,
      totalBytes: fs.blocks * fs.bsize,
    },
    failedRevisions: [...new Set(failed)].slice(-1000),
  };
}

/** What counts as a change worth an immediate report (health is sampled only at report time). */
export function changeKey(
  updateState: string,
  committed: string | null,
  slot: string | undefined,
  list: readonly ContainerInfo[],
): string {
  return JSON.stringify([
    updateState,
    committed,
    slot,
    list.map((c) => [c.name, c.instance, c.state, c.exitCode]),
  ]);
}
