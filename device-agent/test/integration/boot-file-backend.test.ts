import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileBootControl, defaultFileBootPaths } from '../../src/boot/index.js';

// The `file` backend across simulated reboots: each step uses a fresh instance, as a
// restarted agent process would.
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-boot-file-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function agent(): FileBootControl {
  return new FileBootControl(defaultFileBootPaths(dir));
}

describe('file BootControl', () => {
  it('a fresh device runs slot A, committed', async () => {
    await agent().ensureInitialized();
    expect(await agent().simulateBoot()).toEqual({ slot: 'A', failedBoots: 0 });
    expect(await agent().verifyBoot()).toEqual({ bootedSlot: 'A', fellBack: false, bootcount: 0 });
  });

  it('install, arm, reboot into B, commit; B stays after further reboots', async () => {
    await agent().ensureInitialized();
    const image = join(dir, 'rootfs.img');
    await writeFile(image, 'new root filesystem');
    const installed = await agent().install(image, 'B');
    expect(installed.bytes).toBe(19);
    expect(await readFile(join(dir, 'slot-b.img'), 'utf8')).toBe('new root filesystem');
    await agent().armTryBoot('B');
    expect(await agent().simulateBoot()).toEqual({ slot: 'B', failedBoots: 0 });
    expect(await agent().verifyBoot()).toEqual({
      bootedSlot: 'B',
      triedSlot: 'B',
      fellBack: false,
      bootcount: 1,
    });
    expect(await agent().commit()).toEqual({ slot: 'B', changed: true });
    expect(await agent().simulateBoot()).toEqual({ slot: 'B', failedBoots: 0 });
    expect(await agent().verifyBoot()).toEqual({ bootedSlot: 'B', fellBack: false, bootcount: 0 });
  });

  it('a slot that never reaches userspace is abandoned after bootlimit', async () => {
    await agent().ensureInitialized(3);
    await agent().armTryBoot('B');
    expect(await agent().simulateBoot({ failingSlots: ['B'] })).toEqual({ slot: 'A', failedBoots: 3 });
    expect(await agent().verifyBoot()).toEqual({
      bootedSlot: 'A',
      triedSlot: 'B',
      fellBack: true,
      bootcount: 4,
    });
    expect(await agent().commit()).toEqual({ slot: 'A', changed: true });
    expect(await agent().verifyBoot()).toEqual({ bootedSlot: 'A', fellBack: false, bootcount: 0 });
  });

  it('a power cut before commit (one more reboot) still counts towards the limit', async () => {
    await agent().ensureInitialized(2);
    await agent().armTryBoot('B');
    expect((await agent().simulateBoot()).slot).toBe('B'); // booted, agent died before commit
    expect((await agent().simulateBoot()).slot).toBe('B');
    expect((await agent().simulateBoot()).slot).toBe('A');
    expect(await agent().verifyBoot()).toMatchObject({ fellBack: true, triedSlot: 'B' });
  });

  it('the agent rolls back after a failed health gate', async () => {
    await agent().ensureInitialized();
    await agent().armTryBoot('B');
    await agent().simulateBoot();
    expect(await agent().rollback()).toEqual({ nextSlot: 'A', rebootRequired: true });
    expect((await agent().simulateBoot()).slot).toBe('A');
    expect(await agent().verifyBoot()).toEqual({
      bootedSlot: 'A',
      triedSlot: 'B',
      fellBack: true,
      bootcount: 1,
    });
  });

  it('both slots failing is an error, not an endless loop', async () => {
    await agent().ensureInitialized();
    await agent().armTryBoot('B');
    await expect(agent().simulateBoot({ failingSlots: ['A', 'B'], maxBoots: 10 })).rejects.toThrow(
      'no slot reached userspace in 10 boots (both slots failing)',
    );
  });

  it('a garbage or invalid state file is a clear error and is left as is', async () => {
    const { statePath } = defaultFileBootPaths(dir);
    await writeFile(statePath, '{"spec":');
    await expect(agent().verifyBoot()).rejects.toThrow(`boot state ${statePath} is not JSON`);
    await writeFile(
      statePath,
      JSON.stringify({ spec: 'fleet-file-boot@1', env: {}, bootedSlot: 'C', boots: 0 }),
    );
    await expect(agent().armTryBoot('B')).rejects.toThrow(/is invalid: \$\.bootedSlot: /);
    expect(JSON.parse(await readFile(statePath, 'utf8'))).toMatchObject({ bootedSlot: 'C' });
    await expect(agent().verifyBoot()).rejects.toThrow();
  });

  it('ensureInitialized never overwrites an existing state', async () => {
    await agent().ensureInitialized();
    await agent().armTryBoot('B');
    await agent().ensureInitialized();
    expect(await agent().verifyBoot()).toMatchObject({ armedSlot: 'B' });
  });
});
