# CPU test suites (differential test against the host CPU, decoder cross-check) and the CPU
# benchmark.  Included by the top Makefile.
#   make check-cpu   full counts; closing lines "cpu-diff: ..." and "decoder-xcheck: ..."
#   make bench-cpu   see bench/bench.mk

CPUT_DIR   := $(BUILD)/tests/cpu
CPUT_DIFF_SRCS := $(wildcard tests/cpu/diff*.c)
CPUT_DIFF_OBJS := $(CPUT_DIFF_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/tests/cpu/diff_native_S.o
CPU_DIFF   := $(CPUT_DIR)/cpu-diff
CPU_XCHECK := $(CPUT_DIR)/decoder-xcheck
CPU_DIFF_CASES ?= 1000
CPU_XCHECK_STRINGS ?= 10000000

$(BUILD)/obj/tests/cpu/diff_native_S.o: tests/cpu/diff_native.S
	@mkdir -p $(@D)
	$(CC) -c -o $@ $<

$(CPU_DIFF): $(CPUT_DIFF_OBJS) $(CORE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# libzydis is a test-only dependency: only this program links it.
$(CPU_XCHECK): $(BUILD)/obj/tests/cpu/xcheck.o $(CORE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lZydis

.PHONY: cpu-tests
cpu-tests: $(CPU_DIFF) $(CPU_XCHECK)

# Both suites run even if the first fails; the two closing lines come last.
check-cpu: cpu-tests
	@{ $(CPU_DIFF) -n $(CPU_DIFF_CASES) -k tests/cpu/known_failing.txt; echo $$? > $(CPUT_DIR)/diff.rc; } \
		| tee $(CPUT_DIR)/diff.log
	@{ $(CPU_XCHECK) -n $(CPU_XCHECK_STRINGS); echo $$? > $(CPUT_DIR)/xcheck.rc; } \
		| tee $(CPUT_DIR)/xcheck.log
	@grep '^cpu-diff: forms=' $(CPUT_DIR)/diff.log; \
	grep '^decoder-xcheck: strings=' $(CPUT_DIR)/xcheck.log; \
	test "$$(cat $(CPUT_DIR)/diff.rc)" = 0 && test "$$(cat $(CPUT_DIR)/xcheck.rc)" = 0

# pytest (make check) needs the programs built.
check: cpu-tests
