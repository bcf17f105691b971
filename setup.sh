#!/bin/sh
# Installs the Debian 12 packages that building bhyve and its default guest need, and with
# --tests also what the test suite needs (what CI installs: .ci/run calls this script).
# Run it first, with sh (make is not installed yet on a fresh machine):
#
#   sh setup.sh [--tests] [--uefi] [--dry-run]
#
# --uefi adds what the UEFI disk images (make guest-uefi, guest-uefi-small) and booting them
# need; --tests includes it.
# As root it runs apt-get itself; as another user it uses sudo (and says so if there is none).
# --dry-run prints the commands instead of running them.
#
# The package lists, one package a line: the only place they are written down.
set -eu

BUILD_PKGS="
build-essential
make
nasm
libmd-dev
libslirp-dev
libvncserver-dev
libseccomp-dev
python3
busybox-static
cpio
kmod
xz-utils
ca-certificates
"

TEST_PKGS="
python3-pytest
python3-pexpect
libzydis-dev
qemu-system-x86
acpica-tools
dmidecode
novnc
xvfb
xauth
tigervnc-viewer
tigervnc-tools
xdotool
imagemagick
python3-pil
vncsnapshot
chromium
xorriso
clang
libclang-rt-14-dev
"

# The UEFI disk images: the firmware, the boot loader, the partition and file-system tools
# that build images in plain files, and mmdebstrap for the systemd root.
UEFI_PKGS="
ovmf
grub-efi-amd64-bin
mtools
dosfstools
fdisk
e2fsprogs
mmdebstrap
"

tests=0
uefi=0
dry=0
for arg in "$@"; do
	case "$arg" in
	--tests) tests=1; uefi=1 ;;
	--uefi) uefi=1 ;;
	--dry-run) dry=1 ;;
	-h|--help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "setup.sh: $arg: unknown argument (--tests, --uefi, --dry-run)" >&2; exit 4 ;;
	esac
done

if [ "$(id -u)" = 0 ]; then
	as_root=""
elif command -v sudo >/dev/null 2>&1; then
	as_root="sudo"
else
	echo "setup.sh: not root and no sudo: run it as root (su -c 'sh setup.sh')" >&2
	exit 1
fi

run() {
	if [ "$dry" = 1 ]; then
		echo "+ $*"
	else
		"$@"
	fi
}

pkgs=$BUILD_PKGS
[ "$tests" = 0 ] || pkgs="$pkgs $TEST_PKGS"
[ "$uefi" = 0 ] || pkgs="$pkgs $UEFI_PKGS"
# shellcheck disable=SC2086  # word splitting of the lists is wanted
run $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
run $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	$pkgs
