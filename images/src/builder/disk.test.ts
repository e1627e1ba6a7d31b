import { describe, expect, it } from 'vitest';
import { parseBoardDefinition } from '@fleet/board-support';
import qemu from '../../../board-support/boards/qemu-aarch64/board.json' with { type: 'json' };
import { placePartitions, sfdiskScript } from './disk.js';

describe('disk layout', () => {
  it('packs the partitions after the env gap, in sectors for sfdisk', () => {
    const parsed = parseBoardDefinition(qemu);
    if (!parsed.ok) throw new Error(parsed.issues.join());
    const { partitions, diskSize } = placePartitions(parsed.value);
    expect(partitions.map((p) => [p.number, p.offset / 2 ** 20, p.size / 2 ** 20])).toEqual([
      [1, 4, 64],
      [2, 68, 384],
      [3, 452, 384],
      [4, 836, 640],
    ]);
    expect(diskSize).toBe(1476 * 2 ** 20);
    expect(sfdiskScript(parsed.value, partitions)).toBe(
      'label: dos\nlabel-id: 0xf1ee7001\nunit: sectors\n' +
        'start=8192, size=131072, type=0c, bootable\nstart=139264, size=786432, type=83\n' +
        'start=925696, size=786432, type=83\nstart=1712128, size=1310720, type=83\n',
    );
  });
});
