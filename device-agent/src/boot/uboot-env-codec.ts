import { crc32 } from 'node:zlib';
import { BootControlError } from './boot-control.js';

/**
 * The U-Boot environment block as U-Boot's env/common.c and libubootenv lay it out:
 *
 *   single copy:     [crc32 LE: 4][data: size - 4]
 *   redundant copy:  [crc32 LE: 4][flag: 1][data: size - 5]
 *
 * `data` is `name=value\0` entries ended by an empty entry (`\0\0`), padded to the end.
 * The CRC covers the whole data area (padding included) but never the flag. For redundant
 * copies on block devices and files the flag is a serial number: the copy with the higher
 * flag is current, with 255 → 0 wrapping (U-Boot `env_import_redund`).
 */
export type EnvVars = Record<string, string>;

export interface EnvLayout {
  /** Bytes per copy (fw_env.config's "env size"). */
  size: number;
  redundant: boolean;
}

export interface DecodedCopy {
  vars: EnvVars;
  /** Serial flag of a redundant copy; undefined for a single copy. */
  flag?: number;
}

export type DecodeResult = { ok: true; value: DecodedCopy } | { ok: false; error: string };

function headerSize(layout: EnvLayout): number {
  return layout.redundant ? 5 : 4;
}

function checkLayout(layout: EnvLayout): void {
  if (!Number.isInteger(layout.size) || layout.size < 16) {
    throw new BootControlError(
      'config-invalid',
      `env size must be an integer >= 16 bytes, got ${layout.size}`,
    );
  }
}

export function validateVarName(name: string): void {
  if (name.length === 0 || name.includes('=') || name.includes('\0') || /\s/.test(name)) {
    throw new BootControlError('env-invalid', `invalid U-Boot variable name ${JSON.stringify(name)}`);
  }
}

/** Encode one copy. Variables are written sorted by name, so equal maps give equal bytes. */
export function encodeEnvCopy(vars: EnvVars, layout: EnvLayout, flag = 0): Buffer {
  checkLayout(layout);
  const header = headerSize(layout);
  const dataSize = layout.size - header;
  const entries = Object.keys(vars)
    .sort()
    .map((name) => {
      validateVarName(name);
      const value = vars[name] ?? '';
      if (value.includes('\0')) {
        throw new BootControlError('env-invalid', `value of ${name} contains a NUL byte`);
      }
      return Buffer.from(`${name}=${value}\0`, 'utf8');
    });
  const payload = Buffer.concat(entries);
  // One more NUL ends the list; an empty env is just "\0\0".
  const needed = Math.max(payload.length + 1, 2);
  if (needed > dataSize) {
    throw new BootControlError(
      'env-too-large',
      `environment needs ${needed} bytes but the data area holds ${dataSize}`,
    );
  }
  const out = Buffer.alloc(layout.size, 0);
  payload.copy(out, header);
  out.writeUInt32LE(crc32(out.subarray(header)), 0);
  if (layout.redundant) {
    if (!Number.isInteger(flag) || flag < 0 || flag > 255) {
      throw new BootControlError('env-invalid', `redundant flag must be 0..255, got ${flag}`);
    }
    out[4] = flag;
  }
  return out;
}

export function decodeEnvCopy(buf: Buffer, layout: EnvLayout): DecodeResult {
  checkLayout(layout);
  if (buf.length < layout.size) {
    return { ok: false, error: `copy is ${buf.length} bytes, expected ${layout.size}` };
  }
  const header = headerSize(layout);
  const data = buf.subarray(header, layout.size);
  const stored = buf.readUInt32LE(0);
  const computed = crc32(data);
  if (stored !== computed) {
    return {
      ok: false,
      error: `bad CRC: stored 0x${stored.toString(16).padStart(8, '0')}, computed 0x${computed.toString(16).padStart(8, '0')}`,
    };
  }
  const vars: EnvVars = {};
  let pos = 0;
  while (pos < data.length) {
    const end = data.indexOf(0, pos);
    if (end === -1) return { ok: false, error: 'data area is not NUL-terminated' };
    if (end === pos) break; // empty entry: end of list
    const entry = data.toString('utf8', pos, end);
    const eq = entry.indexOf('=');
    // U-Boot's himport_r skips entries without '='; keep the same tolerance.
    if (eq > 0) vars[entry.slice(0, eq)] = entry.slice(eq + 1);
    pos = end + 1;
  }
  return { ok: true, value: layout.redundant ? { vars, flag: buf[4] ?? 0 } : { vars } };
}

/**
 * Which of two redundant copies is current, exactly as U-Boot decides (env_import_redund).
 * Returns the index (0 or 1) or undefined when neither copy is valid.
 */
export function chooseCurrentCopy(copies: readonly [DecodeResult, DecodeResult]): 0 | 1 | undefined {
  const [a, b] = copies;
  if (!a.ok && !b.ok) return undefined;
  if (a.ok && !b.ok) return 0;
  if (!a.ok && b.ok) return 1;
  const f1 = a.ok ? (a.value.flag ?? 0) : 0;
  const f2 = b.ok ? (b.value.flag ?? 0) : 0;
  if (f1 === 255 && f2 === 0) return 1;
  if (f2 === 255 && f1 === 0) return 0;
  if (f2 > f1) return 1;
  return 0; // greater, or equal ("almost impossible" in U-Boot's words): the first copy wins
}

export function nextFlag(flag: number): number {
  return (flag + 1) % 256;
}

/** Parse `fw_printenv` output (`name=value` per line). Used by tests and tooling. */
export function parsePrintenv(text: string): EnvVars {
  const vars: EnvVars = {};
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    vars[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return vars;
}
