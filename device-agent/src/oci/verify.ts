import { createHash } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { OciError } from './errors.js';

export const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function sha256Digest(data: Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function checkDigestSyntax(digest: string, what: string): void {
  if (!DIGEST_RE.test(digest)) {
    const algo = digest.split(':')[0];
    if (algo !== 'sha256' && /^[a-z0-9+._-]+:[a-zA-Z0-9=_-]+$/.test(digest)) {
      throw new OciError(
        'unsupported',
        `${what}: digest algorithm ${JSON.stringify(algo)} is not supported (only sha256)`,
      );
    }
    throw new OciError('invalid-image', `${what}: malformed digest ${JSON.stringify(digest)}`);
  }
}

/** Checks a whole in-memory blob (manifests, configs) against its descriptor. */
export function verifyBytes(data: Uint8Array, digest: string, what: string, size?: number): void {
  checkDigestSyntax(digest, what);
  if (size !== undefined && data.length !== size) {
    throw new OciError(
      'digest-mismatch',
      `${what} ${digest}: size is ${data.length} bytes, descriptor says ${size}`,
    );
  }
  const actual = sha256Digest(data);
  if (actual !== digest)
    throw new OciError('digest-mismatch', `${what}: digest mismatch: expected ${digest}, got ${actual}`);
}

/**
 * Hashes bytes as they stream through and fails the stream at its end when the digest (or
 * size) is not the expected one. Bytes already passed downstream are only ever written to a
 * temp dir, which the importer throws away on any error.
 */
export function verifyingStream(digest: string, what: string, size?: number): Transform {
  checkDigestSyntax(digest, what);
  const hash = createHash('sha256');
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length;
      if (size !== undefined && seen > size) {
        cb(
          new OciError(
            'digest-mismatch',
            `${what} ${digest}: more than the ${size} bytes its descriptor declares`,
          ),
        );
        return;
      }
      hash.update(chunk);
      cb(null, chunk);
    },
    flush(cb: TransformCallback) {
      if (size !== undefined && seen !== size) {
        cb(new OciError('corrupt-layer', `${what} ${digest}: truncated: got ${seen} of ${size} bytes`));
        return;
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest)
        cb(new OciError('digest-mismatch', `${what}: digest mismatch: expected ${digest}, got ${actual}`));
      else cb();
    },
  });
}

export type Compression = 'gzip' | 'zstd' | 'none';

/** Node 20's zlib has no zstd (it arrived in Node 22.15/23.8); detected at run time. */
export const zstdAvailable =
  typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === 'function';

export function sniffCompression(head: Uint8Array): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/**
 * Decompresses by content (gzip, zstd when Node has it, or nothing), for use as a pipeline
 * stage: media types lie in the wild (docker-archive layers are often gzip under a plain
 * `.tar` name). zlib errors become `corrupt-layer` errors naming the blob.
 */
export function decompressing(what: string): (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer> {
  return async function* (source) {
    const it = source[Symbol.asyncIterator]();
    const head: Buffer[] = [];
    let headLen = 0;
    while (headLen < 4) {
      const r = await it.next();
      if (r.done) break;
      head.push(r.value);
      headLen += r.value.length;
    }
    if (headLen === 0) throw new OciError('corrupt-layer', `${what} is empty`);
    const kind = sniffCompression(Buffer.concat(head));
    async function* all(): AsyncGenerator<Buffer> {
      yield* head;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    }
    if (kind === 'none') {
      yield* all();
      return;
    }
    if (kind === 'zstd' && !zstdAvailable) {
      throw new OciError(
        'unsupported',
        `${what} is zstd-compressed and this Node (${process.version}) has no zstd in zlib`,
      );
    }
    const z: Transform =
      kind === 'gzip'
        ? zlib.createGunzip()
        : (zlib as unknown as { createZstdDecompress: () => Transform }).createZstdDecompress();
    const feeding = pipeline(Readable.from(all()), z);
    feeding.catch(() => undefined); // surfaced through the iteration below
    try {
      for await (const chunk of z) yield chunk as Buffer;
      await feeding;
    } catch (e) {
      if (e instanceof OciError) throw e;
      throw new OciError('corrupt-layer', `${what} is corrupt or truncated (${(e as Error).message})`, {
        cause: e,
      });
    } finally {
      z.destroy();
    }
  };
}
