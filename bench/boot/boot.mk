# make bench-boot: our bhyve vs qemu-system-x86_64 -accel tcg booting the default guest to its
# init marker; last line "bench-boot: ours_s=X qemu_s=Y ratio=Z".
bench-boot: all guest
	@BHYVE_BUILD=$(BUILD) /usr/bin/python3 bench/boot/bench_boot.py
