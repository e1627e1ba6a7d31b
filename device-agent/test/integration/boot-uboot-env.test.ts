import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  UbootEnvBootControl,
  UbootEnvStore,
  bootedSlotFromProcCmdline,
  encodeEnvCopy,
  formatFwEnvConfig,
  parsePrintenv,
} from '../../src/boot/index.js';
import type { FwEnvConfig, Slot } from '../../src/boot/index.js';

// Interop with libubootenv's fw_printenv/fw_setenv (the tools a board's userspace uses), on a
// disk image file with two redundant copies in the gap before the first partition.
const run = promisify(execFile);
const SIZE = 0x4000;

let dir: string;
let disk: string;
let configPath: string;
let config: FwEnvConfig;

async function printenv(): Promise<Record<string, string>> {
  const { stdout } = await run('fw_printenv', ['-c', configPath]);
  return parsePrintenv(stdout);
}

async function setenv(name: string, value: string): Promise<void> {
  await run('fw_setenv', ['-c', configPath, name, value]);
}

async function corruptCopy(index: 0 | 1): Promise<void> {
  const loc = config.copies[index];
  if (!loc) throw new Error('no such copy');
  const handle = await open(disk, 'r+');
  await handle.write(Buffer.from('garbage'), 0, 7, loc.offset + 8);
  await handle.close();
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-boot-env-'));
  disk = join(dir, 'disk.img');
  await writeFile(disk, '');
  await truncate(disk, 4 << 20);
  config = {
    copies: [
      { device: disk, offset: 0x100000, size: SIZE },
      { device: disk, offset: 0x110000, size: SIZE },
    ],
  };
  configPath = join(dir, 'fw_env.config');
  await writeFile(configPath, formatFwEnvConfig(config));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('uboot-env store against fw_printenv / fw_setenv', () => {
  it('what we write, fw_printenv reads, after every write', async () => {
    const store = new UbootEnvStore(config);
    await store.initialize({ boot_slot: 'A', bootlimit: '3' });
    expect(await printenv()).toEqual({ boot_slot: 'A', bootlimit: '3' });
    for (let i = 1; i <= 3; i++) {
      await store.update((vars) => ({ ...vars, bootcount: String(i) }));
      expect(await printenv()).toEqual({ boot_slot: 'A', bootcount: String(i), bootlimit: '3' });
    }
  });

  it('what fw_setenv writes, we read, after every write', async () => {
    const store = new UbootEnvStore(config);
    await store.initialize({ boot_slot: 'A' });
    await setenv('boot_slot', 'B');
    expect((await store.read()).vars).toEqual({ boot_slot: 'B' });
    await setenv('upgrade_available', '1');
    const snap = await store.read();
    expect(snap.vars).toEqual({ boot_slot: 'B', upgrade_available: '1' });
    // fw_setenv alternates copies like we do: copy 1 started current, two writes later it is again.
    expect(snap.current).toBe(0);
  });

  it('both tools follow the flag across the 255 -> 0 wrap', async () => {
    const [c1, c2] = config.copies;
    if (!c1 || !c2) throw new Error('config');
    const handle = await open(disk, 'r+');
    await handle.write(encodeEnvCopy({ v: 'old' }, { size: SIZE, redundant: true }, 254), 0, SIZE, c1.offset);
    await handle.write(
      encodeEnvCopy({ v: 'current' }, { size: SIZE, redundant: true }, 255),
      0,
      SIZE,
      c2.offset,
    );
    await handle.close();
    const store = new UbootEnvStore(config);
    expect(await store.read()).toMatchObject({ vars: { v: 'current' }, current: 1, flag: 255 });
    await store.write({ v: 'wrapped' });
    expect(await store.read()).toMatchObject({ vars: { v: 'wrapped' }, current: 0, flag: 0 });
    expect(await printenv()).toEqual({ v: 'wrapped' });
  });

  it('a corrupted current copy falls back to the other copy, for us and for fw_printenv', async () => {
    const store = new UbootEnvStore(config);
    await store.initialize({ boot_slot: 'A' });
    await store.write({ boot_slot: 'B' }); // now copy 2 is current
    expect((await store.read()).current).toBe(1);
    await corruptCopy(1);
    const snap = await store.read();
    expect(snap.vars).toEqual({ boot_slot: 'A' });
    expect(snap.otherCopyError).toMatch(/^bad CRC/);
    expect(await printenv()).toEqual({ boot_slot: 'A' });
  });

  it('both copies bad: a clear error and nothing written', async () => {
    const store = new UbootEnvStore(config);
    await store.initialize({ boot_slot: 'A' });
    await corruptCopy(0);
    await corruptCopy(1);
    const before = await readFile(disk);
    await expect(store.read()).rejects.toThrow(
      /^both U-Boot environment copies are invalid \(copy 1: bad CRC.*; copy 2: bad CRC.*\)$/,
    );
    await expect(store.write({ boot_slot: 'B' })).rejects.toThrow(
      'both U-Boot environment copies are invalid',
    );
    expect((await readFile(disk)).equals(before)).toBe(true);
  });

  it('a single (non-redundant) environment interoperates too', async () => {
    const single: FwEnvConfig = { copies: [{ device: disk, offset: 0x100000, size: SIZE }] };
    await writeFile(configPath, formatFwEnvConfig(single));
    const store = new UbootEnvStore(single);
    await store.initialize({ a: '1' });
    expect(await printenv()).toEqual({ a: '1' });
    await setenv('b', '2');
    expect((await store.read()).vars).toEqual({ a: '1', b: '2' });
  });

  it('an unreadable device is an error naming it', async () => {
    const store = new UbootEnvStore({ copies: [{ device: join(dir, 'missing'), offset: 0, size: SIZE }] });
    await expect(store.read()).rejects.toThrow(
      /U-Boot environment is invalid: cannot read .*missing@0x0: ENOENT/,
    );
  });

  it('reads its configuration from an fw_env.config file', async () => {
    await new UbootEnvStore(config).initialize({ x: 'y' });
    const store = await UbootEnvStore.fromConfigFile(configPath);
    expect((await store.read()).vars).toEqual({ x: 'y' });
  });
});

describe('UbootEnvBootControl', () => {
  async function setup() {
    const store = new UbootEnvStore(config);
    await store.initialize({
      boot_slot: 'A',
      upgrade_available: '0',
      bootcount: '0',
      bootlimit: '3',
      bootdelay: '0',
    });
    const cmdline = join(dir, 'cmdline');
    const boot = async (slot: Slot) =>
      writeFile(cmdline, `console=ttyAMA0 root=/dev/vda2 fleet.slot=${slot}\n`);
    await boot('A');
    const slotTargets = { A: join(dir, 'slot-a.img'), B: join(dir, 'slot-b.img') };
    const control = new UbootEnvBootControl({
      store,
      slotTargets,
      bootedSlot: () => bootedSlotFromProcCmdline(cmdline),
    });
    return { store, boot, control, slotTargets };
  }

  it('installs with read-back, arms B for fw_printenv to see, commits after the boot', async () => {
    const { control, boot, slotTargets } = await setup();
    const image = Buffer.alloc(3 << 20, 7);
    const digest = `sha256:${createHash('sha256').update(image).digest('hex')}`;
    const result = await control.install(Readable.from([image]), 'B', { expectedDigest: digest });
    expect(result).toEqual({ slot: 'B', target: slotTargets.B, bytes: image.length, digest });
    expect((await readFile(slotTargets.B)).equals(image)).toBe(true);

    await control.armTryBoot('B');
    expect(await printenv()).toMatchObject({
      boot_slot: 'B',
      upgrade_available: '1',
      bootcount: '0',
      bootdelay: '0',
    });

    // What boot.cmd does on power-on, done here with fw_setenv as a stand-in for U-Boot.
    await setenv('bootcount', '1');
    await boot('B');
    expect(await control.verifyBoot()).toEqual({
      bootedSlot: 'B',
      triedSlot: 'B',
      fellBack: false,
      bootcount: 1,
    });
    expect(await control.commit()).toEqual({ slot: 'B', changed: true });
    expect(await printenv()).toMatchObject({ boot_slot: 'B', upgrade_available: '0', bootcount: '0' });
    expect(await control.commit()).toEqual({ slot: 'B', changed: false });
  });

  it('reports the bootloader fallback the script recorded', async () => {
    const { control } = await setup();
    await control.armTryBoot('B');
    // The script after bootlimit: back to A, fallback_from=B, the count kept (hex).
    await setenv('boot_slot', 'A');
    await setenv('upgrade_available', '0');
    await setenv('bootcount', '4');
    await setenv('fallback_from', 'B');
    expect(await control.verifyBoot()).toEqual({
      bootedSlot: 'A',
      triedSlot: 'B',
      fellBack: true,
      bootcount: 4,
    });
    await control.commit();
    expect(await printenv()).not.toHaveProperty('fallback_from');
  });

  it('refuses to install into the running slot and rejects a wrong digest', async () => {
    const { control } = await setup();
    await expect(control.install(Readable.from([Buffer.from('x')]), 'A')).rejects.toThrow(
      'cannot install into slot A: it is the running slot',
    );
    await expect(
      control.install(Readable.from([Buffer.from('x')]), 'B', { expectedDigest: `sha256:${'0'.repeat(64)}` }),
    ).rejects.toThrow(/^image digest sha256:[0-9a-f]{64} differs from the expected sha256:0{64}$/);
    // The bad image never got armed: the env still boots A.
    expect(await printenv()).toMatchObject({ boot_slot: 'A', upgrade_available: '0' });
    await expect(control.armTryBoot('A')).rejects.toThrow('cannot try-boot slot A: it is the running slot');
  });

  it('without fleet.slot on the command line, it says it was not booted by the fleet script', async () => {
    const store = new UbootEnvStore(config);
    await store.initialize({});
    const cmdline = join(dir, 'cmdline');
    await writeFile(cmdline, 'console=ttyAMA0\n');
    await expect(bootedSlotFromProcCmdline(cmdline)).rejects.toThrow(
      'has no fleet.slot=A|B: not booted by the fleet boot script',
    );
  });
});
