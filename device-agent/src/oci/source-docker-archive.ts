import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { posix } from 'node:path';
import { OciError } from './errors.js';
import { DockerArchiveManifest, ImageConfig } from './image-types.js';
import { checkConfigPlatform, type PlatformSpec } from './platform.js';
import { parseJson, type ImageSource, type LayerBlob, type ResolvedImage } from './source.js';
import { indexTarFile, type IndexedEntry } from './tar-index.js';
import { checkDigestSyntax, sha256Digest } from './verify.js';

/**
 * A `docker save` tarball: manifest.json + config JSON + one tar per layer. Layers carry no
 * blob digest of their own: each is verified against the config's diff_id (the sha256 of the
 * uncompressed tar), and the config against its file name when that is a digest.
 */
export class DockerArchiveSource implements ImageSource {
  readonly ref: string;
  constructor(
    readonly file: string,
    /** `name:tag` from RepoTags, when the archive holds several images. */
    readonly tag?: string,
  ) {
    this.ref = `docker-archive:${file}${tag !== undefined ? `:${tag}` : ''}`;
  }

  async resolve(want: PlatformSpec, _signal?: AbortSignal): Promise<ResolvedImage> {
    await fs.access(this.file).catch(() => {
      throw new OciError('not-found', `${this.ref}: file not found`);
    });
    const entries = await indexTarFile(this.file, this.ref);
    /** Follows symlinks between entries (`docker save` links duplicate layers), a few hops at most. */
    const lookup = (name: string): IndexedEntry => {
      let n = posix.normalize(name).replace(/^(\.\/)+/, '');
      for (let hop = 0; hop < 8; hop++) {
        const e = entries.get(n);
        if (e === undefined)
          throw new OciError('not-found', `${this.ref}: ${JSON.stringify(name)} is not in the archive`);
        if (e.header.type === 'file') return e;
        if (e.header.type !== 'symlink' && e.header.type !== 'hardlink')
          throw new OciError('invalid-image', `${this.ref}: ${JSON.stringify(name)} is not a file`);
        const target =
          e.header.type === 'symlink' ? posix.join(posix.dirname(n), e.header.linkname) : e.header.linkname;
        n = posix.normalize(target).replace(/^(\.\/)+/, '');
        if (n.startsWith('../') || n.startsWith('/'))
          throw new OciError(
            'hostile-entry',
            `${this.ref}: ${JSON.stringify(name)} links outside the archive`,
          );
      }
      throw new OciError('invalid-image', `${this.ref}: too many links for ${JSON.stringify(name)}`);
    };
    const read = async (e: IndexedEntry, what: string): Promise<Buffer> => {
      if (e.header.size > 64 << 20)
        throw new OciError('invalid-image', `${this.ref}: ${what} is implausibly large`);
      const fh = await fs.open(this.file, 'r');
      try {
        const buf = Buffer.alloc(e.header.size);
        await fh.read(buf, 0, buf.length, e.offset);
        return buf;
      } finally {
        await fh.close();
      }
    };
    const manifest = parseJson(
      DockerArchiveManifest,
      await read(lookup('manifest.json'), 'manifest.json'),
      `${this.ref} manifest.json`,
    );
    let item = manifest[0];
    if (this.tag !== undefined) {
      const wanted = this.tag;
      item = manifest.find((m) => (m.RepoTags ?? []).some((t) => t === wanted || t.endsWith(`/${wanted}`)));
      if (item === undefined)
        throw new OciError(
          'not-found',
          `${this.ref}: no image tagged ${JSON.stringify(wanted)} in the archive`,
        );
    } else if (manifest.length > 1) {
      throw new OciError(
        'invalid-reference',
        `${this.ref}: the archive holds ${manifest.length} images; name one (docker-archive:file:name:tag)`,
      );
    }
    if (item === undefined) throw new OciError('invalid-image', `${this.ref}: manifest.json lists no image`);
    const configBytes = await read(lookup(item.Config), item.Config);
    const configDigest = sha256Digest(configBytes);
    // `<hex>.json` (docker save) or `blobs/sha256/<hex>` (newer docker): the name is the digest.
    const named = /([0-9a-f]{64})(\.json)?$/.exec(item.Config)?.[1];
    if (named !== undefined && `sha256:${named}` !== configDigest) {
      throw new OciError(
        'digest-mismatch',
        `${this.ref}: config ${item.Config}: digest mismatch: expected sha256:${named}, got ${configDigest}`,
      );
    }
    const config = parseJson(ImageConfig, configBytes, `${this.ref} config`);
    checkConfigPlatform(config, want, this.ref);
    if (config.rootfs.diff_ids.length !== item.Layers.length) {
      throw new OciError(
        'invalid-image',
        `${this.ref}: manifest.json lists ${item.Layers.length} layers but the config has ${config.rootfs.diff_ids.length} diff_ids`,
      );
    }
    const layers = item.Layers.map((name, i): LayerBlob => {
      const e = lookup(name);
      const diffId = config.rootfs.diff_ids[i]!;
      checkDigestSyntax(diffId, `diff_id ${i + 1} of ${this.ref}`);
      return {
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar',
        diffId,
        label: `layer ${i + 1}/${item.Layers.length} ${name}`,
        open: async () =>
          e.header.size === 0
            ? (async function* () {})()
            : createReadStream(this.file, {
                start: e.offset,
                end: e.offset + e.header.size - 1,
                highWaterMark: 1 << 20,
              }),
      };
    });
    return { ref: this.ref, digest: configDigest, configDigest, config, layers };
  }
}
