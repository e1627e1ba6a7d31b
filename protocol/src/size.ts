import { z } from 'zod';

// Binary multiples, as LXC's cgroup keys and Docker's --memory read them: 64M = 64 MiB.
const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  ki: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  ti: 1024 ** 4,
  tib: 1024 ** 4,
};

const SIZE_TEXT = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/;

/** Parses `64M`, `1.5G`, `512k`, `4096` (bytes) into a whole number of bytes, or undefined. */
export function parseSize(text: string): number | undefined {
  const m = SIZE_TEXT.exec(text);
  if (!m) return undefined;
  const unit = UNITS[(m[2] ?? '').toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** A size in bytes, given either as a number or as text such as `64M`. Output is always bytes. */
export const Size = z.union([
  z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  z.string().transform((text, ctx) => {
    const bytes = parseSize(text);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a size (use bytes or e.g. 64M, 1.5G)` });
      return z.NEVER;
    }
    return bytes;
  }),
]);
export type Size = z.output<typeof Size>;
