#!/bin/sh
# /init of bhyve's default guest (busybox).  Mounts the pseudo file systems, loads the drivers
# for the devices bhyve emulates (in dependency order, a missing one is not fatal), prints the
# marker line tests wait for, and runs a shell on the console with job control.
#
# Kernel command-line words read here (all optional):
#   bhyve.after=poweroff|reboot|halt   do that right after the marker instead of a shell
#                                      (boot benchmarks); default: shell
# Leaving the shell powers the VM off (bhyve exits 1).
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /tmp
hostname -F /etc/hostname

while read -r ko; do
	[ -n "$ko" ] || continue
	insmod "$ko" 2>/dev/null || echo "bhyve-guest: insmod ${ko##*/} failed"
done < /etc/modules.load

after=shell
for w in $(cat /proc/cmdline); do
	case "$w" in
	bhyve.after=*) after="${w#bhyve.after=}" ;;
	esac
done

echo "bhyve-guest: init reached ($(cat /etc/kernel-version), $(nproc) cpus)"

case "$after" in
poweroff) poweroff -f ;;
reboot) reboot -f ;;
halt) halt -f ;;
esac

while true; do
	setsid cttyhack sh -l
	echo "bhyve-guest: shell exited, powering off"
	poweroff -f
	sleep 5
done
