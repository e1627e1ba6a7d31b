import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRevisionManifest } from '@fleet/protocol';
import { aContainer, aRevision } from '@fleet/protocol/testing';
import { importImage } from '../../src/oci/index.js';
import { collectGarbage, ObjectStore, RevisionStore } from '../../src/store/index.js';
import {
  buildBusyboxImage,
  hostArchitecture,
  rawLayer,
  rawTar,
  run,
  toDockerArchive,
  WEB_UID,
  writeOciLayout,
  type OciLayoutImage,
} from './helpers/oci-image.js';

let work: string;
let image: OciLayoutImage;
const platform = `linux/${hostArchitecture()}`;

beforeAll(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'fleet-oci-import-'));
  image = await buildBusyboxImage(join(work, 'img'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

describe('importImage from an OCI layout', () => {
  it('applies layers (whiteout, opaque dir, hard link, setuid, xattr, owners) and maps the config', async () => {
    const tree = join(work, 'tree-layout');
    const out = await importImage(image.ref, {
      platform,
      workDir: join(work, 'w'),
      outputDir: join(work, 'out'),
      keepRootfsAt: tree,
    });
    expect(out.image.digest).toBe(image.digest);
    expect(out.rootfs.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await fs.stat(out.rootfsFile)).size).toBe(out.rootfs.size);
    expect(out.rootfsFile).toBe(join(work, 'out', `${out.rootfs.digest.slice(7)}.squashfs`));
    // whiteout and opaque dir
    await expect(fs.lstat(join(tree, 'etc/motd'))).rejects.toThrow(/ENOENT/);
    expect((await fs.readdir(join(tree, 'opt/app'))).sort()).toEqual(['new.txt']);
    // hard link
    const a = await fs.stat(join(tree, 'usr/share/data/a.txt'));
    const b = await fs.stat(join(tree, 'usr/share/data/b.txt'));
    expect(a.ino).toBe(b.ino);
    expect(a.nlink).toBe(2);
    // setuid survives the chown
    expect((await fs.stat(join(tree, 'usr/local/bin/suid-tool'))).mode & 0o7777).toBe(0o4755);
    // xattr from the PAX header
    const { stdout } = await run('getfattr', [
      '--only-values',
      '-n',
      'user.fleet.test',
      join(tree, 'var/lib/data/tagged'),
    ]);
    expect(stdout).toBe('hello');
    // ownership and later layer content
    const idx = await fs.stat(join(tree, 'www/index.html'));
    expect([idx.uid, idx.gid]).toEqual([WEB_UID, WEB_UID]);
    expect(await fs.readFile(join(tree, 'www/index.html'), 'utf8')).toBe('<h1>fleet v2</h1>\n');
    expect(await fs.readlink(join(tree, 'bin/sh'))).toBe('/bin/busybox');
    expect(await fs.readlink(join(tree, 'usr/bin/wget'))).toBe('../../bin/busybox');
    expect(out.start).toEqual({
      entrypoint: ['/bin/busybox', 'httpd', '-f', '-v'],
      cmd: ['-p', '8080', '-h', '/www'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', GREETING: 'hello world', EMPTY: '' },
      cwd: '/www',
      user: `${WEB_UID}:${WEB_UID}`,
      stopSignal: 'SIGTERM',
      stopTimeoutMs: 10000,
    });
    expect(out.volumes).toEqual(['/var/lib/data']);
    expect(out.health).toEqual({
      exec: ['/bin/sh', '-c', 'wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1'],
      intervalMs: 5000,
      timeoutMs: 2000,
      retries: 3,
      startPeriodMs: 1000,
    });
    // the squashfs holds the same tree
    const listing = await run('unsquashfs', ['-lln', out.rootfsFile]);
    expect(listing.stdout).toMatch(/-rwsr-xr-x 0\/0 .* squashfs-root\/usr\/local\/bin\/suid-tool/);
    expect(listing.stdout).toMatch(
      new RegExp(`-rw-r--r-- ${WEB_UID}/${WEB_UID} .* squashfs-root/www/index.html`),
    );
    expect(listing.stdout).not.toMatch(/etc\/motd|opt\/app\/old.txt/);
  });

  it('the mapped start config runs: httpd as www serves the page, the health check passes', async () => {
    const tree = join(work, 'tree-run');
    const out = await importImage(image.ref, {
      platform,
      workDir: join(work, 'w'),
      outputDir: join(work, 'out-run'),
      keepRootfsAt: tree,
    });
    const q = (argv: string[]): string => argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    // A private network namespace so port 8080 cannot collide with anything on the machine, and
    // a private mount namespace for the /dev a container runtime provides.
    await fs.mkdir(join(tree, 'dev'));
    const script = [
      'ip link set lo up',
      `mount --bind /dev ${q([join(tree, 'dev')])}`,
      `chroot --userspec=${out.start.user} ${q([tree])} /bin/sh -c ${q([`cd ${out.start.cwd} && exec ${q([...out.start.entrypoint, ...out.start.cmd])}`])} &`,
      'pid=$!',
      'for i in $(seq 50); do',
      `  if chroot ${q([tree])} ${q(out.health!.exec)}; then chroot ${q([tree])} wget -q -O - http://127.0.0.1:8080/index.html; kill $pid; exit 0; fi`,
      '  sleep 0.1',
      'done',
      'kill $pid; exit 1',
    ].join('\n');
    const { stdout } = await run(
      'unshare',
      ['--net', '--mount', '--propagation', 'private', 'sh', '-c', script],
      { env: out.start.env },
    );
    expect(stdout).toBe('<h1>fleet v2</h1>\n');
  });

  it('is deterministic: the same image twice gives the same rootfs digest', async () => {
    const a = await importImage(image.ref, {
      platform,
      workDir: join(work, 'w'),
      outputDir: join(work, 'det-a'),
    });
    const b = await importImage(image.ref, {
      platform,
      workDir: join(work, 'w'),
      outputDir: join(work, 'det-b'),
    });
    expect(b.rootfs.digest).toBe(a.rootfs.digest);
    expect(await fs.readdir(join(work, 'w'))).toEqual([]);
  });

  it('docker-archive gives the same rootfs object as the OCI layout', async () => {
    const ref = await toDockerArchive(image, join(work, 'httpd.tar'));
    const a = await importImage(image.ref, {
      platform,
      workDir: join(work, 'w'),
      outputDir: join(work, 'out-a'),
    });
    const b = await importImage(ref, { platform, workDir: join(work, 'w'), outputDir: join(work, 'out-b') });
    expect(b.rootfs.digest).toBe(a.rootfs.digest);
    expect(b.start).toEqual(a.start);
    expect(b.health).toEqual(a.health);
  });
});

describe('converter output into the agent store', () => {
  it('adopts the rootfs object, references it from a revision, and gc keeps it', async () => {
    const data = join(work, 'storage');
    const objects = new ObjectStore(data);
    const revisions = new RevisionStore(data);
    await objects.init();
    await revisions.init();
    // The converter works inside the store's filesystem so adoption is a link, not a copy.
    const out = await importImage(image.ref, {
      platform,
      workDir: join(data, 'tmp'),
      outputDir: join(data, 'tmp', 'out'),
    });
    await objects.adoptFile(out.rootfs.digest, out.rootfsFile);
    const manifest = parseRevisionManifest(
      aRevision({
        containers: {
          web: aContainer({
            image: { ref: out.image.ref, digest: out.image.digest },
            rootfs: out.rootfs,
            start: out.start,
            ...(out.health ? { health: out.health } : {}),
          }),
        },
      }),
    );
    if (!manifest.ok) throw manifest.error;
    await revisions.write(1, manifest.value);
    expect((await revisions.read(1)).containers.web?.start.user).toBe(`${WEB_UID}:${WEB_UID}`);
    expect(await objects.verify(out.rootfs.digest)).toBe(true);
    expect((await collectGarbage(objects, revisions, [1])).deleted).toEqual([]);
    expect((await collectGarbage(objects, revisions, [])).deleted).toEqual([out.rootfs.digest]);
  });
});

describe('layer semantics beyond the busybox image', () => {
  it('whiteouts and opaque dirs hide only lower layers, whatever the entry order; types can be replaced', async () => {
    const lower = rawTar([
      { name: 'd/', type: '5' },
      { name: 'd/old', body: 'lower' },
      { name: 'd/sub/', type: '5' },
      { name: 'd/sub/x', body: 'lower' },
      { name: 'f', body: 'a file in layer 1' },
      { name: 'w/', type: '5' },
      { name: 'w/a', body: 'lower' },
      { name: 'w/keep', body: 'lower' },
      { name: 'shared', body: 'linked from layer 2', mode: 0o640, uid: 7, gid: 8 },
      { name: 'lnk', type: '2', linkname: 'd' },
    ]);
    const upper = rawTar([
      { name: 'd/new', body: 'upper, before the marker' },
      { name: 'd/.wh..wh..opq' },
      { name: 'd/sub/', type: '5', mode: 0o700 },
      { name: 'd/sub/y', body: 'upper' },
      { name: '.wh.f' },
      { name: 'f/', type: '5' },
      { name: 'f/inside', body: 'file replaced by a dir' },
      { name: 'w/.wh.a' },
      { name: 'hl', type: '1', linkname: 'shared' },
      { name: 'lnk/through-link', body: 'written via a symlink in a lower layer' },
      { name: 'dev/', type: '5' },
      { name: 'dev/null', type: '3', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/loop9', type: '4', devmajor: 7, devminor: 9, mode: 0o660, gid: 6 },
      { name: 'run-fifo', type: '6', mode: 0o620 },
    ]);
    const img = await writeOciLayout({
      layoutDir: join(work, 'semantics'),
      layers: [await rawLayer(lower), await rawLayer(upper)],
      config: { Cmd: ['/bin/sh'] },
    });
    const tree = join(work, 'tree-semantics');
    await importImage(img.ref, {
      platform,
      workDir: join(work, 'w'),
      outputDir: join(work, 'out-sem'),
      keepRootfsAt: tree,
    });
    expect((await fs.readdir(join(tree, 'd'))).sort()).toEqual(['new', 'sub', 'through-link']);
    expect(await fs.readdir(join(tree, 'd/sub'))).toEqual(['y']);
    expect((await fs.stat(join(tree, 'd/sub'))).mode & 0o7777).toBe(0o700);
    expect(await fs.readFile(join(tree, 'f/inside'), 'utf8')).toBe('file replaced by a dir');
    expect(await fs.readdir(join(tree, 'w'))).toEqual(['keep']);
    const [s, h] = [await fs.stat(join(tree, 'shared')), await fs.stat(join(tree, 'hl'))];
    expect(h.ino).toBe(s.ino);
    expect([h.mode & 0o7777, h.uid, h.gid]).toEqual([0o640, 7, 8]);
    const nul = await fs.lstat(join(tree, 'dev/null'));
    expect([nul.isCharacterDevice(), nul.rdev, nul.mode & 0o7777]).toEqual([true, (1 << 8) | 3, 0o666]);
    const loop = await fs.lstat(join(tree, 'dev/loop9'));
    expect([loop.isBlockDevice(), loop.rdev, loop.gid]).toEqual([true, (7 << 8) | 9, 6]);
    const fifo = await fs.lstat(join(tree, 'run-fifo'));
    expect([fifo.isFIFO(), fifo.mode & 0o7777]).toEqual([true, 0o620]);
  });
});

describe('user resolution reads the image, not the host', () => {
  it('follows an absolute /etc/passwd symlink inside the image root', async () => {
    const tar = rawTar([
      { name: 'etc/', type: '5' },
      { name: 'etc/passwd.real', body: 'appuser:x:4242:4343::/:/bin/sh\n' },
      { name: 'etc/group', body: 'apps:x:4343:\nops:x:77:\n' },
      { name: 'etc/passwd', type: '2', linkname: '/etc/passwd.real' },
    ]);
    const img = await writeOciLayout({
      layoutDir: join(work, 'passwd-link'),
      layers: [await rawLayer(tar)],
      config: { Cmd: ['/bin/sh'], User: 'appuser:ops' },
    });
    const out = await importImage(img.ref, {
      platform,
      workDir: join(work, 'w'),
      outputDir: join(work, 'out-pw'),
    });
    expect(out.start.user).toBe('4242:77');
  });
});
