import { execFile } from 'node:child_process';
import { mkdtemp, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  UbootEnvBootControl,
  UbootEnvStore,
  abStateFromEnv,
  bootedSlotFromProcCmdline,
  encodeEnvCopy,
  formatFwEnvConfig,
  parsePrintenv,
  runBootScript,
} from '../../src/boot-backends.js';
import type { AbState, EnvVars } from '../../src/boot-backends.js';
import { boardDir, loadBoard } from '../../src/boards.js';
import type { BoardDefinition } from '../../src/board-definition.js';
import { fwEnvConfigFor } from '../../src/boot-control/boot-control-factory.js';
import { bootInQemu, fleetMarkers } from '../../src/qemu.js';

// The committed boot.scr of qemu-aarch64 run by Debian's real U-Boot in qemu. The disk holds
// only the boot partition and the env copies, no kernel: every boot ends in the script's
// "did not boot: reset", which is exactly a failed boot on hardware. ~2.5 s per boot.
const run = promisify(execFile);
let board: BoardDefinition;
let dir: string;
let n = 0;

async function makeDisk(env: EnvVars | 'none'): Promise<{ disk: string; store: UbootEnvStore }> {
  const disk = join(dir, `disk-${++n}.img`);
  await writeFile(disk, '');
  await truncate(disk, 16 << 20);
  await run('sh', [
    '-c',
    `printf 'label: dos\\nlabel-id: 0xf1ee7001\\nstart=8192, size=16384, type=c, bootable\\n' | sfdisk -q ${disk}`,
  ]);
  const vfat = join(dir, `boot-${n}.vfat`);
  await run('mkfs.vfat', ['-C', '-n', 'BOOT', vfat, String(8192)]);
  await run('mcopy', ['-i', vfat, join(boardDir(board.name), 'boot.scr'), '::boot.scr']);
  const handle = await open(disk, 'r+');
  await handle.write(await readFile(vfat), 0, undefined, 4 << 20);
  await handle.close();
  const store = new UbootEnvStore(fwEnvConfigFor(board, disk));
  if (env !== 'none') await store.initialize(env);
  return { disk, store };
}

async function boot(disk: string): Promise<string[]> {
  const result = await bootInQemu(board, { disk, timeoutMs: 60_000 });
  expect(result.timedOut).toBe(false);
  return fleetMarkers(result.log);
}

function slotLine(markers: string[]): string | undefined {
  return markers.find((m) => m.startsWith('FLEET: slot='));
}

async function corruptCopy(disk: string, index: 0 | 1): Promise<void> {
  const handle = await open(disk, 'r+');
  await handle.write(Buffer.from('XXXX'), 0, 4, (board.bootState.offsets[index] ?? 0) + 20);
  await handle.close();
}

