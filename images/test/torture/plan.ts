// The torture's options and its cut plan: pure, so they are unit-tested apart from qemu.

/** Where a power cut falls, in the order an update passes through them. */
export const CUT_PHASES = ['download', 'slot-write', 'first-boot', 'commit'] as const;
export type CutPhase = (typeof CUT_PHASES)[number];

export interface TortureOptions {
  updates: number;
  cuts: number;
  seed: number;
  phases: CutPhase[];
  updateTimeoutMs: number;
  bootTimeoutMs: number;
  keep: boolean;
  /** Data partition size in MiB (undefined: as the board defines it). */
  dataMiB: number | undefined;
}

export class TortureOptionError extends Error {}

function integer(
  env: Record<string, string | undefined>,
  name: string,
  fallback: number,
  min: number,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min)
    throw new TortureOptionError(`${name} must be an integer >= ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

export function parseTortureOptions(
  env: Record<string, string | undefined>,
  now: () => number = Date.now,
): TortureOptions {
  const phases = (env.TORTURE_PHASES ?? CUT_PHASES.join(','))
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (phases.length === 0)
    throw new TortureOptionError(`TORTURE_PHASES lists none of ${CUT_PHASES.join(', ')}`);
  for (const p of phases)
    if (!(CUT_PHASES as readonly string[]).includes(p))
      throw new TortureOptionError(
        `TORTURE_PHASES: unknown phase ${JSON.stringify(p)} (known: ${CUT_PHASES.join(', ')})`,
      );
  return {
    updates: integer(env, 'TORTURE_UPDATES', 6, 1),
    cuts: integer(env, 'TORTURE_CUTS', 4, 0),
    seed: integer(env, 'TORTURE_SEED', now() % 2 ** 31, 0),
    phases: [...new Set(phases)] as CutPhase[],
    updateTimeoutMs: integer(env, 'TORTURE_UPDATE_TIMEOUT_S', 2700, 1) * 1000,
    bootTimeoutMs: integer(env, 'TORTURE_BOOT_TIMEOUT_S', 1800, 1) * 1000,
    keep: Boolean(env.TORTURE_KEEP),
    dataMiB: env.TORTURE_DATA_MIB ? integer(env, 'TORTURE_DATA_MIB', 0, 1) : undefined,
  };
}

/** mulberry32: a reproducible run from TORTURE_SEED. */
export function seededRandom(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface PlannedCut {
  phase: CutPhase;
  /** Where inside the phase, 0..1 (download: share of the bytes; others: share of a delay). */
  at: number;
}

/**
 * M cuts over N updates. The first cuts take each listed phase once (in random order), so a
 * short run still covers them all; the rest take random phases. A cut during the slot write
 * makes the agent roll that update back (no new slot boots), so it never shares an update with
 * a first-boot or commit cut when another update can take one of them. Each update's cuts are
 * in the order the update meets them.
 */
export function planCuts(
  updates: number,
  cuts: number,
  phases: readonly CutPhase[],
  random: () => number,
): PlannedCut[][] {
  if (!Number.isInteger(updates) || updates < 1)
    throw new TortureOptionError('planCuts: updates must be >= 1');
  if (!Number.isInteger(cuts) || cuts < 0) throw new TortureOptionError('planCuts: cuts must be >= 0');
  if (phases.length === 0) throw new TortureOptionError('planCuts: no phases');
  const order = [...phases];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const plan: PlannedCut[][] = Array.from({ length: updates }, () => []);
  const afterWrite = (p: CutPhase) => p === 'first-boot' || p === 'commit';
  for (let i = 0; i < cuts; i++) {
    const phase = i < order.length ? order[i]! : phases[Math.floor(random() * phases.length)]!;
    const fits = plan
      .map((c, u) => ({ c, u }))
      .filter(({ c }) =>
        phase === 'slot-write'
          ? !c.some((x) => afterWrite(x.phase) || x.phase === 'slot-write')
          : afterWrite(phase)
            ? !c.some((x) => x.phase === 'slot-write')
            : true,
      )
      .map(({ u }) => u);
    const pool = fits.length > 0 ? fits : plan.map((_, u) => u);
    const u = pool[Math.floor(random() * pool.length)]!;
    plan[u]!.push({ phase, at: random() });
  }
  for (const c of plan) c.sort((a, b) => CUT_PHASES.indexOf(a.phase) - CUT_PHASES.indexOf(b.phase));
  return plan;
}
