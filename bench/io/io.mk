# make bench-io: block and TCP throughput inside the default guest, our bhyve vs
# qemu-system-x86_64 -accel tcg (bench/io/bench_io.py says what each figure is); last lines
# "bench-io: NAME ours=X qemu=Y ratio=Z".  Network figures need root and /dev/net/tun.
# BENCH_IO_RUNS (medians of), BENCH_IO_SEQ_MIB, BENCH_IO_RAND_S, BENCH_IO_NET_MIB,
# BENCH_IO_DISK_MIB size the runs.
BENCH_IO_HELPER := $(BUILD)/bench/io/iobench

$(BENCH_IO_HELPER): bench/io/iobench.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -static -o $@ $<

bench-io: all guest $(BENCH_IO_HELPER)
	@BHYVE_BUILD=$(BUILD) /usr/bin/python3 bench/io/bench_io.py
