import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { boardDir, listBoards, loadBoard } from './boards.js';
import { loadBootScriptTemplate, renderBootScript } from './boot-script.js';
import { mkimageScript } from './mkimage.js';

/** Fixed timestamp for the committed boot.scr files (2026-01-01T00:00:00Z). */
export const COMMITTED_SCRIPT_EPOCH = 1767225600;

/** Regenerate boards/<board>/boot.cmd and boot.scr from the template (run after editing it). */
export async function generateBootScripts(): Promise<string[]> {
  const template = await loadBootScriptTemplate();
  const written: string[] = [];
  for (const name of await listBoards()) {
    const board = await loadBoard(name);
    const dir = boardDir(name);
    await writeFile(join(dir, 'boot.cmd'), renderBootScript(template, board));
    await mkimageScript(
      join(dir, 'boot.cmd'),
      join(dir, 'boot.scr'),
      `fleet A/B ${name}`,
      COMMITTED_SCRIPT_EPOCH,
    );
    written.push(join(dir, 'boot.cmd'), join(dir, 'boot.scr'));
  }
  return written;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const path of await generateBootScripts()) console.log(path);
}
