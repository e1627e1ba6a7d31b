import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { boardDir, listBoards, loadBoard } from '../../src/boards.js';
import { loadBootScriptTemplate, renderBootScript } from '../../src/boot-script.js';
import { COMMITTED_SCRIPT_EPOCH } from '../../src/generate-boot-scripts.js';
import { mkimageScript } from '../../src/mkimage.js';

// boards/<board>/boot.cmd and boot.scr are committed outputs: they must equal what the
// template and mkimage produce now (regenerate with `pnpm --filter @fleet/board-support generate:boot-scripts`).
describe('committed boot scripts', () => {
  it.each(['qemu-aarch64', 'raspberrypi4-64'])('%s boot.cmd and boot.scr are up to date', async (name) => {
    expect(await listBoards()).toContain(name);
    const board = await loadBoard(name);
    const committed = await readFile(join(boardDir(name), 'boot.cmd'), 'utf8');
    expect(committed).toBe(renderBootScript(await loadBootScriptTemplate(), board));
    const tmp = await mkdtemp(join(tmpdir(), 'fleet-mkimage-'));
    try {
      await mkimageScript(
        join(boardDir(name), 'boot.cmd'),
        join(tmp, 'boot.scr'),
        `fleet A/B ${name}`,
        COMMITTED_SCRIPT_EPOCH,
      );
      expect(
        (await readFile(join(tmp, 'boot.scr'))).equals(await readFile(join(boardDir(name), 'boot.scr'))),
      ).toBe(true);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
