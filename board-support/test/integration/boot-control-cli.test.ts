import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UbootEnvStore, formatFwEnvConfig } from '../../src/boot-backends.js';
import { loadBoard } from '../../src/boards.js';
import { fwEnvConfigFor } from '../../src/boot-control/boot-control-factory.js';
import { runBootControl } from '../../src/boot-control/cli.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-bootctl-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(...argv: string[]): Promise<{ exitCode: number; json: Record<string, unknown> }> {
  const out = await runBootControl(argv);
  expect(out.stdout.endsWith('\n')).toBe(true);
  return { exitCode: out.exitCode, json: JSON.parse(out.stdout) as Record<string, unknown> };
}

describe('boot-control contract CLI, uboot-env backend on a disk image', () => {
  async function setup() {
    const board = await loadBoard('qemu-aarch64');
    const disk = join(dir, 'disk.img');
    await writeFile(disk, '');
    await truncate(disk, 4 << 20);
    await new UbootEnvStore(fwEnvConfigFor(board, disk)).initialize({
      boot_slot: 'A',
      upgrade_available: '0',
      bootcount: '0',
      bootlimit: '3',
    });
    const fwEnv = join(dir, 'fw_env.config');
    await writeFile(fwEnv, formatFwEnvConfig(fwEnvConfigFor(board, disk)));
    const cmdline = join(dir, 'cmdline');
    await writeFile(cmdline, 'root=/dev/vda2 fleet.slot=A\n');
    const common = [
      '--board',
      'qemu-aarch64',
      '--fw-env-config',
      fwEnv,
      '--cmdline',
      cmdline,
      '--slot-a',
      join(dir, 'a.img'),
      '--slot-b',
      join(dir, 'b.img'),
    ];
    return { common, cmdline, disk };
  }

  it('runs every verb through a trial and a commit, JSON on stdout', async () => {
    const { common, cmdline } = await setup();
    expect(await cli(...common, 'active-slot')).toEqual({
      exitCode: 0,
      json: { ok: true, verb: 'active-slot', result: { slot: 'A' } },
    });

    const image = join(dir, 'rootfs.ext4');
    await writeFile(image, Buffer.alloc(1 << 20, 3));
    const digest = `sha256:${createHash('sha256')
      .update(await readFile(image))
      .digest('hex')}`;
    const installed = await cli(...common, '--sha256', digest, 'install', image, 'B');
    expect(installed).toEqual({
      exitCode: 0,
      json: {
        ok: true,
        verb: 'install',
        result: { slot: 'B', target: join(dir, 'b.img'), bytes: 1 << 20, digest },
      },
    });

    expect((await cli(...common, 'arm-try-boot', 'B')).json).toEqual({
      ok: true,
      verb: 'arm-try-boot',
      result: { armedSlot: 'B' },
    });
    expect((await cli(...common, 'verify-boot')).json.result).toEqual({
      bootedSlot: 'A',
      fellBack: false,
      bootcount: 0,
      armedSlot: 'B',
    });
    expect((await cli(...common, 'rollback')).json.result).toEqual({ nextSlot: 'A', rebootRequired: false });
    await cli(...common, 'arm-try-boot', 'B');

    await writeFile(cmdline, 'root=/dev/vda3 fleet.slot=B\n'); // "rebooted" into B
    expect((await cli(...common, 'verify-boot')).json.result).toEqual({
      bootedSlot: 'B',
      triedSlot: 'B',
      fellBack: false,
      bootcount: 0,
    });
    expect((await cli(...common, 'commit')).json.result).toEqual({ slot: 'B', changed: true });
    expect((await cli(...common, 'verify-boot')).json.result).toEqual({
      bootedSlot: 'B',
      fellBack: false,
      bootcount: 0,
    });
  });

  it('refusals are JSON with a code and exit 1', async () => {
    const { common } = await setup();
    expect(await cli(...common, 'rollback')).toEqual({
      exitCode: 1,
      json: {
        ok: false,
        verb: 'rollback',
        error: { code: 'nothing-to-roll-back', message: 'nothing to roll back: slot A is committed' },
      },
    });
    expect((await cli(...common, 'arm-try-boot', 'A')).json.error).toEqual({
      code: 'slot-busy',
      message: 'cannot try-boot slot A: it is the running slot',
    });
    const missing = await cli(...common, 'install', join(dir, 'missing.img'), 'B');
    expect(missing.exitCode).toBe(1);
    expect((missing.json.error as { message: string }).message).toContain('ENOENT');
  });

  it('usage errors exit 2', async () => {
    const { common } = await setup();
    expect((await cli(...common, 'frobnicate')).exitCode).toBe(2);
    expect((await cli(...common, 'arm-try-boot', 'C')).json.error).toEqual({
      code: 'usage',
      message: 'arm-try-boot needs a slot argument A or B, got "C"',
    });
    expect((await cli('--backend', 'grub', 'commit')).json.error).toMatchObject({ code: 'usage' });
    expect((await cli('--bogus', 'commit')).exitCode).toBe(2);
    expect((await cli('--board', 'no-such-board', 'commit')).json.error).toEqual({
      code: 'board-invalid',
      message: 'unknown board "no-such-board" (known: qemu-aarch64, raspberrypi4-64)',
    });
  });
});

describe('boot-control contract CLI, file backend', () => {
  it('keeps state across invocations like separate processes', async () => {
    const state = join(dir, 'state');
    const common = ['--board', 'qemu-aarch64', '--backend', 'file', '--state', state];
    expect((await cli(...common, 'active-slot')).json.result).toEqual({ slot: 'A' });
    await cli(...common, 'arm-try-boot', 'B');
    expect((await cli(...common, 'verify-boot')).json.result).toMatchObject({ armedSlot: 'B' });
    expect(JSON.parse(await readFile(join(state, 'boot-state.json'), 'utf8'))).toMatchObject({
      env: { boot_slot: 'B', upgrade_available: '1' },
    });
  });
});
