import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importImage, OciError, zstdAvailable, type OciErrorCode } from '../../src/oci/index.js';
import {
  buildBusyboxImage,
  hostArchitecture,
  HTTPD_CONFIG,
  rawLayer,
  rawTar,
  run,
  toDockerArchive,
  writeOciLayout,
  type ImageConfigInput,
  type Layer,
  type OciLayoutImage,
} from './helpers/oci-image.js';

/**
 * Every bad input of issue 3 that reaches the converter: the error names the cause (code and
 * the entry/layer/blob at fault) and nothing is left in the work or output directory.
 */

let work: string;
let image: OciLayoutImage;
let n = 0;
const platform = `linux/${hostArchitecture()}`;
const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

beforeAll(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'fleet-oci-bad-'));
  image = await buildBusyboxImage(join(work, 'img'));
});
afterAll(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

async function layout(
  layers: Layer[],
  config: ImageConfigInput = HTTPD_CONFIG,
  platforms?: { architecture: string }[],
): Promise<OciLayoutImage> {
  return writeOciLayout({
    layoutDir: join(work, `layout-${++n}`),
    layers,
    config,
    ...(platforms !== undefined ? { platforms } : {}),
  });
}

/** Imports, expects an OciError with `code` whose message matches, and checks nothing stayed behind. */
async function expectFailure(
  ref: string,
  code: OciErrorCode,
  message: RegExp | string,
  opts: { platform?: string; dir?: string } = {},
): Promise<OciError> {
  const base = opts.dir ?? join(work, `run-${++n}`);
  const workDir = join(base, 'work');
  const outputDir = join(base, 'out');
  const err = await importImage(ref, { platform: opts.platform ?? platform, workDir, outputDir }).catch(
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OciError);
  const pattern =
    typeof message === 'string' ? new RegExp(message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : message;
  expect({ code: (err as OciError).code, message: (err as OciError).message }).toEqual({
    code,
    message: expect.stringMatching(pattern),
  });
  expect(await fs.readdir(workDir)).toEqual([]);
  expect(await fs.readdir(outputDir)).toEqual([]);
  return err as OciError;
}

const blobPath = (img: OciLayoutImage, digest: string): string =>
  join(img.layoutDir, 'blobs/sha256', digest.slice(7));

describe('corrupt, truncated and mismatched layers', () => {
  it('a layer blob whose bytes do not match its digest', async () => {
    const img = await layout(image.layers);
    const layer2 = image.layers[1]!;
    const blob = Buffer.from(layer2.blob);
    blob[4] = blob[4]! ^ 0xff; // gzip header MTIME: still decompresses, only the digest differs
    await fs.writeFile(blobPath(img, layer2.digest), blob);
    await expectFailure(
      img.ref,
      'digest-mismatch',
      `layer 2/2 ${layer2.digest}: digest mismatch: expected ${layer2.digest}, got ${sha256(blob)}`,
    );
  });

  it('a corrupt layer (valid digest, broken deflate stream)', async () => {
    const good = image.layers[1]!.blob;
    const blob = Buffer.from(good);
    for (let i = 40; i < 80; i++) blob[i] = 0xff;
    const bad: Layer = { blob, digest: sha256(blob), diffId: image.layers[1]!.diffId };
    const img = await layout([image.layers[0]!, bad]);
    await expectFailure(
      img.ref,
      'corrupt-layer',
      new RegExp(`layer 2/2 ${bad.digest} is corrupt or truncated \\(.+\\)`),
    );
  });

  it('a truncated layer (valid digest of the truncated bytes)', async () => {
    const good = image.layers[0]!.blob;
    const blob = good.subarray(0, Math.floor(good.length / 2));
    const bad: Layer = { blob, digest: sha256(blob), diffId: image.layers[0]!.diffId };
    const img = await layout([bad, image.layers[1]!]);
    await expectFailure(
      img.ref,
      'corrupt-layer',
      new RegExp(`layer 1/2 ${bad.digest} is corrupt or truncated \\(unexpected end of file\\)`),
    );
  });

  it('a layer blob cut short on disk (descriptor size and digest of the whole)', async () => {
    const img = await layout(image.layers);
    const l1 = image.layers[0]!;
    await fs.truncate(blobPath(img, l1.digest), 1000);
    await expectFailure(img.ref, 'corrupt-layer', new RegExp(`layer 1/2 ${l1.digest}.*(truncated)`));
  });

  it('an uncompressed layer that does not match the config diff_id', async () => {
    const l2 = image.layers[1]!;
    const img = await layout([image.layers[0]!, { ...l2, diffId: sha256(Buffer.from('something else')) }]);
    await expectFailure(
      img.ref,
      'digest-mismatch',
      `layer 2/2 ${l2.digest} (uncompressed, diff_id): digest mismatch`,
    );
  });

  it('a missing layer blob', async () => {
    const img = await layout(image.layers);
    await fs.rm(blobPath(img, image.layers[1]!.digest));
    await expectFailure(img.ref, 'not-found', `layer blob ${image.layers[1]!.digest} is missing`);
  });

  it('a truncated docker-archive', async () => {
    const file = join(work, 'cut.tar');
    await toDockerArchive(image, file);
    const { size } = await fs.stat(file);
    await fs.truncate(file, Math.floor(size * 0.6));
    await expectFailure(`docker-archive:${file}`, 'corrupt-layer', /docker-archive:.*cut\.tar is truncated/);
  });
});

describe('compression', () => {
  it('a zstd layer is applied when Node has zstd, refused clearly otherwise', async () => {
    const tar = rawTar([{ name: 'z.txt', body: 'zstd layer' }]);
    await fs.writeFile(join(work, 'z.tar'), tar);
    await run('zstd', ['-q', '-f', join(work, 'z.tar'), '-o', join(work, 'z.tar.zst')]);
    const blob = await fs.readFile(join(work, 'z.tar.zst'));
    const layer: Layer = {
      blob,
      digest: sha256(blob),
      diffId: sha256(tar),
      mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
    };
    const img = await layout([layer], { Cmd: ['/bin/sh'] });
    if (zstdAvailable) {
      const tree = join(work, 'zstd-tree');
      await importImage(img.ref, {
        platform,
        workDir: join(work, 'zw'),
        outputDir: join(work, 'zo'),
        keepRootfsAt: tree,
      });
      expect(await fs.readFile(join(tree, 'z.txt'), 'utf8')).toBe('zstd layer');
    } else {
      await expectFailure(
        img.ref,
        'unsupported',
        `layer 1/1 ${layer.digest} is zstd-compressed and this Node (${process.version}) has no zstd in zlib`,
      );
    }
  });
});

describe('images that cannot run here', () => {
  it('an image for another architecture', async () => {
    const other = hostArchitecture() === 'arm64' ? 'amd64' : 'arm64';
    const img = await layout(image.layers, HTTPD_CONFIG, [{ architecture: other }]);
    const want = other === 'arm64' ? 'linux/amd64' : 'linux/arm64';
    await expectFailure(
      img.ref,
      'wrong-platform',
      `is built for linux/${other}${other === 'arm64' ? '/v8' : ''}, wanted ${want}`,
      { platform: want },
    );
  });

  it('an image with neither entrypoint nor cmd', async () => {
    const img = await layout(image.layers, { ...HTTPD_CONFIG, Entrypoint: null, Cmd: null });
    await expectFailure(img.ref, 'no-command', 'has neither Entrypoint nor Cmd: nothing to run');
  });

  it('a User the image does not define', async () => {
    const img = await layout(image.layers, { ...HTTPD_CONFIG, User: 'ghost' });
    await expectFailure(img.ref, 'unknown-user', `no user "ghost" in the image's /etc/passwd`);
  });
});

describe('hostile tar entries', () => {
  const cases: [string, Parameters<typeof rawTar>[0], RegExp | string, OciErrorCode?][] = [
    [
      'path traversal',
      [{ name: '../escaped.txt', body: 'x' }],
      'entry "../escaped.txt": path traversal ("..")',
    ],
    [
      'a traversal hidden mid-path',
      [
        { name: 'a/', type: '5' },
        { name: 'a/../../escaped.txt', body: 'x' },
      ],
      'entry "a/../../escaped.txt": path traversal',
    ],
    [
      'an absolute path',
      [{ name: '/etc/escaped.txt', body: 'x' }],
      'entry "/etc/escaped.txt": absolute path',
    ],
    [
      'a symlink escaping the root',
      [
        { name: 'usr/', type: '5' },
        { name: 'usr/evil', type: '2', linkname: '../../../etc' },
      ],
      'symlink "usr/evil" -> "../../../etc": target resolves outside the image root',
    ],
    [
      'a hard link escaping the root',
      [{ name: 'evil', type: '1', linkname: '../../etc/passwd' }],
      'hard link "evil" -> target "../../etc/passwd": path traversal',
    ],
    [
      'a hard link to an absolute path',
      [{ name: 'evil', type: '1', linkname: '/etc/passwd' }],
      'hard link "evil" -> target "/etc/passwd": absolute path',
    ],
    [
      'a hard link to nothing',
      [{ name: 'evil', type: '1', linkname: 'nowhere' }],
      'hard link "evil" -> "nowhere": target does not exist',
      'corrupt-layer',
    ],
    ['a whiteout of ..', [{ name: 'etc/.wh...', body: '' }], 'whiteout "etc/.wh...": names no file'],
  ];
  it.each(cases)('%s is refused, naming the entry', async (_what, entries, message, code) => {
    const img = await layout([await rawLayer(rawTar(entries))], { Cmd: ['/bin/sh'] });
    await expectFailure(img.ref, code ?? 'hostile-entry', message);
    await expect(fs.lstat(join(work, 'escaped.txt'))).rejects.toThrow(/ENOENT/);
  });

  it('writing through an absolute symlink stays inside the root', async () => {
    const marker = `fleet-oci-owned-${process.pid}`;
    const tar = rawTar([
      { name: 'etc/', type: '5' },
      { name: 'hostetc', type: '2', linkname: '/etc' },
      { name: `hostetc/${marker}`, body: 'contained' },
      { name: 'up', type: '2', linkname: '/' },
      { name: `up/tmp/${marker}`, body: 'contained too' },
    ]);
    const img = await layout([await rawLayer(tar)], { Cmd: ['/bin/sh'] });
    const tree = join(work, 'contained');
    await importImage(img.ref, {
      platform,
      workDir: join(work, 'cw'),
      outputDir: join(work, 'co'),
      keepRootfsAt: tree,
    });
    expect(await fs.readFile(join(tree, 'etc', marker), 'utf8')).toBe('contained');
    expect(await fs.readFile(join(tree, 'tmp', marker), 'utf8')).toBe('contained too');
    await expect(fs.lstat(join('/etc', marker))).rejects.toThrow(/ENOENT/);
    await expect(fs.lstat(join('/tmp', marker))).rejects.toThrow(/ENOENT/);
  });
});

describe('resources', () => {
  const mnt = join(tmpdir(), `fleet-oci-full-${process.pid}`);
  afterAll(async () => {
    await run('umount', [mnt]).catch(() => undefined);
    await fs.rm(mnt, { recursive: true, force: true });
  });

  it('a full disk while unpacking fails with no-space and leaves the filesystem as it was', async () => {
    await fs.mkdir(mnt, { recursive: true });
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    const before = (await run('df', ['--output=used', mnt])).stdout;
    await expectFailure(image.ref, 'no-space', /no space left on the device/, { dir: mnt });
    expect((await run('df', ['--output=used', mnt])).stdout).toBe(before);
  });

  it('an aborted import stops and cleans up', async () => {
    const ac = new AbortController();
    const base = join(work, 'abort');
    const p = importImage(image.ref, {
      platform,
      workDir: join(base, 'work'),
      outputDir: join(base, 'out'),
      signal: ac.signal,
    });
    ac.abort();
    const err = await p.catch((e: unknown) => e);
    expect((err as OciError).code).toBe('aborted');
    expect(await fs.readdir(join(base, 'work'))).toEqual([]);
  });
});
