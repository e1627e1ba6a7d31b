import { ReleaseManifest, Target } from '@fleet/protocol';
import { aContainer, aRelease, hexDigest } from '@fleet/protocol/testing';
import { describe, expect, it } from 'vitest';
import type { JournalUpdate } from '../update/journal.js';
import type { Current } from '../update/ledger.js';
import { gcRoots } from './garbage.js';

const entry = (revision: string, sequence: number) => ({
  revision,
  releaseDigest: hexDigest(String(sequence)),
  version: `1.0.${sequence}`,
  sequence,
  configVersion: 0,
});
const current = (over: Partial<Current> = {}): Current => ({
  spec: 'fleet-current@1',
  committed: entry('rev-c', 3),
  history: [entry('rev-b', 2), entry('rev-a', 1)],
  ...over,
});
const stored: Record<string, number> = { 'rev-a': 1, 'rev-b': 2, 'rev-c': 3, 'rev-t': 4 };
const numberOf = async (id: string) => {
  const n = stored[id];
  if (n === undefined) throw new Error(`revision ${id} is not stored`);
  return n;
};
const update = (to: string): JournalUpdate => {
  const release = ReleaseManifest.parse(
    aRelease({
      sequence: 4,
      containers: { web: aContainer({ rootfs: { digest: hexDigest('e'), size: 1 } }) },
    }),
  );
  return {
    target: Target.parse({ updateId: 'u1', release, objectBaseUrl: 'http://127.0.0.1:1/objects' }),
    key: hexDigest('9'),
    revision: { digest: hexDigest('9'), version: '1.0.4', sequence: 4 },
    to,
    from: 'rev-c',
    kind: 'app',
  };
};

describe('gcRoots', () => {
  it('keeps nothing on a fresh device with no update', async () => {
    expect(await gcRoots({ current: async () => null, update: () => null, numberOf })).toEqual({
      keep: [],
      extraRoots: [],
    });
  });

  it('keeps the committed revision and the rollback history', async () => {
    expect(await gcRoots({ current: async () => current(), update: () => null, numberOf })).toEqual({
      keep: [1, 2, 3],
      extraRoots: [],
    });
  });

  it("keeps the committed slot's system objects", async () => {
    const r = await gcRoots({
      current: async () => current({ system: { kernel: hexDigest('c'), dtb: 'not-a-digest' } }),
      update: () => null,
      numberOf,
    });
    expect(r.extraRoots).toEqual([hexDigest('c')]);
  });

  it("keeps an in-flight update's target, stored or still downloading", async () => {
    const stored4 = await gcRoots({
      current: async () => current(),
      update: () => update('rev-t'),
      numberOf,
    });
    expect(stored4.keep).toEqual([1, 2, 3, 4]);
    expect(stored4.extraRoots).toContain(hexDigest('e'));
    const downloading = await gcRoots({
      current: async () => current(),
      update: () => update('rev-not-yet-stored'),
      numberOf,
    });
    expect(downloading.keep).toEqual([1, 2, 3]);
    expect(downloading.extraRoots).toContain(hexDigest('e'));
  });

  it('skips a history entry that is no longer stored', async () => {
    const r = await gcRoots({
      current: async () => current({ history: [entry('gone', 2), entry('rev-a', 1)] }),
      update: () => null,
      numberOf,
    });
    expect(r.keep).toEqual([1, 3]);
  });

  it('refuses when the committed revision is not stored or the ledger is unreadable', async () => {
    await expect(
      gcRoots({
        current: async () => current({ committed: entry('missing', 3) }),
        update: () => null,
        numberOf,
      }),
    ).rejects.toThrow(/missing is not stored/);
    await expect(
      gcRoots({
        current: async () => {
          throw new Error('current: bad JSON');
        },
        update: () => null,
        numberOf,
      }),
    ).rejects.toThrow(/bad JSON/);
  });
});
