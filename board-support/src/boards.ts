import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBoardDefinition } from './board-definition.js';
import type { BoardDefinition } from './board-definition.js';

export const BOARDS_DIR = fileURLToPath(new URL('../boards/', import.meta.url));

export class BoardError extends Error {
  override readonly name = 'BoardError';
}

export async function listBoards(boardsDir = BOARDS_DIR): Promise<string[]> {
  const entries = await readdir(boardsDir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

export async function loadBoardFile(path: string): Promise<BoardDefinition> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new BoardError(`cannot read board definition ${path}: ${(error as Error).message}`);
  }
  const parsed = parseBoardDefinition(json);
  if (!parsed.ok) throw new BoardError(`invalid board definition ${path}:\n  ${parsed.issues.join('\n  ')}`);
  return parsed.value;
}

export async function loadBoard(name: string, boardsDir = BOARDS_DIR): Promise<BoardDefinition> {
  const known = await listBoards(boardsDir);
  if (!known.includes(name)) throw new BoardError(`unknown board "${name}" (known: ${known.join(', ')})`);
  const board = await loadBoardFile(join(boardsDir, name, 'board.json'));
  if (board.name !== name) throw new BoardError(`board.json in boards/${name} names itself "${board.name}"`);
  return board;
}

export function boardDir(name: string, boardsDir = BOARDS_DIR): string {
  return join(boardsDir, name);
}
