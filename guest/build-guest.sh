#!/bin/sh
# Build bhyve's default guest: Debian's kernel and a busybox initramfs.
#
#   guest/build-guest.sh [OUTDIR] [cloud|generic]
#
# OUTDIR defaults to build/guest.  Leaves OUTDIR/vmlinuz and OUTDIR/initrd.img.  The only
# network access is `apt-get download` from the configured Debian archive; the .deb files are
# cached in OUTDIR/cache so a re-run does not download again.  See guest/README.md.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-build/guest}
flavor=${2:-cloud}

case "$flavor" in
cloud)   meta=linux-image-cloud-amd64 ;;
generic) meta=linux-image-amd64 ;;
*) echo "build-guest: flavor must be cloud or generic" >&2; exit 2 ;;
esac

# Drivers for what bhyve emulates (button: the ACPI power button, which -A guests power off
# on; efivarfs: the UEFI variables when booted through firmware; bochs: fbuf's default
# identity, with the DRM helpers it depends on; psmouse: the PS/2 mouse behind the i8042,
# whose keyboard driver is built in); modules that are built in or absent are skipped.
modules="virtio_pci virtio_blk virtio_net virtio_console virtio_rng virtio_scsi virtio_input
	 virtio_balloon 9pnet_virtio 9p sd_mod sr_mod isofs
	 ahci e1000 e1000e nvme xhci_pci usbhid hid_generic evdev button efivarfs bochs psmouse"

mkdir -p "$out/cache"
out=$(cd "$out" && pwd)
cache=$out/cache

# The versioned kernel package the meta package points at (linux-image-6.1.0-N-cloud-amd64).
pkg=$(apt-cache depends "$meta" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)
if [ -z "$pkg" ]; then
	echo "build-guest: cannot resolve $meta with apt-cache (is the Debian archive configured?)" >&2
	exit 1
fi

fetch() {   # fetch PACKAGE: the cached .deb's path on stdout
	deb=$(ls "$cache/$1"_*.deb 2>/dev/null | head -n 1 || true)
	if [ -z "$deb" ]; then
		(cd "$cache" && apt-get download "$1" >&2 2>/dev/null) || \
			(cd "$cache" && apt-get download "$1" >&2)
		deb=$(ls "$cache/$1"_*.deb | head -n 1)
	fi
	echo "$deb"
}

kdeb=$(fetch "$pkg")
bdeb=$(fetch busybox-static)

stamp="$out/.built-from"
want="$(basename "$kdeb") $(basename "$bdeb") $(cat "$here/init.sh" "$here/mkinitramfs.py" "$0" | md5sum | cut -c1-32)"
if [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
	echo "build-guest: $out is up to date ($pkg)"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
dpkg-deb -x "$kdeb" "$tmp/kernel"
dpkg-deb -x "$bdeb" "$tmp/busybox"

cp "$tmp"/kernel/boot/vmlinuz-* "$out/vmlinuz.tmp"
cp "$tmp"/kernel/boot/config-* "$out/config"
python3 "$here/mkinitramfs.py" --kernel-root "$tmp/kernel" --busybox "$tmp/busybox/bin/busybox" \
	--init "$here/init.sh" --out "$out/initrd.img" $modules
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
ls "$tmp"/kernel/lib/modules > "$out/kernel-version"
echo "$want" > "$stamp"
echo "build-guest: $out/vmlinuz ($(cat "$out/kernel-version"), $flavor) and $out/initrd.img"
