import { describe, expect, it } from 'vitest';
import { ByteSize, parseBoardDefinition, partitionDevice, partitionNumber } from './board-definition.js';
import type { BoardDefinitionInput } from './board-definition.js';
import qemu from '../boards/qemu-aarch64/board.json' with { type: 'json' };
import rpi from '../boards/raspberrypi4-64/board.json' with { type: 'json' };

function aBoard(change: (b: BoardDefinitionInput) => void = () => {}): unknown {
  const board = structuredClone(qemu) as unknown as BoardDefinitionInput;
  change(board);
  return board;
}

describe('board definition schema', () => {
  it('accepts both shipped boards and resolves sizes', () => {
    for (const input of [qemu, rpi]) {
      const parsed = parseBoardDefinition(input);
      expect(parsed.ok ? [] : parsed.issues).toEqual([]);
    }
    const parsed = parseBoardDefinition(qemu);
    if (!parsed.ok) throw new Error('unreachable');
    expect(parsed.value.bootState.offsets).toEqual([0x100000, 0x110000]);
    expect(parsed.value.partitions.map((p) => p.size)).toEqual([64 << 20, 384 << 20, 384 << 20, 640 << 20]);
    expect(partitionNumber(parsed.value, 'rootfs-b')).toBe(3);
    expect(partitionDevice(parsed.value, 'data')).toBe('/dev/vda4');
    // The emulated board has a hardware watchdog (qemu's i6300esb) whose driver the initramfs loads.
    expect(parsed.value.watchdog).toEqual({ device: '/dev/watchdog', timeoutSeconds: 60 });
    expect(parsed.value.qemu?.devices).toEqual(['i6300esb']);
    expect(parsed.value.kernel.modules).toContain('i6300esb');
  });

  it('parses byte sizes', () => {
    expect(ByteSize.parse('4K')).toBe(4096);
    expect(ByteSize.parse('0x4000')).toBe(16384);
    expect(ByteSize.parse(512)).toBe(512);
    expect(ByteSize.safeParse('4 MB').success).toBe(false);
  });

  it.each([
    [
      'an env copy inside partition 1',
      (b: BoardDefinitionInput) => (b.bootState.offsets = ['0x100000', '0x400000']),
      '$.bootState.offsets[1]: env copy must lie between the MBR and the first partition (0x200..0x400000)',
    ],
    [
      'overlapping env copies',
      (b: BoardDefinitionInput) => (b.bootState.offsets = ['0x100000', '0x102000']),
      '$.bootState.offsets: the two env copies overlap',
    ],
    [
      'an unaligned env copy',
      (b: BoardDefinitionInput) => (b.bootState.offsets = ['0x100001', '0x110000']),
      '$.bootState.offsets[0]: must be a multiple of 512',
    ],
    [
      'two data partitions',
      (b: BoardDefinitionInput) => {
        const p = b.partitions[2];
        if (p) p.role = 'data';
      },
      '$.partitions: exactly one partition must have role "rootfs-b"',
    ],
    [
      'boot not first',
      (b: BoardDefinitionInput) => {
        b.partitions.reverse();
      },
      '$.partitions[0].role: the boot partition must be partition 1',
    ],
    [
      'a bad size',
      (b: BoardDefinitionInput) => {
        const p = b.partitions[0];
        if (p) p.size = '64MB';
      },
      '$.partitions[0].size',
    ],
    [
      'an unknown architecture',
      (b: BoardDefinitionInput) => {
        (b as { architecture: string }).architecture = 'riscv64';
      },
      '$.architecture',
    ],
    [
      'a watchdog outside /dev',
      (b: BoardDefinitionInput) => (b.watchdog = { device: '/tmp/wd', timeoutSeconds: 30 }),
      '$.watchdog.device',
    ],
    [
      'a watchdog timeout of 0 s',
      (b: BoardDefinitionInput) => (b.watchdog = { device: '/dev/watchdog', timeoutSeconds: 0 }),
      '$.watchdog.timeoutSeconds',
    ],
    [
      'a qemu device carrying a second argument',
      (b: BoardDefinitionInput) => {
        if (b.qemu) b.qemu.devices = ['i6300esb -snapshot'];
      },
      '$.qemu.devices[0]',
    ],
  ])('rejects %s with the JSON path', (_what, change, issue) => {
    const parsed = parseBoardDefinition(aBoard(change));
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.issues.join('\n')).toContain(issue);
  });
});
