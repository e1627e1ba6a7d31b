import type { BoardDefinition } from '@fleet/board-support';
import { partitionDevice } from '@fleet/board-support';

/** The console device Linux names in `console=` (without the ",115200" speed suffix). */
export function consoleTty(board: BoardDefinition): string {
  return board.console.linux.split(',')[0] ?? 'console';
}

/**
 * initramfs /init: load the board's modules (the Debian kernel has virtio/mmc/ext4 as
 * modules), mount the slot's root read-only, switch_root. Any failure reboots, which the
 * boot script counts as a failed boot of that slot (bootcount/bootlimit fallback).
 */
export function initramfsInit(): string {
  return `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /newroot /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "FLEET: initramfs: $*: rebooting (counts as a failed boot)"; sleep 1; reboot -f; }
for m in $(cat /etc/modules.load); do insmod "/lib/modules/$m" || echo "FLEET: initramfs: insmod $m failed"; done
root=
for a in $(cat /proc/cmdline); do case "$a" in root=*) root="\${a#root=}";; esac; done
[ -n "$root" ] || fail "no root= on the kernel command line"
i=0; while [ ! -b "$root" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
[ -b "$root" ] || fail "root device $root did not appear"
mount -t ext4 -o ro "$root" /newroot || fail "cannot mount $root"
[ -x /newroot/sbin/init ] || fail "$root has no /sbin/init"
umount /proc /sys
mount --move /dev /newroot/dev || umount /dev
exec switch_root /newroot /sbin/init
`;
}

/** busybox init's table: our rc script, the agent under respawn, a console shell. */
export function inittab(board: BoardDefinition): string {
  const tty = consoleTty(board);
  return `# fleet: busybox init (PID 1 reaps and respawns; the agent is supervised here)
::sysinit:/etc/fleet/rcS
::respawn:/etc/fleet/agent-run
${tty}::askfirst:-/bin/sh
::shutdown:/etc/fleet/rc-shutdown
::ctrlaltdel:/sbin/reboot
`;
}

/**
 * Early userspace: mounts, the data partition at /storage, the first "we reached userspace"
 * marker. \`fleet.test=poweroff|commit|script\` on the kernel command line (the boot env's
 * fleet_args) lets the qemu harness end a boot deterministically or run
 * /storage/fleet-test.sh; nothing else reads it.
 */
export function rcS(board: BoardDefinition): string {
  const data = partitionDevice(board, 'data');
  return `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
grep -q ' /dev ' /proc/mounts || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
hostname -F /etc/hostname
slot=$(sed -n 's/.*fleet\\.slot=\\([AB]\\).*/\\1/p' /proc/cmdline)
test=$(sed -n 's/.*fleet\\.test=\\([a-z-]*\\).*/\\1/p' /proc/cmdline)
echo "FLEET: userspace slot=$slot release=$(cat /etc/fleet/release) uptime=$(cut -d' ' -f1 /proc/uptime)"
if mount -t ext4 -o rw,noatime,nosuid,nodev ${data} /storage; then
  echo "FLEET: data partition mounted at /storage"
else
  echo "FLEET: cannot mount the data partition ${data}"
fi
echo "$(cut -d' ' -f1 /proc/uptime) slot=$slot" >> /storage/boot-history 2>/dev/null
# The device's identity outlives slot updates: generated once on the data partition
# (/etc/machine-id links here; the root filesystem is read-only and the same on every device).
if [ ! -s /storage/machine-id ]; then
  tr -d '-' < /proc/sys/kernel/random/uuid > /storage/machine-id.tmp && sync && mv /storage/machine-id.tmp /storage/machine-id && sync
fi
ip link set lo up
for nic in /sys/class/net/eth*; do
  [ -e "$nic" ] || continue
  ip link set "\${nic##*/}" up
  udhcpc -i "\${nic##*/}" -s /etc/fleet/udhcpc.script -b -t 10 -T 1 >/dev/null 2>&1
done
case "$test" in
  poweroff)
    echo "FLEET: test poweroff"
    sync; umount /storage; poweroff -f ;;
  commit)
    echo "FLEET: verify-boot $(boot-control verify-boot)"
    echo "FLEET: commit $(boot-control commit)"
    sync; umount /storage; poweroff -f ;;
  script)
    # The harness put a script on the data partition (debugfs, no mount) to extend a test.
    echo "FLEET: test script"
    sh /storage/fleet-test.sh 2>&1
    sync; umount /storage; poweroff -f ;;
esac
`;
}

/**
 * The agent under busybox init's respawn: the bundle from device-agent (fleet-agent.mjs and
 * its native addon, cross-built for the board) with the config on the data partition, which
 * names the uboot-env backend, the board's slot partitions and /etc/fw_env.config.
 */
export function agentRun(): string {
  return `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
if [ -f /opt/fleet/agent/fleet-agent.mjs ] && [ -f /etc/fleet/agent.json ]; then
  echo "FLEET: agent starting"
  /usr/bin/node --max-semi-space-size=1 --no-sparkplug /opt/fleet/agent/fleet-agent.mjs run --config /etc/fleet/agent.json
  status=$?
  echo "FLEET: agent exited status=$status"
  # respawn after a pause: a crash loop must not spin the CPU
  sleep 5
  exit $status
fi
echo "FLEET: no agent at /opt/fleet/agent/fleet-agent.mjs"
exec sleep 2147483647
`;
}

export function rcShutdown(): string {
  return `#!/bin/sh
sync
umount /storage 2>/dev/null
`;
}

/** busybox udhcpc's event script (the Debian one lives under /usr/share, left out). */
export function udhcpcScript(): string {
  return `#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    for r in $router; do ip route replace default via "$r" dev "$interface"; break; done
    echo "FLEET: network $interface $ip/\${mask:-24} via $router" > /dev/console ;;
esac
exit 0
`;
}
