#!/bin/sh
# Build the small UEFI guest: a raw GPT disk image with only an EFI system partition holding
# the boot loader (\EFI\BOOT\BOOTX64.EFI, standalone GRUB) and the default guest's kernel and
# busybox initramfs, which GRUB loads from the same partition.  Quick to boot; for the UEFI
# tests that do not need a systemd userland.
#
#   guest/build-guest-uefi-small.sh [OUTDIR] [GUESTDIR]
#
# OUTDIR defaults to build/guest-uefi-small, GUESTDIR (vmlinuz + initrd.img, from `make guest`
# or `make guest-generic`) to build/guest.  Leaves OUTDIR/disk.img.  Needs no network and no
# root.  The guest prints the default guest's marker "bhyve-guest: init reached (...)".
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-build/guest-uefi-small}
guest=${2:-build/guest}
. "$here/uefi-disk.sh"

DISK_GUID=6b1e5ae0-58c4-4f7e-9c1a-1b2c3d4e5f70
ESP_PARTUUID=6b1e5ae0-58c4-4f7e-9c1a-1b2c3d4e5f71
ESP_VOLID=B4E0E5F2
ESP_UUID=B4E0-E5F2
ESP_MIB=64

for f in vmlinuz initrd.img; do
	[ -f "$guest/$f" ] || { echo "build-guest-uefi-small: no $guest/$f (run make guest)" >&2; exit 1; }
done
for t in sfdisk mkfs.vfat mmd mcopy grub-mkstandalone; do
	command -v "$t" >/dev/null || { echo "build-guest-uefi-small: $t not found" >&2; exit 1; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

stamp="$out/.built-from"
want="$(cat "$guest/vmlinuz" "$guest/initrd.img" "$0" "$here/uefi-disk.sh" | md5sum | cut -c1-32)"
if [ -f "$out/disk.img" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
	echo "build-guest-uefi-small: $out/disk.img is up to date"
	exit 0
fi

tmp=$(mktemp -d "$out/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
cat > "$tmp/grub.cfg" <<EOF
set timeout=0
echo "bhyve-guest: grub reached"
search --no-floppy --fs-uuid --set=root $ESP_UUID
linux /vmlinuz console=ttyS0
initrd /initrd.img
boot
EOF
uefi_grub "$tmp/grub.cfg" "$tmp/BOOTX64.EFI"
cp "$guest/vmlinuz" "$guest/initrd.img" "$tmp/"
uefi_esp "$tmp/esp.img" "$ESP_MIB" "$ESP_VOLID" "$tmp/BOOTX64.EFI" "$tmp/vmlinuz" \
	"$tmp/initrd.img"
uefi_disk "$tmp/disk.img" "$DISK_GUID" "$ESP_PARTUUID" "$tmp/esp.img"
mv "$tmp/disk.img" "$out/disk.img"
echo "$want" > "$stamp"
echo "build-guest-uefi-small: $out/disk.img ($(cat "$guest/kernel-version" 2>/dev/null), $(($(stat -c %s "$out/disk.img") >> 20)) MiB)"
