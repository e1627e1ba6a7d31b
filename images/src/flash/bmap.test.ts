import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseBmap, rangeBytes } from './bmap.js';

function aBmap(
  ranges: string,
  opts: { mapped?: number; size?: number; blocks?: number; version?: string } = {},
): string {
  const body = `<?xml version="1.0" ?>
<bmap version="${opts.version ?? '2.0'}">
    <ImageSize> ${opts.size ?? 40960} </ImageSize>
    <BlockSize> 4096 </BlockSize>
    <BlocksCount> ${opts.blocks ?? 10} </BlocksCount>
    <MappedBlocksCount> ${opts.mapped ?? 3} </MappedBlocksCount>
    <ChecksumType> sha256 </ChecksumType>
    <BmapFileChecksum> ${'0'.repeat(64)} </BmapFileChecksum>
    <BlockMap>
${ranges}
    </BlockMap>
</bmap>
`;
  const sum = createHash('sha256').update(body).digest('hex');
  return body.replace('0'.repeat(64), sum);
}

const good = `        <Range chksum="${'a'.repeat(64)}"> 0 </Range>\n        <Range chksum="${'b'.repeat(64)}"> 5-6 </Range>`;

describe('bmap parser', () => {
  it('reads sizes, ranges and per-range checksums', () => {
    const bmap = parseBmap(aBmap(good));
    expect(bmap).toMatchObject({
      version: '2.0',
      imageSize: 40960,
      blockSize: 4096,
      blocksCount: 10,
      mappedBlocksCount: 3,
      checksumType: 'sha256',
    });
    expect(bmap.ranges).toEqual([
      { first: 0, last: 0, checksum: 'a'.repeat(64) },
      { first: 5, last: 6, checksum: 'b'.repeat(64) },
    ]);
    expect(rangeBytes(bmap, { first: 5, last: 6 })).toEqual({ offset: 20480, length: 8192 });
  });

  it('clips the last range to a partial last block', () => {
    const bmap = parseBmap(aBmap('        <Range> 9 </Range>', { size: 38000, mapped: 1 }));
    expect(rangeBytes(bmap, { first: 9, last: 9 })).toEqual({ offset: 36864, length: 1136 });
  });

  it.each([
    ['not a bmap', () => '<xml/>', 'not a bmap file'],
    ['a future version', () => aBmap(good, { version: '3.0' }), 'unsupported version 3.0'],
    ['an edited file', () => aBmap(good).replace('5-6', '5-7'), 'bmap: file checksum mismatch'],
    [
      'a wrong mapped count',
      () => aBmap(good, { mapped: 4 }),
      'ranges map 3 blocks but MappedBlocksCount says 4',
    ],
    [
      'a range past the end',
      () => aBmap('        <Range> 8-10 </Range>', { mapped: 3 }),
      'range 8-10 outside',
    ],
    [
      'overlapping ranges',
      () => aBmap('        <Range> 0-5 </Range>\n        <Range> 5-6 </Range>', { mapped: 8 }),
      'overlaps or precedes',
    ],
    [
      'inconsistent sizes',
      () => aBmap(good, { blocks: 11 }),
      'ImageSize, BlockSize and BlocksCount disagree',
    ],
  ])('rejects %s', (_what, make, message) => {
    expect(() => parseBmap(make())).toThrow(message);
  });
});
