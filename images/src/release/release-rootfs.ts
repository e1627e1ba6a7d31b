import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseReleaseManifest, signManifest, type ReleaseManifest, type SigningKey } from '@fleet/protocol';
import { ImageManifest } from '../builder/manifest.js';

export interface ReleaseRootfsOptions {
  /** The slot image (`<name>.rootfs.ext4` beside a built image). */
  rootfsImage: string;
  board: string;
  /** Further boards the same slot image runs on (the manifest's board is always included). */
  compatibleBoards?: string[];
  version: string;
  sequence: number;
  /** The manifest's `release` name; default `<board>-<version>`. */
  release?: string;
  notes?: string;
  minAgentVersion?: string;
  key: SigningKey;
  /**
   * Writes `<outDir>/release.json` and `<outDir>/objects/sha256/<hex>`: the layout of
   * `fleet-agent install DIR` and what is uploaded to a hub (PUT the object, POST the release).
   */
  outDir: string;
}

export interface ReleaseRootfsResult {
  manifest: ReleaseManifest;
  manifestPath: string;
  object: { digest: `sha256:${string}`; size: number; path: string };
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The slot image named by an image manifest (`fleet-image build` output). */
export async function rootfsOfImageManifest(
  manifestPath: string,
): Promise<{ rootfsImage: string; board: string; digest: string }> {
  const parsed = ImageManifest.safeParse(JSON.parse(await readFile(manifestPath, 'utf8')));
  if (!parsed.success) {
    throw new Error(
      `${manifestPath} is not a fleet-image manifest: ${parsed.error.issues.map((i) => `$.${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return {
    rootfsImage: join(dirname(manifestPath), parsed.data.rootfs.file),
    board: parsed.data.board,
    digest: parsed.data.rootfs.digest,
  };
}

/**
 * A system release from a built root filesystem slot image: the image as a content-addressed
 * object (digest and size), and a signed `fleet-release@1` manifest whose `system.rootfs`
 * (`slot: "ab"`) names it and which has no containers of its own. The agent writes the object
 * into the inactive slot, arms a try-boot and commits after the new slot booted.
 */
export async function releaseRootfs(o: ReleaseRootfsOptions): Promise<ReleaseRootfsResult> {
  const st = await stat(o.rootfsImage).catch(() => null);
  if (!st?.isFile())
    throw new Error(`${o.rootfsImage}: no such slot image (build one with fleet-image build)`);
  if (st.size === 0) throw new Error(`${o.rootfsImage} is empty`);
  const hex = await sha256Of(o.rootfsImage);
  const digest = `sha256:${hex}` as const;
  const unsigned = parseReleaseManifest({
    spec: 'fleet-release@1',
    release: o.release ?? `${o.board}-${o.version}`,
    board: o.board,
    version: o.version,
    notes: o.notes ?? '',
    compatibleBoards: [o.board, ...(o.compatibleBoards ?? []).filter((b) => b !== o.board)],
    minAgentVersion: o.minAgentVersion ?? '0.0.0',
    sequence: o.sequence,
    system: { rootfs: { digest, size: st.size, slot: 'ab' } },
    containers: {},
    signatures: [],
  });
  if (!unsigned.ok) {
    throw new Error(
      `release manifest invalid: ${unsigned.error.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    );
  }
  const manifest = signManifest(unsigned.value, o.key);

  const objectDir = join(o.outDir, 'objects', 'sha256');
  await mkdir(objectDir, { recursive: true });
  const objectPath = join(objectDir, hex);
  const have = await stat(objectPath).catch(() => null);
  if (!have || have.size !== st.size) {
    const tmp = `${objectPath}.tmp-${process.pid}`;
    await rm(tmp, { force: true });
    // A copy, not a link: the object must not change when the slot image is edited later.
    await copyFile(o.rootfsImage, tmp);
    await rename(tmp, objectPath);
  }
  const manifestPath = join(o.outDir, 'release.json');
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return { manifest, manifestPath, object: { digest, size: st.size, path: objectPath } };
}
