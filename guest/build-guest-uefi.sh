#!/bin/sh
# Build the UEFI guest: a raw GPT disk image that boots through UEFI firmware (OVMF) to a root
# shell on ttyS0, from Debian packages only, without loop devices or mounts.
#
#   guest/build-guest-uefi.sh [OUTDIR]          (default build/guest-uefi)
#
# mmdebstrap runs in its "auto" mode (as root: "root"; otherwise it needs user namespaces);
# GUEST_UEFI_MODE overrides it (see mmdebstrap(1), --mode).
#
# Leaves OUTDIR/disk.img:
#   partition 1  EFI system partition, FAT32, 64 MiB: \EFI\BOOT\BOOTX64.EFI (a standalone GRUB
#                whose embedded grub.cfg loads the kernel from partition 2)
#   partition 2  ext4 root, 2 GiB (sparse): a Debian 12 systemd userland made by mmdebstrap with
#                Debian's generic kernel and an initramfs that mounts root from virtio-blk,
#                ahci or nvme; root is logged in on ttyS0 without a password and the login
#                prints the marker line "bhyve-guest: uefi shell reached (...)".
# The only network access is the Debian archive (mmdebstrap's apt).  Downloaded .deb files are
# kept in OUTDIR/cache, so a rebuild does not download them again; a re-run with nothing
# changed returns at once.  See guest/README.md.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-build/guest-uefi}
suite=${GUEST_UEFI_SUITE:-bookworm}
. "$here/uefi-disk.sh"

# Fixed identifiers, so that grub.cfg and fstab can name the partitions and rebuilds are alike.
DISK_GUID=6b1e5ae0-58c4-4f7e-9c1a-1b2c3d4e5f60
ESP_PARTUUID=6b1e5ae0-58c4-4f7e-9c1a-1b2c3d4e5f61
ROOT_PARTUUID=6b1e5ae0-58c4-4f7e-9c1a-1b2c3d4e5f62
ROOT_FSUUID=6b1e5ae0-58c4-4f7e-9c1a-1b2c3d4e5f63
ESP_VOLID=B4E0E5F1
ESP_MIB=64
ROOT_MIB=${GUEST_UEFI_ROOT_MIB:-2048}

packages="systemd-sysv udev kmod linux-image-amd64 initramfs-tools efibootmgr busybox procps
	  util-linux e2fsprogs dosfstools less"

mkdir -p "$out/cache"
out=$(cd "$out" && pwd)
cache=$out/cache

