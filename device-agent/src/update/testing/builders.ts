// Builders with defaults for the agent's unit tests (CONVENTIONS 12). Parsed through the real
// schemas so defaults are the ones a device sees.
import {
  ContainerSpec,
  ReleaseManifest,
  RevisionManifest,
  signManifest,
  type ContainerSpecInput,
  type ReleaseManifestInput,
  type RevisionManifestInput,
  type SigningKey,
  type Target,
} from '@fleet/protocol';
import {
  aContainer as protoContainer,
  aRelease as protoRelease,
  aRevision as protoRevision,
} from '@fleet/protocol/testing';

export const digestOf = (c: string): string => `sha256:${c.repeat(64).slice(0, 64)}`;

export function aContainer(over: Partial<ContainerSpecInput> = {}): ContainerSpec {
  return ContainerSpec.parse(protoContainer(over));
}

export function aRevision(over: Partial<RevisionManifestInput> = {}): RevisionManifest {
  return RevisionManifest.parse(protoRevision(over));
}

export function aRelease(over: Partial<ReleaseManifestInput> = {}, key?: SigningKey): ReleaseManifest {
  const m = ReleaseManifest.parse(protoRelease(over));
  return key ? signManifest(m, key) : m;
}

export function aTarget(release: ReleaseManifest, over: Partial<Target> = {}): Target {
  return {
    updateId: `u-${release.sequence}`,
    release,
    objectBaseUrl: 'http://127.0.0.1:1/objects',
    config: {},
    configVersion: 0,
    strategy: 'stop-start',
    force: false,
    bakeSeconds: 30,
    ...over,
  };
}
