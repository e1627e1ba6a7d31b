import type { Phase } from '@fleet/protocol/browser';

export type PhasesResult = { ok: true; phases: Phase[] } | { ok: false; error: string };

/**
 * Parses the wizard's phase list, `1,10%,50%,100%` (as `hubctl deploy --phases`): each entry is
 * a device count or a cumulative percent of the target. Percents must grow and end at 100 so
 * that the last phase covers every device.
 */
export function parsePhases(text: string, bakeSeconds: number): PhasesResult {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (parts.length === 0) return { ok: false, error: 'give at least one phase, e.g. 1,10%,100%' };
  if (parts.length > 20) return { ok: false, error: 'at most 20 phases' };
  const phases: Phase[] = [];
  let lastPercent = 0;
  for (const [i, p] of parts.entries()) {
    const pct = /^(\d{1,3})%$/.exec(p);
    if (pct) {
      const v = Number(pct[1]);
      if (v < 1 || v > 100) return { ok: false, error: `phase ${i + 1}: ${p} is not between 1% and 100%` };
      if (v <= lastPercent)
        return { ok: false, error: `phase ${i + 1}: ${p} must be above the previous ${lastPercent}%` };
      lastPercent = v;
      phases.push({ percent: v, bakeSeconds });
    } else if (/^\d{1,7}$/.test(p) && Number(p) > 0) {
      phases.push({ count: Number(p), bakeSeconds });
    } else {
      return { ok: false, error: `phase ${i + 1}: "${p}" is neither a device count nor a percent` };
    }
  }
  const last = phases.at(-1)!;
  if (!('percent' in last) || last.percent !== 100)
    return { ok: false, error: 'the last phase must be 100% so that every targeted device is covered' };
  return { ok: true, phases };
}

export function describePhase(p: {
  count?: number | null | undefined;
  percent?: number | null | undefined;
}): string {
  if (p.percent !== null && p.percent !== undefined) return `${p.percent}%`;
  if (p.count !== null && p.count !== undefined) return `${p.count} device${p.count === 1 ? '' : 's'}`;
  return '–';
}
