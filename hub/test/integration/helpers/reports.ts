// A device report as the hub's device-state tests store it: one running `web` container on
// revision `version`, changed by `over`.
import type { Report } from '@fleet/protocol';

/** A well-formed sha256 digest made of one repeated hex character. */
export const digest = (c: string): string => `sha256:${c.repeat(64)}`;

export function aReport(version: string, over: Partial<Report> = {}): Report {
  return {
    revision: { digest: digest('1'), version, sequence: 1 },
    updateState: 'idle',
    board: 'qemu-aarch64',
    agentVersion: '1.0.0',
    containers: [{ name: 'web', state: 'running', restarts: 0 }],
    inventory: { objects: [], freeBytes: 1000, totalBytes: 2000 },
    failedRevisions: [],
    ...over,
  };
}
