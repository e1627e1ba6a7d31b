import { z } from 'zod';
import { parseWith, type Result } from './result.js';

// Board definitions (`board-support/boards/<board>/board.json`): validated here because the
// image builder, the boot-control CLI and the agent's boot backends all read them.

/** Sizes as a byte count or "64M"/"4K"/"1G" (binary units), and offsets as hex strings "0x100000". */
export const BoardByteSize = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^(0x[0-9a-fA-F]+|\d+[KMG]?)$/, 'expected a byte count such as 1048576, "0x100000", "64M"')
    .transform((text) => {
      if (text.startsWith('0x')) return Number.parseInt(text.slice(2), 16);
      const unit = text.at(-1);
      const scale = unit === 'K' ? 1024 : unit === 'M' ? 1024 ** 2 : unit === 'G' ? 1024 ** 3 : 1;
      return Number.parseInt(text, 10) * scale;
    }),
]);
export type BoardByteSize = z.infer<typeof BoardByteSize>;

export const PartitionRole = z.enum(['boot', 'rootfs-a', 'rootfs-b', 'data']);
export type PartitionRole = z.infer<typeof PartitionRole>;

export const BoardPartition = z.object({
  name: z.string().regex(/^[a-z][a-zA-Z0-9-]*$/),
  role: PartitionRole,
  filesystem: z.enum(['vfat', 'ext4']),
  /** Filesystem label (vfat labels are at most 11 characters). */
  label: z.string().min(1).max(16),
  size: BoardByteSize,
  /** MBR partition type byte. */
  mbrType: z.string().regex(/^0x[0-9a-fA-F]{2}$/),
  bootable: z.boolean().default(false),
});
export type BoardPartition = z.infer<typeof BoardPartition>;

export const BoardBootFile = z.object({
  /** Where the file comes from: a .deb (by name, extracted) plus a path inside it. */
  deb: z.string().min(1),
  /** "all" for architecture-independent packages (firmware); default: the board's debArch. */
  debArch: z.enum(['arm64', 'all']).optional(),
  path: z.string().startsWith('/'),
  /** Destination path inside the boot partition. */
  dest: z.string().regex(/^[A-Za-z0-9_.\-/]+$/),
});
export type BoardBootFile = z.infer<typeof BoardBootFile>;

