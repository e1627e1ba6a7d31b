# fleet A/B boot script for qemu-aarch64 (generated from board-support/boot/boot.cmd.in: edit
# that and regenerate, a test keeps the two equal). Build: mkimage -T script -d boot.cmd boot.scr
#
# The A/B state is a redundant U-Boot environment in the raw gap before partition 1
# (copies at blocks 0x800 and 0x880, 0x4000 bytes each), the same bytes
# fw_printenv/fw_setenv and the agent's uboot-env backend read and write. Each copy is
# [crc32][flag][data]; the valid copy with the higher flag (255 wraps to 0) is current, a save
# goes to the other copy with flag+1. `env import -c` checks the CRC of a [crc32][data]
# block, so each copy is first repacked without its flag byte.
#
# Debian's U-Boot has no CONFIG_BOOTCOUNT_LIMIT: the counter is kept here. While
# upgrade_available=1 every boot increments bootcount and saves; once bootcount > bootlimit
# the script falls back to the other slot and records fallback_from. Userspace commits by
# setting upgrade_available=0. setexpr/itest count in hex, and so does the agent.
# Variables kept in the environment: boot_slot upgrade_available bootcount bootlimit
# fallback_from fleet_args (extra kernel arguments). A save by this script drops any other.

echo "FLEET: A/B boot script (qemu-aarch64)"
setenv fleet_vars boot_slot upgrade_available bootcount bootlimit fallback_from fleet_args
setenv fleet_ok1 0
setenv fleet_ok2 0
setenv fleet_cur 0
${devtype} dev ${devnum}
${devtype} read 0x50000000 0x800 0x20
${devtype} read 0x50100000 0x880 0x20
cp.b 0x50000000 0x50200000 4
cp.b 0x50000005 0x50200004 0x3ffb
cp.b 0x50100000 0x50300000 4
cp.b 0x50100005 0x50300004 0x3ffb
setexpr.b fleet_flag1 *0x50000004
setexpr.b fleet_flag2 *0x50100004
if env import -c 0x50200000 0x3fff ${fleet_vars}; then setenv fleet_ok1 1; fi
if env import -c 0x50300000 0x3fff ${fleet_vars}; then setenv fleet_ok2 1; fi
if test ${fleet_ok1} = 1 && test ${fleet_ok2} = 1; then
  if itest ${fleet_flag1} == ff && itest ${fleet_flag2} == 0; then setenv fleet_cur 2
  elif itest ${fleet_flag2} == ff && itest ${fleet_flag1} == 0; then setenv fleet_cur 1
  elif itest ${fleet_flag2} -gt ${fleet_flag1}; then setenv fleet_cur 2
  else setenv fleet_cur 1; fi
elif test ${fleet_ok1} = 1; then setenv fleet_cur 1
elif test ${fleet_ok2} = 1; then setenv fleet_cur 2
fi
# Both copies were imported above to check their CRCs: reset, then import only the current one.
setenv boot_slot A
setenv upgrade_available 0
setenv bootcount 0
setenv bootlimit 3
setenv fallback_from
setenv fleet_args
if test ${fleet_cur} = 1; then env import -c 0x50200000 0x3fff ${fleet_vars}; setenv fleet_flag ${fleet_flag1}; fi
if test ${fleet_cur} = 2; then env import -c 0x50300000 0x3fff ${fleet_vars}; setenv fleet_flag ${fleet_flag2}; fi
if test ${fleet_cur} = 0; then echo "FLEET: no valid environment copy: booting slot A, saving nothing"; fi
echo "FLEET: env copy=${fleet_cur} valid=${fleet_ok1}${fleet_ok2} flags=${fleet_flag1},${fleet_flag2}"
if test "${upgrade_available}" = 1; then
  setexpr bootcount ${bootcount} + 1
  if itest ${bootcount} -gt ${bootlimit}; then
    echo "FLEET: bootcount ${bootcount} > bootlimit ${bootlimit}: falling back from slot ${boot_slot}"
    setenv fallback_from ${boot_slot}
    if test "${boot_slot}" = B; then setenv boot_slot A; else setenv boot_slot B; fi
    setenv upgrade_available 0
  fi
  setexpr fleet_flag ${fleet_flag} + 1
  setexpr fleet_flag ${fleet_flag} % 100
  env export -c -s 0x3fff 0x50400000 ${fleet_vars}
  cp.b 0x50400000 0x50500000 4
  mw.b 0x50500004 ${fleet_flag}
  cp.b 0x50400004 0x50500005 0x3ffb
  if test ${fleet_cur} = 1; then setenv fleet_blk 0x880; else setenv fleet_blk 0x800; fi
  if ${devtype} write 0x50500000 ${fleet_blk} 0x20; then echo "FLEET: saved env copy at block ${fleet_blk} flag ${fleet_flag}"; else echo "FLEET: env save failed"; fi
fi
if test "${boot_slot}" = B; then setenv fleet_rootpart 3; else setenv fleet_rootpart 2; fi
echo "FLEET: slot=${boot_slot} rootpart=${fleet_rootpart} upgrade_available=${upgrade_available} bootcount=${bootcount} bootlimit=${bootlimit} fallback_from=${fallback_from}"
# Kernel and initramfs live inside the slot (/boot of its ext4 root): a slot is one object.
# A slot that cannot be loaded or booted resets the board, which counts as a failed boot.
if load ${devtype} ${devnum}:${fleet_rootpart} ${kernel_addr_r} /boot/Image; then
  if load ${devtype} ${devnum}:${fleet_rootpart} ${ramdisk_addr_r} /boot/initrd.img; then
    setenv bootargs "console=ttyAMA0 root=/dev/vda${fleet_rootpart} rootwait ro panic=5 fleet.slot=${boot_slot} fleet.bootcount=${bootcount} ${fleet_args}"
    booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdt_addr}
  fi
fi
echo "FLEET: slot ${boot_slot} did not boot: reset"
reset
