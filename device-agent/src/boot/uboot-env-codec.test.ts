import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chooseCurrentCopy,
  decodeEnvCopy,
  encodeEnvCopy,
  nextFlag,
  parsePrintenv,
} from './uboot-env-codec.js';
import type { DecodeResult } from './uboot-env-codec.js';

const redundant = { size: 0x4000, redundant: true };
const single = { size: 0x4000, redundant: false };

describe('U-Boot env codec', () => {
  it('lays out a redundant copy as crc32 LE, flag, NUL-separated sorted entries, double NUL', () => {
    const buf = encodeEnvCopy({ bootcount: '0', boot_slot: 'A' }, redundant, 7);
    expect(buf.length).toBe(0x4000);
    expect(buf[4]).toBe(7);
    const data = buf.subarray(5);
    expect(data.subarray(0, 24).toString('latin1')).toBe('boot_slot=A\0bootcount=0\0');
    expect(data[24]).toBe(0);
    expect(buf.readUInt32LE(0)).toBe(crc32(data));
  });

  it('lays out a single copy without a flag byte', () => {
    const buf = encodeEnvCopy({ a: '1' }, single);
    expect(buf.subarray(4, 8).toString('latin1')).toBe('a=1\0');
    expect(buf.readUInt32LE(0)).toBe(crc32(buf.subarray(4)));
  });

  it('round-trips any variables', () => {
    const name = fc.stringMatching(/^[a-z_][a-z0-9_]{0,15}$/);
    const value = fc.string({ maxLength: 40 }).filter((v) => !v.includes('\0'));
    fc.assert(
      fc.property(fc.dictionary(name, value), fc.integer({ min: 0, max: 255 }), (vars, flag) => {
        const decoded = decodeEnvCopy(encodeEnvCopy(vars, redundant, flag), redundant);
        expect(decoded).toEqual({ ok: true, value: { vars: { ...vars }, flag } });
      }),
    );
  });

  it('reports a corrupted byte as a CRC error with both values', () => {
    const buf = encodeEnvCopy({ boot_slot: 'B' }, redundant, 1);
    buf[10] = (buf[10] ?? 0) ^ 0xff;
    const decoded = decodeEnvCopy(buf, redundant);
    expect(decoded.ok).toBe(false);
    expect(!decoded.ok && decoded.error).toMatch(/^bad CRC: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}$/);
  });

  it('treats an erased (all 0xff) region as invalid, not as an empty env', () => {
    const decoded = decodeEnvCopy(Buffer.alloc(0x4000, 0xff), redundant);
    expect(decoded.ok).toBe(false);
  });

  it('rejects a short buffer', () => {
    expect(decodeEnvCopy(Buffer.alloc(100), redundant)).toEqual({
      ok: false,
      error: 'copy is 100 bytes, expected 16384',
    });
  });

  it('decodes data padded with 0xff after the terminator (mkenvimage default padding)', () => {
    const buf = Buffer.alloc(64, 0xff);
    buf.write('x=1\0\0', 4, 'latin1');
    buf.writeUInt32LE(crc32(buf.subarray(4)), 0);
    expect(decodeEnvCopy(buf, { size: 64, redundant: false })).toEqual({
      ok: true,
      value: { vars: { x: '1' } },
    });
  });

  it('refuses an environment that does not fit, naming both sizes', () => {
    expect(() => encodeEnvCopy({ big: 'x'.repeat(100) }, { size: 64, redundant: true })).toThrow(
      'environment needs 106 bytes but the data area holds 59',
    );
  });

  it('refuses names with "=" or whitespace and values with NUL', () => {
    expect(() => encodeEnvCopy({ 'a=b': '1' }, redundant)).toThrow('invalid U-Boot variable name "a=b"');
    expect(() => encodeEnvCopy({ 'a b': '1' }, redundant)).toThrow('invalid U-Boot variable name');
    expect(() => encodeEnvCopy({ a: 'x\0y' }, redundant)).toThrow('value of a contains a NUL byte');
    expect(() => encodeEnvCopy({ a: '1' }, redundant, 256)).toThrow('redundant flag must be 0..255, got 256');
  });
});

describe('choosing the current redundant copy (U-Boot env_import_redund)', () => {
  const ok = (flag: number): DecodeResult => ({ ok: true, value: { vars: {}, flag } });
  const bad: DecodeResult = { ok: false, error: 'bad CRC' };

  it.each([
    [ok(1), ok(2), 1],
    [ok(2), ok(1), 0],
    [ok(255), ok(0), 1],
    [ok(0), ok(255), 0],
    [ok(254), ok(255), 1],
    [ok(3), ok(3), 0],
    [ok(9), bad, 0],
    [bad, ok(0), 1],
  ] as const)('%o vs %o -> copy %i', (a, b, expected) => {
    expect(chooseCurrentCopy([a, b])).toBe(expected);
  });

  it('has no current copy when both are invalid', () => {
    expect(chooseCurrentCopy([bad, bad])).toBeUndefined();
  });

  it('wraps the flag after 255', () => {
    expect(nextFlag(255)).toBe(0);
    expect(nextFlag(0)).toBe(1);
  });
});

describe('parsePrintenv', () => {
  it('splits at the first "=" and keeps "=" in values', () => {
    expect(parsePrintenv('a=1\nbootargs=console=ttyAMA0 root=/dev/vda2\n')).toEqual({
      a: '1',
      bootargs: 'console=ttyAMA0 root=/dev/vda2',
    });
  });
});

describe('a torn write of the non-current copy (power cut during a save)', () => {
  it('leaves either the old or the new environment current, never a mix', () => {
    const layout = { size: 0x1000, redundant: true };
    const oldVars = { boot_slot: 'A', upgrade_available: '0', bootcount: '0', bootlimit: '3' };
    const newVars = { boot_slot: 'B', upgrade_available: '1', bootcount: '0', bootlimit: '3' };
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: layout.size }),
        fc.boolean(),
        (flag, tear, staleWasValid) => {
          const current = encodeEnvCopy(oldVars, layout, flag);
          // The copy being overwritten held an older env (or garbage); the new bytes stop at `tear`.
          const stale = staleWasValid
            ? encodeEnvCopy({ boot_slot: 'A', bootcount: '7' }, layout, (flag + 255) % 256)
            : Buffer.alloc(layout.size, 0xa5);
          const written = encodeEnvCopy(newVars, layout, nextFlag(flag));
          const torn = Buffer.concat([written.subarray(0, tear), stale.subarray(tear)]);
          for (const order of [
            [current, torn],
            [torn, current],
          ] as const) {
            const decoded = [decodeEnvCopy(order[0], layout), decodeEnvCopy(order[1], layout)] as const;
            const index = chooseCurrentCopy(decoded);
            expect(index).toBeDefined();
            const chosen = decoded[index ?? 0];
            const vars = chosen.ok ? chosen.value.vars : undefined;
            expect(tear === layout.size ? [newVars] : [oldVars, newVars]).toContainEqual(vars);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
