// Garbage collection as main.ts runs it, on a real store: roots from the ledger's `current`
// and the journal's update, revisions stored the way the engine stores them (StoreRevisions).
import { ReleaseManifest, Target, type Digest } from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectUnreferenced } from '../../src/app/garbage.js';
import { ObjectStore, RevisionStore } from '../../src/store/index.js';
import { StoreRevisions } from '../../src/update/adapters.js';
import { DirectoryDurableFiles } from '../../src/update/atomic-file.js';
import type { JournalUpdate } from '../../src/update/journal.js';
import type { Current } from '../../src/update/ledger.js';

const digestOf = (b: Uint8Array): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let root: string;
beforeEach(async () => {
  root = await fs.mkdtemp(join(tmpdir(), 'fleet-agent-gc-'));
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const release = (sequence: number, rootfs: Digest) =>
  ReleaseManifest.parse(
    aRelease({
      sequence,
      version: `1.0.${sequence}`,
      containers: { web: aContainer({ rootfs: { digest: rootfs, size: 16 } }) },
    }),
  );
const entry = (revision: string, sequence: number) => ({
  revision,
  releaseDigest: digestOf(Buffer.from(revision)),
  version: `1.0.${sequence}`,
  sequence,
  configVersion: 0,
});

describe('garbage collection of the agent', () => {
  it('keeps the committed revision, its history and an in-flight target; deletes the rest', async () => {
    const objects = new ObjectStore(root);
    await objects.init();
    const store = new RevisionStore(root);
    await store.init();
    const revisions = new StoreRevisions(store, new DirectoryDurableFiles(join(root, 'update-revisions')));

    const put = async () => {
      const bytes = randomBytes(16);
      const d = digestOf(bytes);
      await objects.put(d, Readable.from([bytes]));
      return d;
    };
    const [old, previous, committed, downloading, orphan] = [
      await put(),
      await put(),
      await put(),
      await put(),
      await put(),
    ];
    for (const [id, seq, d] of [
      ['rev-old', 1, old],
      ['rev-prev', 2, previous],
      ['rev-cur', 3, committed],
    ] as const)
      await revisions.put({ id, release: release(seq, d), config: {}, configVersion: 0 });

    const current: Current = {
      spec: 'fleet-current@1',
      committed: entry('rev-cur', 3),
      history: [entry('rev-prev', 2)],
    };
    const update: JournalUpdate = {
      target: Target.parse({
        updateId: 'u4',
        release: release(4, downloading),
        objectBaseUrl: 'http://127.0.0.1:9/objects',
      }),
      key: digestOf(Buffer.from('u4')),
      revision: { digest: digestOf(Buffer.from('u4')), version: '1.0.4', sequence: 4 },
      to: 'rev-new',
      from: 'rev-cur',
      kind: 'app',
    };
    const sources = {
      objects,
      revisions: store,
      current: async () => current,
      numberOf: (id: string) => revisions.numberOf(id),
    };

    const during = await collectUnreferenced({ ...sources, update: () => update });
    expect(during.deleted.sort()).toEqual([old, orphan].sort());
    expect((await objects.list()).sort()).toEqual([previous, committed, downloading].sort());

    // The update ended (failed): its objects are no longer protected.
    const after = await collectUnreferenced({ ...sources, update: () => null });
    expect(after.deleted).toEqual([downloading]);
    expect((await objects.list()).sort()).toEqual([previous, committed].sort());
  });

  it('deletes nothing when the committed revision is not in the store', async () => {
    const objects = new ObjectStore(root);
    await objects.init();
    const store = new RevisionStore(root);
    await store.init();
    const revisions = new StoreRevisions(store, new DirectoryDurableFiles(join(root, 'update-revisions')));
    const bytes = randomBytes(16);
    await objects.put(digestOf(bytes), Readable.from([bytes]));
    await expect(
      collectUnreferenced({
        objects,
        revisions: store,
        current: async () => ({ spec: 'fleet-current@1', committed: entry('lost', 1), history: [] }),
        update: () => null,
        numberOf: (id) => revisions.numberOf(id),
      }),
    ).rejects.toThrow(/lost is not stored/);
    expect(await objects.list()).toEqual([digestOf(bytes)]);
  });
});
