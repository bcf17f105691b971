# The UEFI disk images (guest/README.md, "UEFI disk images"):
#   make guest-uefi        -> build/guest-uefi/disk.img: GPT, ESP with GRUB, ext4 root with a
#                             Debian 12 systemd userland and the generic kernel (mmdebstrap;
#                             needs root and the Debian archive; .debs cached in
#                             build/guest-uefi/cache)
#   make guest-uefi-small  -> build/guest-uefi-small/disk.img: GPT, ESP with GRUB and the
#                             default guest's kernel + busybox initramfs (no network, no root)
.PHONY: guest-uefi guest-uefi-small
guest-uefi:
	sh guest/build-guest-uefi.sh build/guest-uefi

guest-uefi-small: guest
	sh guest/build-guest-uefi-small.sh build/guest-uefi-small $(GUEST_DIR)
