# Benchmarks against QEMU TCG.
#   make bench-cpu   our CPU vs qemu-system-x86_64 -accel tcg on bench/cpu/bench.asm; last line
#                    "bench-cpu: ours_mips=X qemu_mips=Y ratio=Z".  BENCH_OURS_ITERS /
#                    BENCH_QEMU_ITERS set the loop counts (27/2 instructions per iteration).

BENCH_CPU_BIN  := $(BUILD)/bench/cpu/bench.bin
BENCH_CPU_DRV  := $(BUILD)/bench/cpu/bench-cpu
BENCH_OURS_ITERS ?= 20000000
BENCH_QEMU_ITERS ?= 100000000

$(BENCH_CPU_BIN): bench/cpu/bench.asm
	@mkdir -p $(@D)
	nasm -f bin -o $@ $<

$(BENCH_CPU_DRV): $(BUILD)/obj/bench/cpu/bench_cpu.o $(CORE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-cpu: $(BENCH_CPU_BIN) $(BENCH_CPU_DRV)
	@$(BENCH_CPU_DRV) $(BENCH_CPU_BIN) $(BENCH_OURS_ITERS) $(BENCH_QEMU_ITERS)

# bench-vnc: bhyve's CPU use with one idle VNC client on an unchanging screen
# (bench/display/vnc_idle.py; needs `make guest-generic`, Xvfb and xtigervncviewer).
bench-vnc: all
	python3 bench/display/vnc_idle.py
