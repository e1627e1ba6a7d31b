// Test images from the real busybox-static binary: a plain rootfs directory and its squashfs.
// (OCI layouts and docker-archives are built by the OCI helpers from such a directory.)
import { execFile } from 'node:child_process';
import { copyFile, chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const BUSYBOX = '/bin/busybox';

export interface BusyboxRootfsOptions {
  /** Content served by httpd from /www. */
  readonly indexHtml?: string;
  /** Extra files, path (absolute inside the rootfs) to content; mode 0755 for scripts under /bin. */
  readonly files?: Readonly<Record<string, string>>;
}

/**
 * A minimal rootfs: busybox with every applet linked in /bin, /etc/passwd+group with root and
 * an unprivileged `app` (1000:1000), /www/index.html for `httpd -f -p 80 -h /www`.
 */
export async function buildBusyboxRootfs(dir: string, opts: BusyboxRootfsOptions = {}): Promise<string> {
  for (const d of [
    'bin',
    'sbin',
    'etc',
    'proc',
    'sys',
    'dev',
    'tmp',
    'www',
    'var',
    'run',
    'root',
    'home/app',
    'usr/bin',
    'usr/sbin',
  ]) {
    await mkdir(join(dir, d), { recursive: true });
  }
  await chmod(join(dir, 'tmp'), 0o1777);
  await copyFile(BUSYBOX, join(dir, 'bin/busybox'));
  await chmod(join(dir, 'bin/busybox'), 0o755);
  const { stdout } = await run(BUSYBOX, ['--list']);
  for (const applet of stdout.split('\n').filter((a) => a && a !== 'busybox')) {
    await symlink('busybox', join(dir, 'bin', applet)).catch(() => undefined);
  }
  await writeFile(
    join(dir, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n',
  );
  await writeFile(join(dir, 'etc/group'), 'root:x:0:\napp:x:1000:\n');
  await writeFile(join(dir, 'www/index.html'), opts.indexHtml ?? 'hello from busybox httpd\n');
  for (const [path, content] of Object.entries(opts.files ?? {})) {
    const target = join(dir, path);
    await mkdir(join(target, '..'), { recursive: true });
    await writeFile(target, content);
    if (path.startsWith('/bin/') || path.startsWith('/usr/bin/')) await chmod(target, 0o755);
  }
  return dir;
}

/** A read-only squashfs object of `rootfsDir` (deterministic: fixed times, root-owned). */
export async function buildSquashfs(rootfsDir: string, outFile: string): Promise<string> {
  await run('mksquashfs', [
    rootfsDir,
    outFile,
    '-noappend',
    '-quiet',
    '-no-progress',
    '-all-root',
    '-mkfs-time',
    '0',
    '-all-time',
    '0',
  ]);
  return outFile;
}

export async function tempDir(prefix: string): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}