beforeAll(async () => {
  board = await loadBoard('qemu-aarch64');
  dir = await mkdtemp(join(tmpdir(), 'fleet-bootscr-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const committedA = { boot_slot: 'A', upgrade_available: '0', bootcount: '0', bootlimit: '3' };

describe('boot.scr in U-Boot (qemu-aarch64)', () => {
  it('boots the committed slot and saves nothing', async () => {
    const { disk, store } = await makeDisk(committedA);
    const before = await store.read();
    const markers = await boot(disk);
    expect(markers[0]).toBe('FLEET: A/B boot script (qemu-aarch64)');
    expect(slotLine(markers)).toBe(
      'FLEET: slot=A rootpart=2 upgrade_available=0 bootcount=0 bootlimit=3 fallback_from=',
    );
    expect(markers.at(-1)).toBe('FLEET: slot A did not boot: reset');
    expect(await store.read()).toEqual(before);
  });

  it('counts a trial of B exactly like the agent model, falls back after bootlimit, and the agent sees it', async () => {
    const { disk, store } = await makeDisk(committedA);
    const cmdline = join(dir, 'cmdline');
    await writeFile(cmdline, 'fleet.slot=A\n');
    const control = new UbootEnvBootControl({
      store,
      slotTargets: { A: '/nonexistent-a', B: '/nonexistent-b' },
      bootedSlot: () => bootedSlotFromProcCmdline(cmdline),
    });
    await control.armTryBoot('B');

    let model: AbState = abStateFromEnv((await store.read()).vars);
    const slots: string[] = [];
    for (let i = 0; i < 4; i++) {
      const markers = await boot(disk);
      const expected = runBootScript(model);
      model = expected.state;
      slots.push(slotLine(markers) ?? 'none');
      // The script's saved env and the TypeScript model agree after every boot.
      expect(abStateFromEnv((await store.read()).vars)).toEqual(model);
      expect(slotLine(markers)).toContain(`slot=${expected.slot} `);
    }
    expect(slots).toEqual([
      'FLEET: slot=B rootpart=3 upgrade_available=1 bootcount=1 bootlimit=3 fallback_from=',
      'FLEET: slot=B rootpart=3 upgrade_available=1 bootcount=2 bootlimit=3 fallback_from=',
      'FLEET: slot=B rootpart=3 upgrade_available=1 bootcount=3 bootlimit=3 fallback_from=',
      'FLEET: slot=A rootpart=2 upgrade_available=0 bootcount=4 bootlimit=3 fallback_from=B',
    ]);
    expect(await control.verifyBoot()).toEqual({
      bootedSlot: 'A',
      triedSlot: 'B',
      fellBack: true,
      bootcount: 4,
    });

    // fw_printenv reads what U-Boot wrote.
    const configPath = join(dir, 'fw_env.config');
    await writeFile(configPath, formatFwEnvConfig(fwEnvConfigFor(board, disk)));
    const { stdout } = await run('fw_printenv', ['-c', configPath]);
    expect(parsePrintenv(stdout)).toEqual({
      boot_slot: 'A',
      upgrade_available: '0',
      bootcount: '4',
      bootlimit: '3',
      fallback_from: 'B',
    });
  });

  it('ignores a copy with a bad CRC and uses the other one', async () => {
    const { disk, store } = await makeDisk({ ...committedA, boot_slot: 'B', upgrade_available: '1' });
    await store.write({ ...committedA }); // copy 2 (flag 2) current: committed A
    await corruptCopy(disk, 1);
    const markers = await boot(disk);
    expect(markers).toContain('FLEET: env copy=1 valid=10 flags=1,2');
    // Copy 1 says "B on trial": the script counts the boot and saves over the corrupt copy 2.
    expect(slotLine(markers)).toBe(
      'FLEET: slot=B rootpart=3 upgrade_available=1 bootcount=1 bootlimit=3 fallback_from=',
    );
    expect(await store.read()).toMatchObject({
      current: 1,
      flag: 2,
      vars: { boot_slot: 'B', bootcount: '1' },
    });
  });

  it('follows the flag across the 255 -> 0 wrap', async () => {
    const { disk, store } = await makeDisk('none');
    const layout = { size: board.bootState.envSize, redundant: true };
    const handle = await open(disk, 'r+');
    await handle.write(
      encodeEnvCopy({ ...committedA }, layout, 254),
      0,
      undefined,
      board.bootState.offsets[0],
    );
    await handle.write(
      encodeEnvCopy({ ...committedA, boot_slot: 'B', upgrade_available: '1' }, layout, 255),
      0,
      undefined,
      board.bootState.offsets[1],
    );
    await handle.close();
    const markers = await boot(disk);
    expect(markers).toContain('FLEET: env copy=2 valid=11 flags=fe,ff');
    expect(markers).toContain('FLEET: saved env copy at block 0x800 flag 0');
    expect(await store.read()).toMatchObject({
      current: 0,
      flag: 0,
      vars: { boot_slot: 'B', bootcount: '1', upgrade_available: '1' },
    });
  });

  it('with both copies bad boots A and writes nothing', async () => {
    const { disk, store } = await makeDisk({ ...committedA, boot_slot: 'B', upgrade_available: '1' });
    await corruptCopy(disk, 0);
    await corruptCopy(disk, 1);
    const before = await readFile(disk);
    const markers = await boot(disk);
    expect(markers).toContain('FLEET: no valid environment copy: booting slot A, saving nothing');
    expect(slotLine(markers)).toBe(
      'FLEET: slot=A rootpart=2 upgrade_available=0 bootcount=0 bootlimit=3 fallback_from=',
    );
    expect((await readFile(disk)).equals(before)).toBe(true);
    await expect(store.read()).rejects.toThrow('both U-Boot environment copies are invalid');
  });
});
