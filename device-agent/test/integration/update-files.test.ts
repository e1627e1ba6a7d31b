// The engine's durable small files and update locks on a real filesystem.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryDurableFiles } from '../../src/update/atomic-file.js';
import { FileUpdateLocks, LOCK_FILE, lockDirOnHost } from '../../src/update/locks.js';
import { tempDir } from './helpers/rootfs.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir('fleet-update-files-');
});
afterAll(async () => {
  await tmp?.cleanup();
});

describe('DirectoryDurableFiles', () => {
  it('reads null for a missing file and back what it wrote, leaving no temp file', async () => {
    const f = new DirectoryDurableFiles(join(tmp.path, 'a'));
    expect(await f.read('journal.json')).toBeNull();
    await f.writeAtomic('journal.json', '{"v":1}');
    expect((await f.read('journal.json'))?.toString()).toBe('{"v":1}');
    expect(await readdir(join(tmp.path, 'a'))).toEqual(['journal.json']);
  });

  it('overlapping writes of one name land in call order', async () => {
    const f = new DirectoryDurableFiles(join(tmp.path, 'b'));
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => f.writeAtomic('current', `${i}`.repeat(1 + ((i * 7919) % 5000)))),
    );
    expect((await f.read('current'))?.toString()).toBe('19'.repeat(1 + ((19 * 7919) % 5000)));
  });

  it('a temp file left by a crash does not matter: the next write replaces it', async () => {
    const dir = join(tmp.path, 'c');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'current'), 'old');
    await writeFile(join(dir, 'current.tmp'), 'half-writ');
    const f = new DirectoryDurableFiles(dir);
    expect((await f.read('current'))?.toString()).toBe('old');
    await f.writeAtomic('current', 'new');
    expect(await readFile(join(dir, 'current'), 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['current']);
  });
});

describe('FileUpdateLocks', () => {
  it('reports exactly the containers whose lock file exists', async () => {
    const storage = join(tmp.path, 'storage');
    const locks = new FileUpdateLocks(storage);
    expect(await locks.held(['web', 'db'])).toEqual([]);
    await mkdir(lockDirOnHost(storage, 'db'), { recursive: true });
    await writeFile(join(lockDirOnHost(storage, 'db'), LOCK_FILE), '');
    expect(await locks.held(['web', 'db'])).toEqual(['db']);
  });
});
