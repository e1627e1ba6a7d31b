import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importImage } from '../../src/oci/index.js';
import { buildBusyboxImage, hostArchitecture, run, type OciLayoutImage } from './helpers/oci-image.js';

interface Node {
  type: string;
  mode: string;
  owner: string;
  size?: number;
  sha256?: string;
  target?: string;
  mtime?: number;
  xattrs?: string;
}

/** Everything `umoci unpack` and our unpacker must agree on, per path, plus hard-link groups. */
async function snapshot(root: string): Promise<{ nodes: Record<string, Node>; links: string[][] }> {
  const nodes: Record<string, Node> = {};
  const inodes = new Map<number, string[]>();
  const walk = async (rel: string): Promise<void> => {
    const abs = rel === '' ? root : join(root, rel);
    const st = await fs.lstat(abs);
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
    const n: Node = { type, mode: (st.mode & 0o7777).toString(8), owner: `${st.uid}:${st.gid}` };
    if (type === 'file') {
      n.size = st.size;
      n.sha256 = createHash('sha256')
        .update(await fs.readFile(abs))
        .digest('hex');
      n.mtime = Math.floor(st.mtimeMs / 1000);
      inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), rel]);
    }
    if (type === 'symlink') n.target = await fs.readlink(abs);
    if (type !== 'file') n.mtime = Math.floor(st.mtimeMs / 1000);
    if (type !== 'symlink') {
      const { stdout } = await run('getfattr', [
        '--absolute-names',
        '-d',
        '-m',
        '^user\\.',
        '-e',
        'hex',
        abs,
      ]);
      const lines = stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
      if (lines.length > 0) n.xattrs = lines.sort().join(',');
    }
    nodes[rel === '' ? '/' : rel] = n;
    if (type === 'dir')
      for (const name of (await fs.readdir(abs)).sort()) await walk(rel === '' ? name : `${rel}/${name}`);
  };
  await walk('');
  const links = [...inodes.values()]
    .filter((g) => g.length > 1)
    .map((g) => g.sort())
    .sort();
  return { nodes, links };
}

let work: string;
let image: OciLayoutImage;

beforeAll(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'fleet-oci-umoci-'));
  image = await buildBusyboxImage(join(work, 'img'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe('unpacked tree vs umoci unpack', () => {
  it('has the same paths, types, modes, owners, contents, symlink targets, xattrs and hard links', async () => {
    const ours = join(work, 'ours');
    await importImage(image.ref, {
      platform: `linux/${hostArchitecture()}`,
      workDir: join(work, 'w'),
      outputDir: join(work, 'out'),
      keepRootfsAt: ours,
    });
    const bundle = join(work, 'bundle');
    await run('umoci', ['unpack', '--image', `${image.layoutDir}:${image.tag}`, bundle]);
    const theirs = await snapshot(join(bundle, 'rootfs'));
    const mine = await snapshot(ours);
    // umoci gives the bundle's rootfs directory mode 0700 like runc bundles do; the image root is 0755.
    delete theirs.nodes['/'];
    delete mine.nodes['/'];
    expect(Object.keys(mine.nodes).length).toBeGreaterThan(250);
    expect(mine.nodes).toEqual(theirs.nodes);
    expect(mine.links).toEqual(theirs.links);
    expect(mine.links).toEqual([['usr/share/data/a.txt', 'usr/share/data/b.txt']]);
  });
});
