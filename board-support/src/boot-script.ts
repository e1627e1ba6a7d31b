import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { BoardDefinition } from './board-definition.js';
import { partitionNumber } from './board-definition.js';

export const BOOT_SCRIPT_TEMPLATE = fileURLToPath(new URL('../boot/boot.cmd.in', import.meta.url));

const hex = (n: number): string => `0x${n.toString(16)}`;

/**
 * Every address and size the boot script uses, computed here so the script needs no
 * arithmetic. Scratch layout (1 MiB apart): raw copy 1, raw copy 2, repacked 1, repacked 2,
 * export buffer, raw output. `env export -c` clears up to the compiled env size (256 KiB in
 * Debian's builds) past its address, which fits in the 1 MiB slots.
 */
export function bootScriptValues(board: BoardDefinition): Record<string, string> {
  const { envSize, offsets, bootlimit } = board.bootState;
  const base = Number.parseInt(board.bootloader.scratchAddr.slice(2), 16);
  const mib = 0x100000;
  const [raw1, raw2, tmp1, tmp2, tmpOut, rawOut] = [0, 1, 2, 3, 4, 5].map((i) => base + i * mib) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return {
    BOARD: board.name,
    ENV_SIZE: hex(envSize),
    ENV_BLK1: hex(offsets[0] / 512),
    ENV_BLK2: hex(offsets[1] / 512),
    ENV_BLKS: hex(envSize / 512),
    DATA_SIZE: hex(envSize - 5),
    SINGLE_SIZE: hex(envSize - 1),
    RAW1: hex(raw1),
    RAW1_FLAG: hex(raw1 + 4),
    RAW1_DATA: hex(raw1 + 5),
    RAW2: hex(raw2),
    RAW2_FLAG: hex(raw2 + 4),
    RAW2_DATA: hex(raw2 + 5),
    TMP1: hex(tmp1),
    TMP1_DATA: hex(tmp1 + 4),
    TMP2: hex(tmp2),
    TMP2_DATA: hex(tmp2 + 4),
    TMPOUT: hex(tmpOut),
    TMPOUT_DATA: hex(tmpOut + 4),
    RAWOUT: hex(rawOut),
    RAWOUT_FLAG: hex(rawOut + 4),
    RAWOUT_DATA: hex(rawOut + 5),
    BOOTLIMIT: bootlimit.toString(16),
    ROOTPART_A: String(partitionNumber(board, 'rootfs-a')),
    ROOTPART_B: String(partitionNumber(board, 'rootfs-b')),
    ROOTDEV: board.disk.partitionPrefix,
    CONSOLE: board.console.linux,
  };
}

export function renderBootScript(template: string, board: BoardDefinition): string {
  const values = bootScriptValues(board);
  const out = template.replace(/@([A-Z0-9_]+)@/g, (match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`boot script template uses unknown placeholder ${match}`);
    return value;
  });
  return out;
}

export async function loadBootScriptTemplate(): Promise<string> {
  return readFile(BOOT_SCRIPT_TEMPLATE, 'utf8');
}
