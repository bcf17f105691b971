# libFuzzer targets (tests/fuzz/fuzz_<name>.c), built with Debian's clang into build-fuzz/:
#   make fuzz            build every target and run each for FUZZ_SECONDS (FUZZ_JOBS at a time)
#                        from its committed seed corpus tests/fuzz/corpus/<name>/; one line per
#                        target (executions, crashes), then the totals; nonzero on a crash
#   make fuzz-build      only build them
#   make fuzz FUZZ_TARGETS="virtio_ring ahci"   a subset
# The evolving corpus and crash inputs stay in build-fuzz/ (not committed).
.PHONY: fuzz fuzz-build

FUZZ_CC      ?= clang
FUZZ_BUILD   := build-fuzz
FUZZ_SECONDS ?= 30
FUZZ_JOBS    ?= 2
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
# gcc -Werror is the gate for warnings; clang here only builds the sanitised fuzz binaries.
FUZZ_CFLAGS  := -std=gnu11 -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) \
                $(filter-out -Werror,$(WARN)) -Wno-misleading-indentation \
                -D_GNU_SOURCE -pthread -MMD -MP -Isrc -Itests/unit -Itests/fuzz
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_ALL     := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_CORE    := $(CORE_SRCS:%.c=$(FUZZ_BUILD)/obj/%.o)
# The option parsers of bhyve(8) live in src/cmd/ (without its main).
FUZZ_CMD     := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,src/cmd/bhyve_opts.c src/cmd/bhyve_validate.c \
                  $(wildcard src/cmd/cmd_*.c))

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_CORE) $(FUZZ_CMD)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) \
		sh tests/fuzz/run.sh $(FUZZ_TARGETS)

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
