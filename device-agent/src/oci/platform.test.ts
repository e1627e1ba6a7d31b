import { describe, expect, it } from 'vitest';
import type { Descriptor } from './image-types.js';
import { checkConfigPlatform, parsePlatform, selectManifest } from './platform.js';

const d = (architecture: string, variant?: string, os = 'linux'): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${architecture}${variant ?? ''}`.padEnd(71, '0'),
  size: 1,
  platform: { architecture, os, ...(variant !== undefined ? { variant } : {}) },
});

const index = [
  d('amd64'),
  d('arm64', 'v8'),
  d('arm', 'v7'),
  d('arm', 'v6'),
  { ...d('unknown', undefined, 'unknown') },
];

describe('platform selection', () => {
  it('parses os/arch[/variant] with normalised defaults', () => {
    expect(parsePlatform('linux/arm64')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('linux/arm/v7')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(parsePlatform('linux/aarch64')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(() => parsePlatform('arm64')).toThrow(/os\/arch/);
  });

  it('picks each of the three board platforms', () => {
    expect(selectManifest(index, parsePlatform('linux/arm64'), 'img')).toBe(index[1]);
    expect(selectManifest(index, parsePlatform('linux/arm/v7'), 'img')).toBe(index[2]);
    expect(selectManifest(index, parsePlatform('linux/arm/v6'), 'img')).toBe(index[3]);
    expect(selectManifest(index, parsePlatform('linux/amd64'), 'img')).toBe(index[0]);
  });

  it('matches arm64 entries written without a variant', () => {
    const only = [d('arm64')];
    expect(selectManifest(only, parsePlatform('linux/arm64'), 'img')).toBe(only[0]);
  });

  it('names what the index offers when the platform is missing', () => {
    expect(() => selectManifest([d('amd64'), d('arm', 'v6')], parsePlatform('linux/arm64'), 'img')).toThrow(
      'img has no image for linux/arm64/v8 (offers: linux/amd64, linux/arm/v6)',
    );
  });

  it('never picks attestation entries', () => {
    expect(() =>
      selectManifest([d('unknown', undefined, 'unknown')], parsePlatform('linux/amd64'), 'img'),
    ).toThrow(/offers: nothing/);
  });

  it('refuses a single-arch image for another architecture', () => {
    const config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' as const, diff_ids: [] } };
    expect(() => checkConfigPlatform(config, parsePlatform('linux/arm64'), 'img')).toThrow(
      'img is built for linux/amd64, wanted linux/arm64/v8',
    );
    expect(() => checkConfigPlatform(config, parsePlatform('linux/amd64'), 'img')).not.toThrow();
  });
});
