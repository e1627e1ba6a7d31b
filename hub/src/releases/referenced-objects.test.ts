import { ReleaseManifest } from '@fleet/protocol';
import { aContainer, aRelease, hexDigest } from '@fleet/protocol/testing';
import { describe, expect, it } from 'vitest';
import { referencedObjects } from './referenced-objects.js';

describe('referencedObjects', () => {
  it('lists container root filesystems and system parts with where they are referenced', () => {
    const m = ReleaseManifest.parse(
      aRelease({
        containers: {
          web: aContainer({ rootfs: { digest: hexDigest('1'), size: 10 } }),
          db: aContainer({ rootfs: { digest: hexDigest('1'), size: 10 } }),
        },
        system: { kernel: { digest: hexDigest('2'), size: 5 } },
      }),
    );
    expect(referencedObjects(m)).toEqual([
      { digest: hexDigest('1'), size: 10, role: 'containers.web.rootfs' },
      { digest: hexDigest('1'), size: 10, role: 'containers.db.rootfs' },
      { digest: hexDigest('2'), size: 5, role: 'system.kernel' },
    ]);
  });
});
