import { createHash } from 'node:crypto';
import { canonicalJson, manifestDigest, type ReleaseManifest, type RevisionManifest, type RevisionRef } from '@fleet/protocol';
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
function relevantConfig(release: ReleaseManifest, config: OperatorConfig): Record<string, Readonly<Record<string, string>>> {
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
    containers[name] = vars && Object.keys(vars).length > 0 ? { ...spec, config: { ...spec.config, ...vars } } : spec;
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

/** True when kernel, dtb or rootfs differ: the update needs the A/B slots and a reboot. */
export function systemChanged(from: ReleaseManifest | null, to: ReleaseManifest): boolean {
  const d = (m: ReleaseManifest | null) => [m?.system?.kernel?.digest, m?.system?.dtb?.digest, m?.system?.rootfs?.digest];
  const a = d(from);
  const b = d(to);
  return a.some((x, i) => x !== b[i]);
}
