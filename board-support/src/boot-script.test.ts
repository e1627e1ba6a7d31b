import { describe, expect, it } from 'vitest';
import { parseBoardDefinition } from './board-definition.js';
import type { BoardDefinition } from './board-definition.js';
import { bootScriptValues, renderBootScript } from './boot-script.js';
import qemu from '../boards/qemu-aarch64/board.json' with { type: 'json' };

function board(): BoardDefinition {
  const parsed = parseBoardDefinition(qemu);
  if (!parsed.ok) throw new Error(parsed.issues.join('\n'));
  return parsed.value;
}

describe('boot script values', () => {
  it('turns the env layout into block numbers and scratch addresses', () => {
    const v = bootScriptValues(board());
    expect(v).toMatchObject({
      ENV_BLK1: '0x800',
      ENV_BLK2: '0x880',
      ENV_BLKS: '0x20',
      DATA_SIZE: '0x3ffb',
      SINGLE_SIZE: '0x3fff',
      RAW1: '0x50000000',
      RAW1_FLAG: '0x50000004',
      RAW1_DATA: '0x50000005',
      TMP1_DATA: '0x50200004',
      RAWOUT: '0x50500000',
      BOOTLIMIT: '3',
      ROOTPART_A: '2',
      ROOTPART_B: '3',
      ROOTDEV: '/dev/vda',
      CONSOLE: 'ttyAMA0',
    });
  });

  it('renders placeholders and refuses unknown ones', () => {
    expect(renderBootScript('read @RAW1@ @ENV_BLK1@ root=@ROOTDEV@${p}', board())).toBe(
      'read 0x50000000 0x800 root=/dev/vda${p}',
    );
    expect(() => renderBootScript('@NOPE@', board())).toThrow(
      'boot script template uses unknown placeholder @NOPE@',
    );
  });
});
