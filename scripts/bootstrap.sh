#!/usr/bin/env bash
# Sets up everything the product and its tests need, idempotently: Node check, pnpm, Debian
# packages (as root), workspace install and build. Both README commands run this first.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=12.4.2
say() { printf '\033[1mbootstrap:\033[0m %s\n' "$*"; }
die() { printf '\033[31mbootstrap: %s\033[0m\n' "$*" >&2; exit 1; }

# --- Node ---------------------------------------------------------------------------------
command -v node >/dev/null || die "Node.js is not installed. Install Node 20.19 or newer (Debian: apt-get install nodejs)."
node -e '
  const [a, b] = process.versions.node.split(".").map(Number);
  if (a < 20 || (a === 20 && b < 19)) { console.error(`Node ${process.versions.node} is too old: fleet needs 20.19 or newer (require(esm)).`); process.exit(1); }
' || exit 1

# --- Debian packages ------------------------------------------------------------------------
# What each is for: lxc (containers), nftables (published ports switched on hand-over), busybox-static (test rootfs), squashfs-tools/erofs-utils
# (rootfs objects), umoci/skopeo/docker-registry (OCI reference tools and a real registry in
# tests), crun/runc (benchmark references), u-boot-tools/mtools/dosfstools/genimage/bmap-tools/
# fdisk/e2fsprogs (images), qemu-system-arm/u-boot-qemu/qemu-user-static (aarch64 boots),
# chromium (dashboard tests), hyperfine (benchmarks), mosquitto/postgresql (services).
APT_PACKAGES=(
  lxc nftables busybox-static squashfs-tools erofs-utils umoci skopeo docker-registry crun runc
  u-boot-tools mtools dosfstools genimage bmap-tools fdisk e2fsprogs qemu-system-arm u-boot-qemu
  qemu-user-static binfmt-support ipxe-qemu kmod cpio zstd xz-utils chromium hyperfine iproute2 uidmap
  mosquitto mosquitto-clients postgresql python3 make g++ attr openssl util-linux coreutils libubootenv-tool g++-aarch64-linux-gnu
)
# arm64 .debs (kernel, busybox, firmware) are fetched with `apt-get download <pkg>:arm64` by the
# image builder; the Raspberry Pi firmware lives in Debian's non-free-firmware component.
if [ "$(id -u)" = 0 ]; then
  need_update=0
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then dpkg --add-architecture arm64; need_update=1; fi
  if ! grep -rqs 'non-free-firmware' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Same mirror as the machine's own Debian sources: add only the component.
    # `|| true`: grep exits 2 when one of the files is missing (Debian 12 has only the
    # deb822 file), and with pipefail + set -e that would end the script silently.
    uri=$({ grep -hoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true; } | grep -v security | head -1 | awk '{print $2}')
    [ -n "$uri" ] || die "cannot find this machine's Debian mirror in /etc/apt/sources.list*"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\nComponents: non-free-firmware\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      >/etc/apt/sources.list.d/fleet-non-free-firmware.sources
    need_update=1
  fi
  if [ "$need_update" = 1 ]; then apt-get -o DPkg::Lock::Timeout=600 update -q; fi
fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -q
    apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
  else
    say "not root: cannot install ${missing[*]}."
    say "Run 'sudo $0' once, or install them yourself; containers, images and their tests need them."
  fi
fi

# --- pnpm -----------------------------------------------------------------------------------
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  say "installing pnpm $PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi

# --- workspace ------------------------------------------------------------------------------
# Third-party node-gyp addons must build against the local Node headers: pnpm's bundled
# node-gyp would otherwise try to download them.
export npm_config_nodedir
npm_config_nodedir="$(node -p "require('path').resolve(process.execPath, '../..')")"
say "pnpm install --frozen-lockfile"
CI=true pnpm install --frozen-lockfile || die "pnpm install failed"
say "building the workspace"
pnpm -r --workspace-concurrency=1 run build >/tmp/fleet-build.log 2>&1 || { tail -40 /tmp/fleet-build.log; die "build failed (full log: /tmp/fleet-build.log)"; }
say "ready"
