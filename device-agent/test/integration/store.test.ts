import { parseRevisionManifest, type Digest, type RevisionManifest } from '@fleet/protocol';
import { aContainer, aRevision } from '@fleet/protocol/testing';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  collectGarbage,
  ObjectStore,
  RevisionStore,
  StoreError,
  VolumeStore,
} from '../../src/store/index.js';

const run = promisify(execFile);
const digestOf = (b: Uint8Array): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function revision(
  rootfs: Record<string, Digest>,
  over: Parameters<typeof aRevision>[0] = {},
): RevisionManifest {
  const containers = Object.fromEntries(
    Object.entries(rootfs).map(([name, digest]) => [name, aContainer({ rootfs: { digest, size: 1 } })]),
  );
  const r = parseRevisionManifest(aRevision({ containers, ...over }));
  if (!r.ok) throw r.error;
  return r.value;
}

let root: string;
beforeEach(async () => {
  root = await fs.mkdtemp(join(tmpdir(), 'fleet-store-'));
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('ObjectStore', () => {
  it('puts from a stream and a file, lists, reports size and path, deletes', async () => {
    const store = new ObjectStore(root);
    await store.init();
    const a = randomBytes(300_000);
    const b = Buffer.from('small object');
    const da = digestOf(a);
    const db = digestOf(b);
    // chunked stream
    await expect(
      store.put(da, Readable.from([a.subarray(0, 1000), a.subarray(1000)]), { size: a.length }),
    ).resolves.toEqual({ digest: da, size: a.length });
    await fs.writeFile(join(root, 'b.bin'), b);
    await store.putFile(db, join(root, 'b.bin'));
    expect(await store.list()).toEqual([da, db].sort());
    expect(await store.has(da)).toBe(true);
    expect((await store.stat(db))?.size).toBe(b.length);
    expect(await fs.readFile(await store.get(da))).toEqual(a);
    expect(await store.get(da)).toBe(join(root, 'objects/sha256', da.slice(7)));
    expect(await store.verify(da)).toBe(true);
    // putting again does not read the source
    await expect(store.put(da, Readable.from([Buffer.from('not read')]))).resolves.toEqual({
      digest: da,
      size: a.length,
    });
    expect(await store.delete(da)).toBe(true);
    expect(await store.delete(da)).toBe(false);
    expect(await store.list()).toEqual([db]);
    await expect(store.get(da)).rejects.toThrow(`object ${da} is not in the store`);
  });

  it('refuses a digest mismatch and leaves nothing behind', async () => {
    const store = new ObjectStore(root);
    await store.init();
    const data = Buffer.from('the real bytes');
    const claimed = digestOf(Buffer.from('other bytes'));
    const err = await store.put(claimed, Readable.from([data])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('digest-mismatch');
    expect((err as StoreError).message).toContain(`object ${claimed}: content hashes to ${digestOf(data)}`);
    expect(await store.list()).toEqual([]);
    expect(await fs.readdir(store.tmpDir)).toEqual([]);
  });

  it('refuses a size mismatch (truncated download) and leaves nothing behind', async () => {
    const store = new ObjectStore(root);
    await store.init();
    const data = randomBytes(1000);
    await expect(
      store.put(digestOf(data), Readable.from([data.subarray(0, 600)]), { size: 1000 }),
    ).rejects.toThrow(/got 600 bytes, expected 1000/);
    expect(await store.list()).toEqual([]);
    expect(await fs.readdir(store.tmpDir)).toEqual([]);
  });

  it('a failing source leaves nothing behind and the error names the object', async () => {
    const store = new ObjectStore(root);
    await store.init();
    const d = digestOf(Buffer.from('x'));
    async function* broken(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(4096);
      throw new Error('connection reset');
    }
    await expect(store.put(d, broken())).rejects.toThrow(`writing object ${d} failed: connection reset`);
    expect(await fs.readdir(store.tmpDir)).toEqual([]);
  });

  it('init removes temp files a crash left behind, keeps complete objects', async () => {
    const store = new ObjectStore(root);
    await store.init();
    const data = Buffer.from('kept');
    await store.put(digestOf(data), Readable.from([data]));
    await fs.writeFile(join(store.tmpDir, 'deadbeef.123'), 'half an object');
    await new ObjectStore(root).init();
    expect(await fs.readdir(store.tmpDir)).toEqual([]);
    expect(await store.list()).toEqual([digestOf(data)]);
  });

  it('adopts a file from the same filesystem without copying, refuses one with the wrong digest', async () => {
    const store = new ObjectStore(root);
    await store.init();
    const data = randomBytes(50_000);
    const file = join(root, 'rootfs.squashfs');
    await fs.writeFile(file, data);
    const ino = (await fs.stat(file)).ino;
    await expect(store.adoptFile(digestOf(data), file)).resolves.toEqual({
      digest: digestOf(data),
      size: data.length,
    });
    expect((await fs.stat(await store.get(digestOf(data)))).ino).toBe(ino);
    await expect(fs.stat(file)).rejects.toThrow(/ENOENT/);

    const other = join(root, 'other.squashfs');
    await fs.writeFile(other, 'not what the digest says');
    const claimed = digestOf(Buffer.from('x'));
    await expect(store.adoptFile(claimed, other)).rejects.toThrow(
      `object ${claimed}: file ${other} hashes to`,
    );
    expect(await fs.readFile(other, 'utf8')).toBe('not what the digest says');
    expect(await store.list()).toEqual([digestOf(data)]);
  });

  it('refuses malformed digests', async () => {
    const store = new ObjectStore(root);
    await store.init();
    await expect(store.put('sha256:xyz' as Digest, Readable.from([]))).rejects.toThrow(
      /object digest "sha256:xyz"/,
    );
    expect(() => store.pathOf('../../etc/passwd' as Digest)).toThrow(StoreError);
  });
});

describe('ObjectStore on a full disk', () => {
  const mnt = join(tmpdir(), `fleet-store-full-${process.pid}`);
  afterAll(async () => {
    await run('umount', [mnt]).catch(() => undefined);
    await fs.rm(mnt, { recursive: true, force: true });
  });

  it('fails with no-space naming the object, removes the partial file, keeps existing objects', async () => {
    await fs.mkdir(mnt, { recursive: true });
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    const store = new ObjectStore(mnt);
    await store.init();
    const small = randomBytes(100_000);
    await store.put(digestOf(small), Readable.from([small]));
    const big = randomBytes(3 << 20);
    const d = digestOf(big);
    const chunks = Array.from({ length: 48 }, (_, i) => big.subarray(i * 65536, (i + 1) * 65536));
    const err = await store.put(d, Readable.from(chunks)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('no-space');
    expect((err as StoreError).message).toContain(`no space left on the device while writing object ${d}`);
    expect(await fs.readdir(store.tmpDir)).toEqual([]);
    expect(await store.list()).toEqual([digestOf(small)]);
    expect(await store.verify(digestOf(small))).toBe(true);
    // and the space is back: a fitting object still goes in
    const next = randomBytes(200_000);
    await store.put(digestOf(next), Readable.from([next]));
    expect(await store.has(digestOf(next))).toBe(true);
  });
});

describe('RevisionStore', () => {
  it('writes atomically, lists numerically, reads back validated manifests', async () => {
    const revs = new RevisionStore(root);
    await revs.init();
    const d = digestOf(Buffer.from('a'));
    await revs.write(2, revision({ web: d }));
    await revs.write(10, revision({ web: d }, { release: '2.0.0' }));
    await fs.mkdir(join(root, 'revisions', '7')); // half-created: no manifest
    await fs.mkdir(join(root, 'revisions', 'junk'));
    expect(await revs.list()).toEqual([2, 10]);
    expect((await revs.read(10)).release).toBe('2.0.0');
    // overwrite is atomic and leaves no temp file
    await revs.write(2, revision({ web: d }, { release: '1.0.1' }));
    expect((await revs.read(2)).release).toBe('1.0.1');
    expect(await fs.readdir(join(root, 'revisions', '2'))).toEqual(['manifest.json']);
    await revs.delete(2);
    expect(await revs.list()).toEqual([10]);
  });

  it('refuses invalid manifests on write and corrupt ones on read, naming the revision', async () => {
    const revs = new RevisionStore(root);
    await revs.init();
    const bad = { ...revision({}), containers: { 'Bad Name': aContainer() } } as unknown as RevisionManifest;
    await expect(revs.write(1, bad)).rejects.toThrow(/revision 1: RevisionManifest is invalid/);
    expect(await revs.list()).toEqual([]);
    await fs.mkdir(join(root, 'revisions', '3'));
    await fs.writeFile(join(root, 'revisions', '3', 'manifest.json'), '{"spec": "fleet-rev');
    await expect(revs.read(3)).rejects.toThrow(/revision 3: manifest.json is not JSON/);
    await expect(revs.read(4)).rejects.toThrow('revision 4 has no manifest');
    await expect(revs.write(0, revision({}))).rejects.toThrow(/positive integer/);
  });
});

describe('VolumeStore', () => {
  it('permanent volumes survive revisions, revision volumes are fresh per revision, boot volumes are tmpfs specs', async () => {
    const vols = new VolumeStore(root);
    const perm = { name: 'data', path: '/var/lib/data', persistence: 'permanent' as const, readOnly: false };
    const rev = { name: 'cache', path: '/var/cache/app', persistence: 'revision' as const, readOnly: false };
    const boot = {
      name: 'run',
      path: '/run/app',
      persistence: 'boot' as const,
      readOnly: false,
      sizeBytes: 4 << 20,
    };

    const p1 = await vols.prepare('web', perm, 1);
    expect(p1).toEqual({
      kind: 'bind',
      source: join(root, 'volumes/web/data'),
      target: '/var/lib/data',
      readOnly: false,
    });
    const r1 = await vols.prepare('web', rev, 1);
    expect(r1).toMatchObject({ kind: 'bind', source: join(root, 'revisions/1/volumes/web/cache') });
    await fs.writeFile(join((p1 as { source: string }).source, 'db'), 'keep me');
    await fs.writeFile(join((r1 as { source: string }).source, 'tmp'), 'rev 1 only');

    const p2 = await vols.prepare('web', perm, 2);
    const r2 = await vols.prepare('web', rev, 2);
    expect(await fs.readFile(join((p2 as { source: string }).source, 'db'), 'utf8')).toBe('keep me');
    expect(await fs.readdir((r2 as { source: string }).source)).toEqual([]);
    // rolling back to revision 1 finds its own data
    expect(await fs.readdir(((await vols.prepare('web', rev, 1)) as { source: string }).source)).toEqual([
      'tmp',
    ]);

    expect(await vols.prepare('web', boot, 2)).toEqual({
      kind: 'tmpfs',
      target: '/run/app',
      readOnly: false,
      options: ['mode=0755', 'nosuid', 'nodev', `size=${4 << 20}`],
    });
    expect(await vols.listPermanent()).toEqual([{ container: 'web', volume: 'data' }]);
    await expect(vols.prepare('../etc', perm, 1)).rejects.toThrow(
      /container name "..\/etc" is not a valid name/,
    );
  });
});

describe('collectGarbage', () => {
  it('deletes objects only unkept revisions reference', async () => {
    const objects = new ObjectStore(root);
    const revs = new RevisionStore(root);
    await objects.init();
    await revs.init();
    const [a, b, c, orphan] = ['a', 'b', 'c', 'orphan'].map((s) => Buffer.from(s));
    for (const x of [a!, b!, c!, orphan!]) await objects.put(digestOf(x), Readable.from([x]));
    await revs.write(1, revision({ web: digestOf(a!), db: digestOf(b!) }));
    await revs.write(2, revision({ web: digestOf(c!), db: digestOf(b!) }));

    const r = await collectGarbage(objects, revs, [2]);
    expect(r.deleted).toEqual([digestOf(a!), digestOf(orphan!)].sort());
    expect(await objects.list()).toEqual([digestOf(b!), digestOf(c!)].sort());
  });

  it('refuses to collect when a kept manifest cannot be read', async () => {
    const objects = new ObjectStore(root);
    const revs = new RevisionStore(root);
    await objects.init();
    await revs.init();
    const a = Buffer.from('a');
    await objects.put(digestOf(a), Readable.from([a]));
    await expect(collectGarbage(objects, revs, [5])).rejects.toThrow('revision 5 has no manifest');
    expect(await objects.list()).toEqual([digestOf(a)]);
  });

  it('keeps an imported (pinned) object until a kept revision uses it, then lets it age out with that revision', async () => {
    const objects = new ObjectStore(root);
    const revs = new RevisionStore(root);
    await objects.init();
    await revs.init();
    const img = Buffer.from('imported rootfs');
    const file = join(root, 'import.sqfs');
    await fs.writeFile(file, img);
    const { pin } = await objects.importFile(digestOf(img), file, { reason: 'import-image oci:/x' });
    expect(Date.parse(pin.until)).toBeGreaterThan(Date.now());
    // No revision references it: GC keeps it (before pins it was deleted here).
    expect((await collectGarbage(objects, revs, [])).deleted).toEqual([]);
    expect(await objects.has(digestOf(img))).toBe(true);
    // A release uses it and its revision is kept: the pin has done its job and is dropped...
    await revs.write(1, revision({ web: digestOf(img) }));
    expect((await collectGarbage(objects, revs, [1])).deleted).toEqual([]);
    expect(await objects.pins.list()).toEqual([]);
    // ...so once that revision is no longer kept, the object goes like any other.
    expect((await collectGarbage(objects, revs, [])).deleted).toEqual([digestOf(img)]);
  });

  it('drops an expired pin and deletes the unused import', async () => {
    const objects = new ObjectStore(root);
    const revs = new RevisionStore(root);
    await objects.init();
    await revs.init();
    const img = Buffer.from('never used');
    const file = join(root, 'import.sqfs');
    await fs.writeFile(file, img);
    await objects.importFile(digestOf(img), file, { reason: 'test', ttlMs: 60_000 });
    expect((await collectGarbage(objects, revs, [], [], Date.now() + 59_000)).deleted).toEqual([]);
    expect((await collectGarbage(objects, revs, [], [], Date.now() + 61_000)).deleted).toEqual([
      digestOf(img),
    ]);
    expect(await objects.pins.list()).toEqual([]);
  });

  it('refuses to collect when the pin file is damaged, deleting nothing', async () => {
    const objects = new ObjectStore(root);
    const revs = new RevisionStore(root);
    await objects.init();
    await revs.init();
    const a = Buffer.from('a');
    await objects.put(digestOf(a), Readable.from([a]));
    await fs.writeFile(objects.pins.file, '{"spec":"fleet-object-pins@1","pins":{"x":{"until":"soon"}}');
    await expect(collectGarbage(objects, revs, [])).rejects.toThrow(/pins\.json: not JSON/);
    await fs.writeFile(objects.pins.file, '{"spec":"fleet-object-pins@1","pins":{"x":{"until":"soon"}}}');
    await expect(collectGarbage(objects, revs, [])).rejects.toThrow(/pins\.json: .*until/s);
    expect(await objects.list()).toEqual([digestOf(a)]);
    await expect(objects.pins.pin('sha256:nothex' as Digest, { reason: 'x' })).rejects.toThrow(
      /pin "sha256:nothex"/,
    );
  });
});
