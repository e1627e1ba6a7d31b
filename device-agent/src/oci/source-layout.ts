import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { OciError } from './errors.js';
import { ImageIndex, type Descriptor } from './image-types.js';
import type { PlatformSpec } from './platform.js';
import { parseJson, resolveFromDescriptor, type ImageSource, type ResolvedImage } from './source.js';
import { checkDigestSyntax, sha256Digest } from './verify.js';

const REF_NAME = 'org.opencontainers.image.ref.name';

/** An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/...`), as skopeo/umoci/buildah write it. */
export class OciLayoutSource implements ImageSource {
  readonly ref: string;
  constructor(
    readonly dir: string,
    readonly tag?: string,
  ) {
    this.ref = `oci:${dir}${tag !== undefined ? `:${tag}` : ''}`;
  }

  private blobPath(digest: string): string {
    checkDigestSyntax(digest, `blob in ${this.ref}`);
    const [alg, hex] = digest.split(':') as [string, string];
    return join(this.dir, 'blobs', alg, hex);
  }

  private async readBlob(d: { digest: string }): Promise<Buffer> {
    try {
      return await fs.readFile(this.blobPath(d.digest));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new OciError('not-found', `${this.ref}: blob ${d.digest} is missing`);
      throw e;
    }
  }

  async resolve(want: PlatformSpec, signal?: AbortSignal): Promise<ResolvedImage> {
    const layoutMarker = await fs.readFile(join(this.dir, 'oci-layout'), 'utf8').catch(() => null);
    if (layoutMarker === null)
      throw new OciError('not-found', `${this.ref}: not an OCI image layout (no oci-layout file)`);
    const indexBytes = await fs.readFile(join(this.dir, 'index.json'));
    const index = parseJson(ImageIndex, indexBytes, `${this.ref} index.json`);
    let root: Descriptor | { digest: string; mediaType?: string; bytes: Buffer };
    if (this.tag !== undefined) {
      const hits = index.manifests.filter((m) => m.annotations?.[REF_NAME] === this.tag);
      if (hits.length === 0) {
        const tags = index.manifests.map((m) => m.annotations?.[REF_NAME]).filter((t) => t !== undefined);
        throw new OciError(
          'not-found',
          `${this.ref}: no image tagged ${JSON.stringify(this.tag)} (tags: ${tags.join(', ') || 'none'})`,
        );
      }
      if (hits.length === 1) root = hits[0]!;
      else {
        // Several entries under one tag: a multi-platform image written flat into index.json.
        const bytes = Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: 'application/vnd.oci.image.index.v1+json',
            manifests: hits,
          }),
        );
        root = { digest: sha256Digest(bytes), bytes };
      }
    } else if (index.manifests.length === 1) root = index.manifests[0]!;
    else root = { digest: sha256Digest(indexBytes), bytes: indexBytes };
    return resolveFromDescriptor({
      ref: this.ref,
      root,
      want,
      ...(signal !== undefined ? { signal } : {}),
      fetch: (d) => this.readBlob(d),
      layerOpener: (d) => async () => {
        const path = this.blobPath(d.digest);
        await fs.access(path).catch(() => {
          throw new OciError('not-found', `${this.ref}: layer blob ${d.digest} is missing`);
        });
        return createReadStream(path, { highWaterMark: 1 << 20 });
      },
    });
  }
}
