# make bench-uefi: our bhyve (-l bootrom, OVMF) vs qemu-system-x86_64 -accel tcg with the same
# OVMF booting build/guest-uefi/disk.img on virtio-blk (bench/uefi/bench_uefi.py); last lines
# "bench-uefi: firmware ours_s=X qemu_s=Y ratio=Z" and "bench-uefi: ours_s=X qemu_s=Y ratio=Z".
# BENCH_UEFI_RUNS (default 3) boots per side; BENCH_UEFI_IMAGE picks another image.
.PHONY: bench-uefi
bench-uefi: all guest-uefi
	@BHYVE_BUILD=$(BUILD) /usr/bin/python3 bench/uefi/bench_uefi.py
