import { parseRevisionManifest, type RevisionManifest } from '@fleet/protocol';
import { aContainer, aRevision, hexDigest } from '@fleet/protocol/testing';
import { describe, expect, it } from 'vitest';
import { planGc } from './gc.js';

function revision(over: Parameters<typeof aRevision>[0]): RevisionManifest {
  const r = parseRevisionManifest(aRevision(over));
  if (!r.ok) throw r.error;
  return r.value;
}

const [A, B, C, D, K, T] = ['1', '2', '3', '4', '5', '6'].map(hexDigest) as [
  string,
  string,
  string,
  string,
  string,
  string,
];

describe('planGc', () => {
  it('deletes only objects no kept revision references', () => {
    const r1 = revision({
      containers: {
        web: aContainer({ rootfs: { digest: A, size: 1 } }),
        db: aContainer({ rootfs: { digest: B, size: 1 } }),
      },
    });
    const r2 = revision({
      containers: {
        web: aContainer({ rootfs: { digest: C, size: 1 } }),
        db: aContainer({ rootfs: { digest: B, size: 1 } }),
      },
    });
    expect(planGc([r2], [A, B, C, D])).toEqual([A, D]);
    expect(planGc([r1, r2], [A, B, C, D])).toEqual([D]);
  });

  it('keeps system objects (kernel, dtb, rootfs slot image)', () => {
    const r = revision({
      system: { kernel: { digest: K, size: 1 }, rootfs: { digest: T, size: 1, slot: 'ab' } },
      containers: { web: aContainer({ rootfs: { digest: A, size: 1 } }) },
    });
    expect(planGc([r], [A, K, T, D])).toEqual([D]);
  });

  it('with nothing kept, everything goes; with nothing stored, nothing does', () => {
    expect(planGc([], [B, A, A])).toEqual([A, B]);
    expect(planGc([revision({})], [])).toEqual([]);
  });
});
