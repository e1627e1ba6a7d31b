// Builders with defaults for tests in every package (CONVENTIONS 12). Not exported from the
// package index: import from '@fleet/protocol/testing'.
import type { ContainerSpecInput, ReleaseManifestInput, RevisionManifestInput } from '../manifest.js';

export const hexDigest = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}`;

export function aContainer(over: Partial<ContainerSpecInput> = {}): ContainerSpecInput {
  return {
    image: { ref: 'example/web:1', digest: hexDigest('a') },
    rootfs: { digest: hexDigest('b'), size: 1_048_576 },
    start: { entrypoint: ['/bin/httpd'], cmd: ['-f'] },
    ...over,
  };
}

export function aRevision(over: Partial<RevisionManifestInput> = {}): RevisionManifestInput {
  return {
    spec: 'fleet-revision@1',
    release: '1.0.0',
    board: 'qemu-aarch64',
    containers: { web: aContainer() },
    ...over,
  };
}

export function aRelease(over: Partial<ReleaseManifestInput> = {}): ReleaseManifestInput {
  return {
    spec: 'fleet-release@1',
    release: '1.0.0',
    board: 'qemu-aarch64',
    version: '1.0.0',
    compatibleBoards: ['qemu-aarch64'],
    sequence: 1,
    containers: { web: aContainer() },
    ...over,
  };
}
