# The default guest (guest/README.md): Debian's cloud kernel + a busybox initramfs.
#   make guest          -> build/guest/{vmlinuz,initrd.img}
#   make guest-generic  -> build/guest-generic/{vmlinuz,initrd.img} (Debian's generic kernel:
#                          adds the ahci, e1000, nvme, xhci drivers; slower to boot)
# Downloads (apt-get download only) are cached in the output directory.
GUEST_DIR ?= build/guest

.PHONY: guest guest-generic
guest:
	sh guest/build-guest.sh $(GUEST_DIR) cloud

guest-generic:
	sh guest/build-guest.sh build/guest-generic generic
