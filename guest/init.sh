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
# Booted through UEFI firmware: its variables (efibootmgr, or cat under /sys/firmware/efi).
[ -d /sys/firmware/efi/efivars ] && mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null

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

# busybox halt/poweroff/reboot (without -f) signal PID 1 (USR1/USR2/TERM) and expect it to
# do the rest, as busybox init would.  A trap only runs while the shell waits in `wait`, not
# while a foreground command runs, so the console shell runs in the background.
trap 'halt -f' USR1
trap 'poweroff -f' USR2
trap 'reboot -f' TERM

# The ACPI power button (bhyve's SIGTERM) is a key press on an input device: power off on it.
for e in /sys/class/input/event*; do
	[ "$(cat "$e/device/name" 2>/dev/null)" = "Power Button" ] || continue
	(dd if="/dev/input/${e##*/}" of=/dev/null bs=24 count=1 2>/dev/null && poweroff -f) &
done

# With a framebuffer (fbuf) the first virtual terminal is on the screen: a shell there too, for
# a keyboard on the VNC console.  Leaving it starts a new one.
if [ -e /sys/class/graphics/fb0 ] && [ -e /dev/tty1 ]; then
	(while true; do setsid sh -c 'exec sh -l </dev/tty1 >/dev/tty1 2>&1'; done) &
fi

while true; do
	setsid cttyhack sh -l </dev/console >/dev/console 2>&1 &
	wait $!
	echo "bhyve-guest: shell exited, powering off"
	poweroff -f
	sleep 5
done
