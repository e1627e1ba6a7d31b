import { createHash } from 'node:crypto';

/** A bmaptool block map (format 1.x/2.x): which blocks of an image carry data. */
export interface BmapRange {
  first: number;
  last: number;
  /** Checksum of the range's bytes (type from `checksumType`), when present. */
  checksum?: string;
}

export interface Bmap {
  version: string;
  imageSize: number;
  blockSize: number;
  blocksCount: number;
  mappedBlocksCount: number;
  checksumType?: 'sha256' | 'sha1';
  ranges: BmapRange[];
}

function tag(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>\\s*([^<]*?)\\s*</${name}>`).exec(xml)?.[1];
}

function int(xml: string, name: string): number {
  const text = tag(xml, name);
  if (text === undefined || !/^\d+$/.test(text)) throw new Error(`bmap: <${name}> missing or not a number`);
  return Number(text);
}

/**
 * Parse and check a .bmap: its own checksum (computed with the checksum field zeroed, as
 * bmaptool does), ranges inside the image, ordered, not overlapping, and the mapped count.
 */
export function parseBmap(xml: string): Bmap {
  const version = /<bmap version="([0-9.]+)"/.exec(xml)?.[1];
  if (!version) throw new Error('bmap: not a bmap file (no <bmap version="...">)');
  if (!/^[12]\./.test(version)) throw new Error(`bmap: unsupported version ${version}`);
  const imageSize = int(xml, 'ImageSize');
  const blockSize = int(xml, 'BlockSize');
  const blocksCount = int(xml, 'BlocksCount');
  const mappedBlocksCount = int(xml, 'MappedBlocksCount');
  const checksumType = tag(xml, 'ChecksumType');
  if (checksumType !== undefined && checksumType !== 'sha256' && checksumType !== 'sha1')
    throw new Error(`bmap: unsupported checksum type ${checksumType}`);
  const fileChecksum = tag(xml, 'BmapFileChecksum') ?? tag(xml, 'BmapFileSHA1');
  if (fileChecksum && checksumType) {
    const zeroed = xml.replace(fileChecksum, '0'.repeat(fileChecksum.length));
    const actual = createHash(checksumType).update(zeroed).digest('hex');
    if (actual !== fileChecksum)
      throw new Error(
        `bmap: file checksum mismatch (${actual} != ${fileChecksum}): the .bmap is corrupt or edited`,
      );
  }
  if (blockSize <= 0 || Math.ceil(imageSize / blockSize) !== blocksCount)
    throw new Error('bmap: ImageSize, BlockSize and BlocksCount disagree');
  const ranges: BmapRange[] = [];
  const re = /<Range(?:\s+chksum="([0-9a-f]+)")?\s*>\s*(\d+)(?:-(\d+))?\s*<\/Range>/g;
  let mapped = 0;
  for (const m of xml.matchAll(re)) {
    const first = Number(m[2]);
    const last = m[3] === undefined ? first : Number(m[3]);
    if (last < first || last >= blocksCount)
      throw new Error(`bmap: range ${first}-${last} outside the image's ${blocksCount} blocks`);
    const prev = ranges.at(-1);
    if (prev && first <= prev.last)
      throw new Error(`bmap: range ${first}-${last} overlaps or precedes ${prev.first}-${prev.last}`);
    ranges.push({ first, last, ...(m[1] ? { checksum: m[1] } : {}) });
    mapped += last - first + 1;
  }
  if (mapped !== mappedBlocksCount)
    throw new Error(`bmap: ranges map ${mapped} blocks but MappedBlocksCount says ${mappedBlocksCount}`);
  return {
    version,
    imageSize,
    blockSize,
    blocksCount,
    mappedBlocksCount,
    ...(checksumType ? { checksumType } : {}),
    ranges,
  };
}

/** Byte extent of a range (the last block may be partial). */
export function rangeBytes(bmap: Bmap, range: BmapRange): { offset: number; length: number } {
  const offset = range.first * bmap.blockSize;
  const end = Math.min((range.last + 1) * bmap.blockSize, bmap.imageSize);
  return { offset, length: end - offset };
}
