import { open, truncate, writeFile } from 'node:fs/promises';
import type { BoardDefinition } from '@fleet/board-support';
import { parseBmap, rangeBytes } from '../flash/bmap.js';
import { run } from './exec.js';

export interface PartitionPlacement {
  number: number;
  name: string;
  offset: number;
  size: number;
}

/** Partition offsets and sizes: packed after the first-partition offset, MiB aligned. */
export function placePartitions(board: BoardDefinition): {
  partitions: PartitionPlacement[];
  diskSize: number;
} {
  const mib = 1024 * 1024;
  let offset = board.disk.firstPartitionOffset;
  const partitions = board.partitions.map((p, i) => {
    if (p.size % mib !== 0) throw new Error(`partition ${p.name}: size must be MiB-aligned`);
    const placed = { number: i + 1, name: p.name, offset, size: p.size };
    offset += p.size;
    return placed;
  });
  return { partitions, diskSize: offset };
}

export function sfdiskScript(board: BoardDefinition, placements: PartitionPlacement[]): string {
  const lines = ['label: dos', `label-id: ${board.disk.diskId}`, 'unit: sectors'];
  placements.forEach((placed, i) => {
    const p = board.partitions[i];
    if (!p) throw new Error('partition mismatch');
    lines.push(
      `start=${placed.offset / 512}, size=${placed.size / 512}, type=${p.mbrType.slice(2)}${p.bootable ? ', bootable' : ''}`,
    );
  });
  return `${lines.join('\n')}\n`;
}

const CHUNK = 1 << 20;

/**
 * Copy a filesystem image into the disk at an offset, only the blocks the image file has
 * allocated (its own bmap, from the filesystem tool's writes). Zero bytes inside allocated
 * blocks are written too: a FAT table or a journal must read as zero on any medium, so
 * skipping zero-looking chunks (dd conv=sparse) would let a reused card's old data through.
 */
export async function writeAt(disk: string, image: string, offset: number, limit: number): Promise<number> {
  const { stdout } = await run('bmaptool', ['create', image]);
  const bmap = parseBmap(stdout);
  const src = await open(image, 'r');
  const dst = await open(disk, 'r+');
  try {
    const { size } = await src.stat();
    if (size > limit) throw new Error(`${image} is ${size} bytes, larger than its ${limit}-byte partition`);
    const buf = Buffer.alloc(CHUNK);
    for (const range of bmap.ranges) {
      const { offset: start, length } = rangeBytes(bmap, range);
      for (let pos = 0; pos < length;) {
        const n = Math.min(CHUNK, length - pos);
        const { bytesRead } = await src.read(buf, 0, n, start + pos);
        if (bytesRead !== n) throw new Error(`${image}: short read at ${start + pos}`);
        await dst.write(buf, 0, n, offset + start + pos);
        pos += n;
      }
    }
    return size;
  } finally {
    await src.close();
    await dst.close();
  }
}

/** An empty sparse disk with the board's MBR (sfdisk on a regular file; no loop device). */
export async function createDisk(path: string, board: BoardDefinition): Promise<PartitionPlacement[]> {
  const { partitions, diskSize } = placePartitions(board);
  await writeFile(path, '');
  await truncate(path, diskSize);
  await run('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', path], {
    input: sfdiskScript(board, partitions),
  });
  return partitions;
}
