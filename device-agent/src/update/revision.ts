import { createHash } from 'node:crypto';
import {
  canonicalJson,
  manifestDigest,
  type ReleaseManifest,
  type RevisionManifest,
  type RevisionRef,
} from '@fleet/protocol';
import type { StoredRevision } from './ports.js';

export type OperatorConfig = Readonly<Record<string, Readonly<Record<string, string>>>>;

/**
 * The revision id: sequence plus a hash of the release's signed content and the operator
 * config it runs with. The same release with other config vars is another revision (its
 * containers with changed vars get new instances), yet the id still sorts by sequence.
 */
export function revisionId(release: ReleaseManifest, config: OperatorConfig): string {
  const h = createHash('sha256')
    .update(canonicalJson({ release: manifestDigest(release), config: relevantConfig(release, config) }))
    .digest('hex');
  return `${release.sequence}-${h.slice(0, 16)}`;
}

/** Config for containers the release does not have is fleet-wide noise, not part of the revision. */
function relevantConfig(
  release: ReleaseManifest,
  config: OperatorConfig,
): Record<string, Readonly<Record<string, string>>> {
  const out: Record<string, Readonly<Record<string, string>>> = {};
  for (const name of Object.keys(release.containers).sort()) {
    const vars = config[name];
    if (vars && Object.keys(vars).length > 0) out[name] = vars;
  }
  return out;
}

/** The desired containers: the release's specs with the operator's vars merged into `config`. */
export function effectiveManifest(rev: Pick<StoredRevision, 'release' | 'config'>): RevisionManifest {
  const containers: RevisionManifest['containers'] = {};
  for (const [name, spec] of Object.entries(rev.release.containers)) {
    const vars = rev.config[name];
    containers[name] =
      vars && Object.keys(vars).length > 0 ? { ...spec, config: { ...spec.config, ...vars } } : spec;
  }
  return {
    spec: 'fleet-revision@1',
    release: rev.release.release,
    board: rev.release.board,
    ...(rev.release.system ? { system: rev.release.system } : {}),
    containers,
    signatures: rev.release.signatures,
  };
}

export function revisionRef(release: ReleaseManifest): RevisionRef {
  return { digest: manifestDigest(release), version: release.version, sequence: release.sequence };
}

/** The key "never retry a failed revision" uses: the release, or release + config version. */
export function updateKey(release: ReleaseManifest, configOnly: boolean, configVersion: number): string {
  return configOnly ? `${manifestDigest(release)}+config@${configVersion}` : manifestDigest(release);
}

/** Digests of the system parts a slot runs (what `current` records at each commit). */
export interface InstalledSystem {
  readonly kernel?: string | undefined;
  readonly dtb?: string | undefined;
  readonly rootfs?: string | undefined;
}

export function systemOf(r: ReleaseManifest, before?: InstalledSystem): InstalledSystem {
  if (!r.system) return before ?? {};
  return { kernel: r.system.kernel?.digest, dtb: r.system.dtb?.digest, rootfs: r.system.rootfs?.digest };
}

/**
 * The system parts the target brings that differ from the installed ones. A release without
 * `system` leaves the installed slot as it is (an app-only release after a system update).
 */
export function systemChanges(
  installed: InstalledSystem | undefined,
  to: ReleaseManifest,
): ('kernel' | 'dtb' | 'rootfs')[] {
  if (!to.system) return [];
  return (['kernel', 'dtb', 'rootfs'] as const).filter((p) => to.system?.[p]?.digest !== installed?.[p]);
}
