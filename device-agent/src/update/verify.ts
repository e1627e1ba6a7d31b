// Admission of a target: every refusal has a reason code and a message, and is decided before
// anything on the device changes (no download, no journal entry for the update).
import {
  checkSequence,
  compareSemver,
  manifestDigest,
  verifyManifest as verifySignatures,
  type ReasonCode,
  type Target,
  type TrustRoot,
} from '@fleet/protocol';
import type { CommittedEntry, Current } from './ledger.js';
import { revisionId, systemChanges, updateKey } from './revision.js';
import { isValidTimeZone } from './window.js';

export interface Refusal {
  readonly reason: ReasonCode;
  readonly message: string;
}

export interface Admission {
  /** `none`: the device already runs exactly this (a retained target delivered again). */
  readonly kind: 'app' | 'system' | 'none';
  readonly key: string;
  readonly revision: string;
  readonly configOnly: boolean;
  readonly knownRollback: boolean;
}

export interface VerifyContext {
  readonly trustRoots: readonly TrustRoot[];
  readonly board: string;
  readonly agentVersion: string;
  readonly current: Current | null;
  /** History entries whose revision is still stored: valid targets of an operator's rollback. */
  readonly storedHistory: readonly CommittedEntry[];
  readonly failed: ReadonlySet<string>;
  readonly hasBootControl: boolean;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function verifyTarget(
  t: Target,
  ctx: VerifyContext,
): { ok: true; value: Admission } | { ok: false; error: Refusal } {
  const refuse = (reason: ReasonCode, message: string) => ({
    ok: false as const,
    error: { reason, message },
  });
  const r = t.release;

  if (ctx.trustRoots.length === 0)
    return refuse('unknown-signing-key', 'this device trusts no release signing key');
  const sig = verifySignatures(r, ctx.trustRoots);
  if (!sig.ok) return refuse(sig.error.reason, sig.error.message);

  if (!r.compatibleBoards.includes(ctx.board)) {
    return refuse(
      'board-mismatch',
      `release ${r.version} is for ${r.compatibleBoards.join(', ')}; this device is ${ctx.board}`,
    );
  }
  if (compareSemver(ctx.agentVersion, r.minAgentVersion) < 0) {
    return refuse(
      'agent-too-old',
      `release ${r.version} needs agent ${r.minAgentVersion} or newer; this agent is ${ctx.agentVersion}`,
    );
  }
  for (const [name, vars] of Object.entries(t.config)) {
    const bad = Object.keys(vars).find((k) => !ENV_NAME.test(k));
    if (bad !== undefined)
      return refuse('manifest-invalid', `config of container ${name}: "${bad}" is not a valid variable name`);
  }
  if (t.window?.timeZone !== undefined && !isValidTimeZone(t.window.timeZone)) {
    return refuse(
      'manifest-invalid',
      `maintenance window time zone "${t.window.timeZone}" is unknown to this device`,
    );
  }

  const digest = manifestDigest(r);
  const committed = ctx.current?.committed ?? null;
  const sameRelease = committed !== null && committed.releaseDigest === digest;
  const id = revisionId(r, t.config);
  let configOnly = false;
  let knownRollback = false;
  if (sameRelease) {
    if (id === committed.revision)
      return {
        ok: true,
        value: { kind: 'none', key: digest, revision: id, configOnly: false, knownRollback: false },
      };
    if (t.configVersion <= committed.configVersion) {
      return refuse(
        'sequence-not-newer',
        `config version ${t.configVersion} is not above the committed ${committed.configVersion} for the running release`,
      );
    }
    configOnly = true;
  } else {
    const seq = checkSequence({
      committed: committed?.sequence ?? null,
      candidate: r.sequence,
      storedCommitted: ctx.storedHistory.filter((h) => h.releaseDigest === digest).map((h) => h.sequence),
    });
    if (!seq.ok) return refuse(seq.error.reason, seq.error.message);
    knownRollback = seq.value === 'known-rollback';
  }

  const key = updateKey(r, configOnly, t.configVersion);
  if (ctx.failed.has(key) && !t.force) {
    return refuse(
      'revision-failed-before',
      `release ${r.version} (${configOnly ? `config ${t.configVersion}` : digest}) failed on this device before; send it with force to try again`,
    );
  }

  const changes = systemChanges(ctx.current?.system, r);
  const system = changes.length > 0;
  if (system) {
    if (!changes.includes('rootfs') || !r.system?.rootfs) {
      return refuse(
        'manifest-invalid',
        `${changes.join(' and ')} changed without a new system.rootfs: they ship inside the rootfs slot image`,
      );
    }
    if (!ctx.hasBootControl)
      return refuse(
        'install-failed',
        'release changes the system layer but this device has no A/B boot control',
      );
  }
  return {
    ok: true,
    value: { kind: system ? 'system' : 'app', key, revision: id, configOnly, knownRollback },
  };
}
