import {
  parseRevisionManifest,
  ReleaseManifest,
  Target,
  type Digest,
  type RevisionManifest,
} from '@fleet/protocol';
import { aContainer, aRelease, aRevision, hexDigest } from '@fleet/protocol/testing';
import { describe, expect, it } from 'vitest';
import type { JournalUpdate } from '../update/journal.js';
import type { Current } from '../update/ledger.js';
import type { ObjectStore } from '../store/object-store.js';
import type { RevisionStore } from '../store/revision-store.js';
import { collectUnreferenced, gcRoots } from './garbage.js';

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
      appsOnly: [],
      extraRoots: [],
    });
  });

  it('keeps the committed revision and the rollback history', async () => {
    expect(await gcRoots({ current: async () => current(), update: () => null, numberOf })).toEqual({
      keep: [3],
      appsOnly: [1, 2],
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
    expect(stored4.keep).toEqual([3, 4]);
    expect(stored4.appsOnly).toEqual([1, 2]);
    expect(stored4.extraRoots).toContain(hexDigest('e'));
    const downloading = await gcRoots({
      current: async () => current(),
      update: () => update('rev-not-yet-stored'),
      numberOf,
    });
    expect(downloading.keep).toEqual([3]);
    expect(downloading.extraRoots).toContain(hexDigest('e'));
  });

  it('skips a history entry that is no longer stored', async () => {
    const r = await gcRoots({
      current: async () => current({ history: [entry('gone', 2), entry('rev-a', 1)] }),
      update: () => null,
      numberOf,
    });
    expect(r.keep).toEqual([3]);
    expect(r.appsOnly).toEqual([1]);
  });

  it('keeps everything of a past revision that a rollback in flight targets', async () => {
    const r = await gcRoots({ current: async () => current(), update: () => update('rev-b'), numberOf });
    expect(r.keep).toEqual([2, 3]);
    expect(r.appsOnly).toEqual([1]);
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

describe('collectUnreferenced', () => {
  const [APP1, APP2, APP3, K1, ROOT1, ROOT2, ROOT3, STRAY] = [
    'a1',
    'a2',
    'a3',
    'b1',
    'c1',
    'c2',
    'c3',
    'ff',
  ].map(hexDigest) as Digest[] as [Digest, Digest, Digest, Digest, Digest, Digest, Digest, Digest];
  const systemRevision = (app: Digest, rootfs: Digest, kernel?: Digest): RevisionManifest => {
    const r = parseRevisionManifest(
      aRevision({
        system: {
          ...(kernel ? { kernel: { digest: kernel, size: 1 } } : {}),
          rootfs: { digest: rootfs, size: 1, slot: 'ab' },
        },
        containers: { web: aContainer({ rootfs: { digest: app, size: 1 } }) },
      }),
    );
    if (!r.ok) throw r.error;
    return r.value;
  };
  const manifests: Record<number, RevisionManifest> = {
    1: systemRevision(APP1, ROOT1, K1),
    2: systemRevision(APP2, ROOT2),
    3: systemRevision(APP3, ROOT3),
  };
  const fakes = (all: Digest[]) => {
    const deleted: Digest[] = [];
    const objects = {
      exclusive: async <T>(f: () => Promise<T>) => f(),
      list: async () => [...all],
      delete: async (d: Digest) => void deleted.push(d),
      pins: { live: async () => [] },
    } as unknown as ObjectStore;
    const revisions = {
      read: async (n: number) => {
        const m = manifests[n];
        if (!m) throw new Error(`revision ${n}: manifest unreadable`);
        return m;
      },
    } as unknown as RevisionStore;
    return { objects, revisions, deleted };
  };

  it("deletes past releases' system objects, keeps their containers and the committed system", async () => {
    const f = fakes([APP1, APP2, APP3, K1, ROOT1, ROOT2, ROOT3, STRAY]);
    const r = await collectUnreferenced({
      ...f,
      current: async () => current({ system: { rootfs: ROOT3 } }),
      update: () => null,
      numberOf,
    });
    expect(f.deleted.sort()).toEqual([K1, ROOT1, ROOT2, STRAY].sort());
    expect(r.keptRevisions).toEqual([1, 2, 3]);
  });

  it('keeps a past system rootfs that the committed release still uses', async () => {
    manifests[4] = systemRevision(APP3, ROOT2);
    stored['rev-d'] = 4;
    try {
      const f = fakes([APP1, APP2, APP3, ROOT1, ROOT2]);
      await collectUnreferenced({
        ...f,
        current: async () =>
          current({ committed: entry('rev-d', 4), history: [entry('rev-b', 2), entry('rev-a', 1)] }),
        update: () => null,
        numberOf,
      });
      expect(f.deleted).toEqual([ROOT1]);
    } finally {
      delete manifests[4];
      delete stored['rev-d'];
    }
  });

  it('deletes nothing when a past manifest is unreadable', async () => {
    stored['rev-x'] = 9;
    try {
      const f = fakes([APP1, ROOT1, STRAY]);
      await expect(
        collectUnreferenced({
          ...f,
          current: async () => current({ history: [entry('rev-x', 2)] }),
          update: () => null,
          numberOf,
        }),
      ).rejects.toThrow(/revision 9: manifest unreadable/);
      expect(f.deleted).toEqual([]);
    } finally {
      delete stored['rev-x'];
    }
  });
});
