import { spawn } from 'node:child_process';
import type { BoardDefinition } from './board-definition.js';

export interface QemuBootOptions {
  disk: string;
  /** Extra qemu arguments (e.g. networking). Default: no NIC (see feasibility: efi-virtio.rom). */
  extraArgs?: string[];
  /** Give up after this long and kill qemu (a hung guest), default 120 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with each chunk of serial output (for live logs or to react to markers). */
  onOutput?: (text: string) => void;
}

export interface QemuBootResult {
  /** Serial console output, U-Boot and Linux. */
  log: string;
  exitCode: number | null;
  timedOut: boolean;
}

/** The qemu command for a board with a `qemu` section: U-Boot as firmware, the disk on virtio. */
export function qemuArgs(
  board: BoardDefinition,
  options: Pick<QemuBootOptions, 'disk' | 'extraArgs'>,
): string[] {
  if (!board.qemu || board.bootloader.source.kind !== 'qemu-bios') {
    throw new Error(`board ${board.name} cannot be emulated (no qemu section / U-Boot is not qemu firmware)`);
  }
  return [
    '-M',
    board.qemu.machine,
    '-cpu',
    board.qemu.cpu,
    '-m',
    String(board.qemu.memoryMiB),
    '-nographic',
    // A reset (failed boot, panic=N, reboot -f) ends qemu: the harness counts it as one boot.
    '-no-reboot',
    '-bios',
    board.bootloader.source.path,
    '-drive',
    `file=${options.disk},if=virtio,format=raw`,
    // The board's emulated extras, e.g. its hardware watchdog (qemu's default action: reset).
    ...board.qemu.devices.flatMap((d) => ['-device', d]),
    ...(options.extraArgs ?? ['-nic', 'none']),
  ];
}

/** One power-on to power-off (or reset) of an emulated board. */
export function bootInQemu(board: BoardDefinition, options: QemuBootOptions): Promise<QemuBootResult> {
  const args = qemuArgs(board, options);
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-system-aarch64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    let timedOut = false;
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      log += text;
      options.onOutput?.(text);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const kill = () => child.kill('SIGKILL');
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs ?? 120_000);
    options.signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', kill);
      resolve({ log, exitCode: code, timedOut });
    });
  });
}

/** The `FLEET:` lines the boot script and the init print, in order. */
export function fleetMarkers(log: string): string[] {
  return log
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.startsWith('FLEET:'));
}
