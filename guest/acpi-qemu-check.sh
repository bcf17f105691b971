#!/bin/sh
# Reference check (not a test: tests never depend on QEMU): boot the default guest under QEMU
# TCG with bhyve's ACPI tables instead of QEMU's, and print what Linux made of them.
#
#   guest/acpi-qemu-check.sh [BUILD]      (BUILD defaults to build; needs `make unit guest`)
#
# The tables are built for guest address 0x7000000 (tests/unit/test_acpi.c, BHYVE_ACPI_BLOB),
# loaded there by QEMU's generic loader, reserved with memmap= and handed to Linux with
# acpi_rsdp=.  QEMU's PC has its ACPI registers elsewhere (PM at 0x600, no ECAM), so expect
# "PM-Timer failed consistency check" and "Could not disable RealTimeClock events", and
# pci=nommconf keeps Linux off the MCFG window; everything else (MADT, HPET, DSDT: PCI root
# bridge, _PRT, PNP devices, \_S5) is ours.
set -eu
build=${1:-build}
blob=$(mktemp)
log=$(mktemp)
trap 'rm -f "$blob" "$log"' EXIT
BHYVE_ACPI_BLOB="$blob@0x7000000" "$build/tests/test_acpi" >/dev/null
timeout 120 qemu-system-x86_64 -accel tcg -m 256 -smp 2 -nographic -no-reboot \
	-kernel "$build/guest/vmlinuz" -initrd "$build/guest/initrd.img" \
	-device "loader,file=$blob,addr=0x7000000,force-raw=on" \
	-append 'console=ttyS0 acpi_rsdp=0x7000000 memmap=64K$0x7000000 pci=nommconf bhyve.after=reboot' \
	</dev/null >"$log" 2>&1 || true
grep -E 'ACPI|IOAPIC|HPET|hpet|PC00|PNP|pnp|ttyS0|smpboot: Total|bhyve-guest' "$log" || true
grep -q 'bhyve-guest: init reached' "$log"
