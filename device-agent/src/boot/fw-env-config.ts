import { BootControlError } from './boot-control.js';

/** One line of fw_env.config: where one copy of the environment lives. */
export interface EnvCopyLocation {
  device: string;
  offset: number;
  size: number;
}

export interface FwEnvConfig {
  /** One location (single env) or two (redundant env). */
  copies: EnvCopyLocation[];
}

function parseNumber(text: string, what: string, lineNo: number): number {
  const value = /^0x[0-9a-f]+$/i.test(text)
    ? Number.parseInt(text.slice(2), 16)
    : /^\d+$/.test(text)
      ? Number(text)
      : NaN;
  if (!Number.isSafeInteger(value)) {
    throw new BootControlError(
      'config-invalid',
      `fw_env.config line ${lineNo}: ${what} ${JSON.stringify(text)} is not a number`,
    );
  }
  return value;
}

/**
 * Parse the fw_env.config format of u-boot-tools / libubootenv:
 * `<device> <offset> <env size> [<sector size> [<sectors>]]`, `#` comments.
 * The sector columns only matter for MTD flash, which we do not write.
 */
export function parseFwEnvConfig(text: string): FwEnvConfig {
  const copies: EnvCopyLocation[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
    if (line.length === 0) return;
    const cols = line.split(/\s+/);
    const lineNo = index + 1;
    if (cols.length < 3) {
      throw new BootControlError(
        'config-invalid',
        `fw_env.config line ${lineNo}: expected "<device> <offset> <size>", got ${JSON.stringify(raw)}`,
      );
    }
    copies.push({
      device: cols[0] ?? '',
      offset: parseNumber(cols[1] ?? '', 'offset', lineNo),
      size: parseNumber(cols[2] ?? '', 'env size', lineNo),
    });
  });
  if (copies.length === 0 || copies.length > 2) {
    throw new BootControlError(
      'config-invalid',
      `fw_env.config must list 1 or 2 environment copies, found ${copies.length}`,
    );
  }
  const [first, second] = copies;
  if (first && second) {
    if (first.size !== second.size) {
      throw new BootControlError(
        'config-invalid',
        `redundant copies differ in size (${first.size} vs ${second.size})`,
      );
    }
    if (
      first.device === second.device &&
      first.offset < second.offset + second.size &&
      second.offset < first.offset + first.size
    ) {
      throw new BootControlError('config-invalid', 'redundant copies overlap');
    }
  }
  return { copies };
}

export function formatFwEnvConfig(config: FwEnvConfig): string {
  return (
    config.copies.map((c) => `${c.device}\t0x${c.offset.toString(16)}\t0x${c.size.toString(16)}`).join('\n') +
    '\n'
  );
}
