import { open, readFile } from 'node:fs/promises';
import { BootControlError } from './boot-control.js';
import { parseFwEnvConfig } from './fw-env-config.js';
import type { EnvCopyLocation, FwEnvConfig } from './fw-env-config.js';
import { chooseCurrentCopy, decodeEnvCopy, encodeEnvCopy, nextFlag } from './uboot-env-codec.js';
import type { DecodeResult, EnvLayout, EnvVars } from './uboot-env-codec.js';

export interface EnvSnapshot {
  vars: EnvVars;
  /** Index of the copy that was current. */
  current: 0 | 1;
  flag?: number;
  /** Why the other copy was not used, when it was invalid. */
  otherCopyError?: string;
}

async function readRegion(loc: EnvCopyLocation): Promise<Buffer> {
  const handle = await open(loc.device, 'r');
  try {
    const buf = Buffer.alloc(loc.size);
    const { bytesRead } = await handle.read(buf, 0, loc.size, loc.offset);
    return bytesRead === loc.size ? buf : buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

async function writeRegion(loc: EnvCopyLocation, data: Buffer): Promise<void> {
  const handle = await open(loc.device, 'r+');
  try {
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await handle.write(data, off, data.length - off, loc.offset + off);
      off += bytesWritten;
    }
    // The copy must be durable before anyone acts on it (e.g. reboots into an armed slot).
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A U-Boot environment on a block device or in a file, read and written the way
 * fw_printenv/fw_setenv do: a write goes to the non-current copy with the next flag, so a
 * power cut during the write leaves the previous copy current.
 */
export class UbootEnvStore {
  readonly layout: EnvLayout;

  constructor(readonly config: FwEnvConfig) {
    const first = config.copies[0];
    if (!first) throw new BootControlError('config-invalid', 'no environment copy configured');
    this.layout = { size: first.size, redundant: config.copies.length === 2 };
  }

  static async fromConfigFile(path: string): Promise<UbootEnvStore> {
    return new UbootEnvStore(parseFwEnvConfig(await readFile(path, 'utf8')));
  }

  private async decodeAll(): Promise<DecodeResult[]> {
    return Promise.all(
      this.config.copies.map(async (loc) => {
        try {
          return decodeEnvCopy(await readRegion(loc), this.layout);
        } catch (error) {
          return {
            ok: false as const,
            error: `cannot read ${loc.device}@0x${loc.offset.toString(16)}: ${(error as Error).message}`,
          };
        }
      }),
    );
  }

  async read(): Promise<EnvSnapshot> {
    const results = await this.decodeAll();
    const [a, b] = results;
    if (!a) throw new BootControlError('config-invalid', 'no environment copy configured');
    if (!b) {
      if (!a.ok) throw new BootControlError('env-invalid', `U-Boot environment is invalid: ${a.error}`);
      return { vars: a.value.vars, current: 0 };
    }
    const index = chooseCurrentCopy([a, b]);
    if (index === undefined) {
      const errA = a.ok ? '' : a.error;
      const errB = b.ok ? '' : b.error;
      throw new BootControlError(
        'env-invalid',
        `both U-Boot environment copies are invalid (copy 1: ${errA}; copy 2: ${errB})`,
      );
    }
    const chosen = index === 0 ? a : b;
    const other = index === 0 ? b : a;
    if (!chosen.ok) throw new BootControlError('env-invalid', 'unreachable: chosen copy invalid');
    return {
      vars: chosen.value.vars,
      current: index,
      ...(chosen.value.flag !== undefined ? { flag: chosen.value.flag } : {}),
      ...(other.ok ? {} : { otherCopyError: other.error }),
    };
  }

  /** Replace the whole environment (keeping redundancy semantics). */
  async write(vars: EnvVars): Promise<void> {
    if (!this.layout.redundant) {
      const loc = this.config.copies[0];
      if (!loc) throw new BootControlError('config-invalid', 'no environment copy configured');
      await writeRegion(loc, encodeEnvCopy(vars, this.layout));
      return;
    }
    const current = await this.read();
    const target = current.current === 0 ? 1 : 0;
    const loc = this.config.copies[target];
    if (!loc) throw new BootControlError('config-invalid', 'redundant copy missing');
    await writeRegion(loc, encodeEnvCopy(vars, this.layout, nextFlag(current.flag ?? 0)));
  }

  /** Read-modify-write. */
  async update(change: (vars: EnvVars) => EnvVars): Promise<EnvVars> {
    const { vars } = await this.read();
    const next = change({ ...vars });
    await this.write(next);
    return next;
  }

  /**
   * Write every copy from scratch (image build, or repair after both copies went bad).
   * Copy 1 gets flag 1 and copy 2 flag 0, so copy 1 is current, as fw_setenv leaves a fresh env.
   */
  async initialize(vars: EnvVars): Promise<void> {
    await Promise.all(
      this.config.copies.map((loc, i) =>
        writeRegion(loc, encodeEnvCopy(vars, this.layout, this.layout.redundant ? (i === 0 ? 1 : 0) : 0)),
      ),
    );
  }
}
