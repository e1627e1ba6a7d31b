import { OciError } from './errors.js';
import type { Descriptor, ImageConfig, Platform } from './image-types.js';

/** A wanted platform: `linux/arm64`, `linux/arm/v7`, `linux/amd64`. */
export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

const ARCH_ALIASES: Record<string, string> = {
  aarch64: 'arm64',
  x86_64: 'amd64',
  armhf: 'arm',
  armel: 'arm',
};

/** Default variants as containerd's platform matcher normalises them. */
function normalise(p: PlatformSpec): PlatformSpec {
  const architecture = ARCH_ALIASES[p.architecture] ?? p.architecture;
  let variant = p.variant === '' ? undefined : p.variant;
  if (architecture === 'arm64' && (variant === undefined || variant === '8')) variant = 'v8';
  if (architecture === 'arm' && variant === undefined) variant = 'v7';
  if (architecture === 'arm' && variant !== undefined && /^[5-8]$/.test(variant)) variant = `v${variant}`;
  if (architecture === 'amd64') variant = undefined; // amd64 levels (v2, v3) are not used for selection here
  return { os: p.os, architecture, ...(variant !== undefined ? { variant } : {}) };
}

export function parsePlatform(text: string): PlatformSpec {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new OciError(
      'invalid-reference',
      `platform ${JSON.stringify(text)}: expected os/arch[/variant], e.g. linux/arm64 or linux/arm/v7`,
    );
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return normalise({ os, architecture, ...(variant !== undefined ? { variant } : {}) });
}

export function formatPlatform(p: PlatformSpec): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined).join('/');
}

export function platformMatches(candidate: PlatformSpec | Platform, want: PlatformSpec): boolean {
  const c = normalise(candidate);
  const w = normalise(want);
  return c.os === w.os && c.architecture === w.architecture && c.variant === w.variant;
}

/**
 * Picks the manifest for `want` from an index / manifest list. Entries without a platform
 * (attestations, artifacts) are never chosen. The error lists what the index offers.
 */
export function selectManifest(
  manifests: readonly Descriptor[],
  want: PlatformSpec,
  what: string,
): Descriptor {
  const candidates = manifests.filter((m) => m.platform !== undefined && m.platform.os !== 'unknown');
  const hit = candidates.find((m) => platformMatches(m.platform!, want));
  if (hit !== undefined) return hit;
  const offered = candidates.map((m) => formatPlatform(normalise(m.platform!)));
  throw new OciError(
    'wrong-platform',
    `${what} has no image for ${formatPlatform(normalise(want))} (offers: ${offered.length > 0 ? offered.join(', ') : 'nothing with a platform'})`,
  );
}

/** The image's own config must name the wanted platform: a single-arch image for amd64 must not land on an arm64 board. */
export function checkConfigPlatform(config: ImageConfig, want: PlatformSpec, what: string): void {
  const have = {
    os: config.os,
    architecture: config.architecture,
    ...(config.variant !== undefined ? { variant: config.variant } : {}),
  };
  if (!platformMatches(have, want)) {
    throw new OciError(
      'wrong-platform',
      `${what} is built for ${formatPlatform(normalise(have))}, wanted ${formatPlatform(normalise(want))}`,
    );
  }
}