export const BoardDefinition = z
  .object({
    spec: z.literal('fleet-board@1'),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
    description: z.string(),
    architecture: z.enum(['arm64']),
    /** Debian architecture of the .debs the system layer is built from. */
    debArch: z.enum(['arm64']),
    bootloader: z.object({
      kind: z.literal('u-boot'),
      /** How U-Boot reaches the board: firmware given to qemu (-bios) or files on the boot partition. */
      source: z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('qemu-bios'), path: z.string().startsWith('/') }),
        z.object({ kind: z.literal('boot-partition'), file: BoardBootFile }),
      ]),
      /** RAM the boot script may use as scratch for the environment copies (4 MiB from here). */
      scratchAddr: z.string().regex(/^0x[0-9a-fA-F]+$/),
    }),
    console: z.object({
      /** Linux console argument, e.g. "ttyAMA0" or "ttyS0,115200". */
      linux: z.string().min(1),
      /** The serial line qemu/the harness reads, when emulated. */
      qemu: z.string().optional(),
    }),
    kernel: z.object({
      /** Debian metapackage that names the exact kernel package (never glob kernel names). */
      metapackage: z.string().min(1),
      /** Modules loaded by the initramfs, dependencies resolved from modules.dep. */
      modules: z.array(z.string().regex(/^[a-z0-9_-]+$/)).min(1),
      /** Device tree blobs from the kernel package (relative to /usr/lib/linux-image-<ver>/), copied to the boot partition; none when the loader provides one (qemu). */
      dtbs: z.array(z.string().regex(/^[a-z0-9_./-]+\.dtb$/)).default([]),
    }),
    disk: z.object({
      /** The whole-disk device as Linux names it on the board. */
      device: z.string().startsWith('/dev/'),
      /** Prefix of partition devices: partition N is `${partitionPrefix}${N}`. */
      partitionPrefix: z.string().startsWith('/dev/'),
      /** Byte offset of the first partition; the boot state lives in the gap before it. */
      firstPartitionOffset: BoardByteSize,
      partitionTable: z.literal('mbr'),
      /** MBR disk identifier; fixed so builds are reproducible and PARTUUIDs stable. */
      diskId: z.string().regex(/^0x[0-9a-fA-F]{8}$/),
    }),
    partitions: z.array(BoardPartition).length(4),
    /** Where the A/B boot state lives: a redundant U-Boot environment in the disk's raw gap. */
    bootState: z.object({
      kind: z.literal('uboot-env'),
      envSize: BoardByteSize,
      offsets: z.tuple([BoardByteSize, BoardByteSize]),
      bootlimit: z.number().int().min(1).max(15),
    }),
    /** Extra files written verbatim to the boot partition (e.g. config.txt). */
    bootPartitionFiles: z.array(BoardBootFile).default([]),
    /** Text files generated into the boot partition from the definition. */
    bootPartitionText: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), z.string()).default({}),
    /**
     * The board's hardware watchdog: its images configure the agent to pet it (AgentConfig
     * watchdog); the driver module belongs in kernel.modules. The board resets
     * timeoutSeconds after the last pet.
     */
    watchdog: z
      .object({
        device: z.string().startsWith('/dev/'),
        timeoutSeconds: z.number().int().min(1).max(3600),
      })
      .optional(),
    qemu: z
      .object({
        machine: z.string(),
        cpu: z.string(),
        memoryMiB: z.number().int().positive(),
        /** Extra emulated devices, one `-device` each (e.g. the i6300esb watchdog on PCI). */
        devices: z.array(z.string().regex(/^[a-z0-9][a-z0-9_.,=-]*$/)).default([]),
      })
      .optional(),
  })
  .superRefine((board, ctx) => {
    const roles = board.partitions.map((p) => p.role);
    for (const role of PartitionRole.options) {
      if (roles.filter((r) => r === role).length !== 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['partitions'],
          message: `exactly one partition must have role "${role}"`,
        });
      }
    }
    if (board.partitions[0]?.role !== 'boot') {
      ctx.addIssue({
        code: 'custom',
        path: ['partitions', 0, 'role'],
        message: 'the boot partition must be partition 1 (U-Boot and board firmware look there)',
      });
    }
    const { envSize, offsets } = board.bootState;
    const first = board.disk.firstPartitionOffset;
    offsets.forEach((offset, i) => {
      if (offset % 512 !== 0)
        ctx.addIssue({
          code: 'custom',
          path: ['bootState', 'offsets', i],
          message: 'must be a multiple of 512 (U-Boot reads whole blocks)',
        });
      if (offset < 512 || offset + envSize > first) {
        ctx.addIssue({
          code: 'custom',
          path: ['bootState', 'offsets', i],
          message: `env copy must lie between the MBR and the first partition (0x200..0x${first.toString(16)})`,
        });
      }
    });
    if (Math.abs(offsets[0] - offsets[1]) < envSize) {
      ctx.addIssue({ code: 'custom', path: ['bootState', 'offsets'], message: 'the two env copies overlap' });
    }
    if (envSize % 512 !== 0 || envSize > 0x100000) {
      ctx.addIssue({
        code: 'custom',
        path: ['bootState', 'envSize'],
        message: 'must be a multiple of 512 and at most 1 MiB (the script scratch area)',
      });
    }
    if (first % (1024 * 1024) !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['disk', 'firstPartitionOffset'],
        message: 'must be MiB-aligned',
      });
    }
  });
export type BoardDefinition = z.infer<typeof BoardDefinition>;
export type BoardDefinitionInput = z.input<typeof BoardDefinition>;

export const parseBoardDefinition = (input: unknown): Result<BoardDefinition> =>
  parseWith('BoardDefinition', BoardDefinition, input);
