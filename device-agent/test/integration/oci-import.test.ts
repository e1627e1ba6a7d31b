import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importImage } from '../../src/oci/index.js';
import { buildBusyboxImage, hostArchitecture, run, toDockerArchive, WEB_UID, type OciLayoutImage } from './helpers/oci-image.js';

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
    const out = await importImage(image.ref, { platform, workDir: join(work, 'w'), outputDir: join(work, 'out'), keepRootfsAt: tree });
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
    const { stdout } = await run('getfattr', ['--only-values', '-n', 'user.fleet.test', join(tree, 'var/lib/data/tagged')]);
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
    expect(out.health).toEqual({ exec: ['/bin/sh', '-c', 'wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1'], intervalMs: 5000, timeoutMs: 2000, retries: 3, startPeriodMs: 1000 });
    // the squashfs holds the same tree
    const listing = await run('unsquashfs', ['-lln', out.rootfsFile]);
    expect(listing.stdout).toMatch(/-rwsr-xr-x 0\/0 .* squashfs-root\/usr\/local\/bin\/suid-tool/);
    expect(listing.stdout).toMatch(new RegExp(`-rw-r--r-- ${WEB_UID}/${WEB_UID} .* squashfs-root/www/index.html`));
    expect(listing.stdout).not.toMatch(/etc\/motd|opt\/app\/old.txt/);
  });

  it('is deterministic: the same image twice gives the same rootfs digest', async () => {
    const a = await importImage(image.ref, { platform, workDir: join(work, 'w'), outputDir: join(work, 'det-a') });
    const b = await importImage(image.ref, { platform, workDir: join(work, 'w'), outputDir: join(work, 'det-b') });
    expect(b.rootfs.digest).toBe(a.rootfs.digest);
    expect(await fs.readdir(join(work, 'w'))).toEqual([]);
  });

  it('docker-archive gives the same rootfs object as the OCI layout', async () => {
    const ref = await toDockerArchive(image, join(work, 'httpd.tar'));
    const a = await importImage(image.ref, { platform, workDir: join(work, 'w'), outputDir: join(work, 'out-a') });
    const b = await importImage(ref, { platform, workDir: join(work, 'w'), outputDir: join(work, 'out-b') });
    expect(b.rootfs.digest).toBe(a.rootfs.digest);
    expect(b.start).toEqual(a.start);
    expect(b.health).toEqual(a.health);
  });
});
