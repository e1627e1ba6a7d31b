import { cp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './processes.js';

const APPLETS = ['sh', 'httpd', 'wget', 'cat', 'ls', 'sleep', 'echo', 'ps', 'date'];

/**
 * A real OCI image layout for the demo, built with Debian's umoci from busybox-static: a web
 * page served by busybox httpd. `version` changes the page, so two versions differ by one layer.
 */
export async function buildDemoImage(workDir: string, version: string): Promise<string> {
  const layout = join(workDir, `web-${version}`);
  const bundle = join(workDir, `bundle-${version}`);
  await rm(layout, { recursive: true, force: true });
  await rm(bundle, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  const image = `${layout}:${version}`;
  await run('umoci', ['init', '--layout', layout]);
  await run('umoci', ['new', '--image', image]);
  await run('umoci', ['unpack', '--image', image, bundle]);
  const root = join(bundle, 'rootfs');
  for (const d of ['bin', 'etc', 'www', 'tmp', 'run', 'var/lib/web'])
    await mkdir(join(root, d), { recursive: true });
  await cp('/bin/busybox', join(root, 'bin/busybox'));
  for (const a of APPLETS) await symlink('busybox', join(root, 'bin', a));
  await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/:/bin/sh\nwww:x:33:33:www:/www:/bin/sh\n');
  await writeFile(join(root, 'etc/group'), 'root:x:0:\nwww:x:33:\n');
  await writeFile(join(root, 'www/index.html'), `<h1>fleet demo ${version}</h1>\n`);
  await run('umoci', ['repack', '--image', image, bundle]);
  await run('umoci', [
    'config',
    '--image',
    image,
    '--config.entrypoint',
    '/bin/httpd',
    ...['-f', '-p', '8080', '-h', '/www'].flatMap((a) => ['--config.cmd', a]),
    '--config.workingdir',
    '/www',
    '--config.user',
    'www',
  ]);
  await rm(bundle, { recursive: true, force: true });
  return layout;
}