stamp="$out/.built-from"
want="$suite $ROOT_MIB $(echo $packages) $(cat "$0" "$here/uefi-disk.sh" | md5sum | cut -c1-32)"
if [ -f "$out/disk.img" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
	echo "build-guest-uefi: $out/disk.img is up to date"
	exit 0
fi
for t in mmdebstrap sfdisk mkfs.vfat mmd mcopy mkfs.ext4 grub-mkstandalone; do
	command -v "$t" >/dev/null || { echo "build-guest-uefi: $t not found" >&2; exit 1; }
done
[ -d /usr/lib/grub/x86_64-efi ] || { echo "build-guest-uefi: grub-efi-amd64-bin not installed" >&2; exit 1; }

tmp=$(mktemp -d "$out/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
root=$tmp/root
cfg=$tmp/cfg
mkdir -p "$cfg"

# Initramfs: only the drivers that can hold the root file system on a bhyve or QEMU guest
# (virtio-blk, virtio-scsi, ahci, nvme) and ext4, instead of the default "most" (every
# storage driver: several times larger, and unpacking it is slow on a software CPU).  udev in
# the initramfs loads them by modalias.  Written before the kernel is installed so that its
# postinst builds the initramfs once, with this configuration.
cat > "$cfg/initramfs.conf" <<'EOF'
MODULES=list
RESUME=none
EOF
cat > "$cfg/initramfs-hook" <<'EOF'
#!/bin/sh
# Root-disk drivers for bhyve and QEMU guests (see /etc/initramfs-tools/conf.d/bhyve).
[ "$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
manual_add_modules virtio_pci virtio_blk virtio_scsi sd_mod ahci nvme ext4 crc32c_generic \
	crc32c_intel efivarfs
EOF

# ttyS0: systemd's getty generator starts serial-getty@ttyS0 for console=ttyS0; log root in.
cat > "$cfg/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,57600,38400,9600 - $TERM
EOF
# No start-up time limits: on a software CPU, or an emulator on a loaded host, udev's coldplug
# can take longer than systemd's default 90 s, and the getty on ttyS0 (bound to
# dev-ttyS0.device) would then fail instead of starting late.
cat > "$cfg/system.conf" <<'EOF'
[Manager]
DefaultTimeoutStartSec=infinity
DefaultDeviceTimeoutSec=infinity
EOF
# The login shell's marker line, on the serial console only; a wide terminal and no
# bracketed paste keep commands sent by a test on one line, free of escape sequences.
cat > "$cfg/profile-marker" <<'EOF'

# bhyve guest: the marker line that tests and benchmarks wait for.
if [ "$(tty)" = /dev/ttyS0 ]; then
	stty cols 250 rows 50 2>/dev/null
	echo "bhyve-guest: uefi shell reached ($(uname -r), $(nproc) cpus)"
fi
EOF
cat > "$cfg/fstab" <<EOF
PARTUUID=$ROOT_PARTUUID / ext4 errors=remount-ro 0 1
PARTUUID=$ESP_PARTUUID /boot/efi vfat umask=0077,nofail 0 2
EOF

echo "build-guest-uefi: mmdebstrap $suite into $root"
mmdebstrap --variant=minbase --mode="${GUEST_UEFI_MODE:-auto}" --include="$(echo $packages | tr ' ' ,)" \
	--dpkgopt='path-exclude=/usr/share/man/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-include=/usr/share/locale/locale.alias' \
	--skip=essential/unlink \
	--setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
	--setup-hook="sync-in $cache /var/cache/apt/archives/" \
	--essential-hook="mkdir -p \"\$1\"/etc/initramfs-tools/conf.d \"\$1\"/etc/initramfs-tools/hooks" \
	--essential-hook="cp $cfg/initramfs.conf \"\$1\"/etc/initramfs-tools/conf.d/bhyve" \
	--essential-hook="install -m 755 $cfg/initramfs-hook \"\$1\"/etc/initramfs-tools/hooks/bhyve" \
	--customize-hook="sync-out /var/cache/apt/archives $cache" \
	--customize-hook='chroot "$1" passwd -d root' \
	--customize-hook='echo bhyve-uefi > "$1"/etc/hostname' \
	--customize-hook='printf "127.0.0.1\tlocalhost\n127.0.1.1\tbhyve-uefi\n" > "$1"/etc/hosts' \
	--customize-hook='mkdir -p "$1"/boot/efi "$1"/etc/systemd/system/serial-getty@ttyS0.service.d' \
	--customize-hook="cp $cfg/autologin.conf \"\$1\"/etc/systemd/system/serial-getty@ttyS0.service.d/" \
	--customize-hook="cp $cfg/fstab \"\$1\"/etc/fstab" \
	--customize-hook='mkdir -p "$1"/etc/systemd/system.conf.d' \
	--customize-hook="cp $cfg/system.conf \"\$1\"/etc/systemd/system.conf.d/bhyve.conf" \
	--customize-hook="cat $cfg/profile-marker >> \"\$1\"/root/.profile" \
	--customize-hook='echo "set enable-bracketed-paste off" > "$1"/root/.inputrc' \
	"$suite" "$root"

kver=$(ls "$root/lib/modules" | head -n 1)
[ -f "$root/boot/vmlinuz-$kver" ] && [ -f "$root/boot/initrd.img-$kver" ] || {
	echo "build-guest-uefi: no kernel or initramfs in $root/boot" >&2; exit 1; }

# GRUB finds the root file system by UUID and boots the kernel on the serial console.
cat > "$cfg/grub.cfg" <<EOF
set timeout=0
echo "bhyve-guest: grub reached"
search --no-floppy --fs-uuid --set=root $ROOT_FSUUID
linux /boot/vmlinuz-$kver root=PARTUUID=$ROOT_PARTUUID ro console=ttyS0
initrd /boot/initrd.img-$kver
boot
EOF
uefi_grub "$cfg/grub.cfg" "$tmp/BOOTX64.EFI" ext2

uefi_esp "$tmp/esp.img" "$ESP_MIB" "$ESP_VOLID" "$tmp/BOOTX64.EFI"
echo "build-guest-uefi: mkfs.ext4 -d ($(du -sm "$root" | cut -f1) MiB of files)"
truncate -s "${ROOT_MIB}M" "$tmp/root.img"
mkfs.ext4 -q -F -L bhyve-root -U "$ROOT_FSUUID" -d "$root" "$tmp/root.img"

uefi_disk "$tmp/disk.img" "$DISK_GUID" "$ESP_PARTUUID" "$tmp/esp.img" \
	"$ROOT_PARTUUID" "$tmp/root.img"
mv "$tmp/disk.img" "$out/disk.img"
echo "$kver" > "$out/kernel-version"
echo "$want" > "$stamp"
echo "build-guest-uefi: $out/disk.img ($kver, $(du -m "$out/disk.img" | cut -f1) MiB used of $(($(stat -c %s "$out/disk.img") >> 20)) MiB)"
