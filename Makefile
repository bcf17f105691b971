# bhyve for Linux — top-level build.
#
# Sources are picked up by wildcard: adding a device, a CPU file or a test touches no list here.
#   src/cmd/<prog>.c and src/cmd/<prog>_*.c  -> build/<prog>
#   src/cmd/cmd_*.c                           -> linked into all three programs
#   every other src/**/*.c                    -> the "core": bhyve links all of it (devices
#                                                register through linker sets, so nothing
#                                                names them); bhyvectl and bhyveload link the
#                                                archive build/libcore.a, which gives each only
#                                                the objects it references (no device)
#   tests/unit/test_*.c                       -> build/tests/test_* (each links the core)
#   tests/guests/*.asm                        -> build/tests/guests/*.bin (nasm -f bin)
#
# `make SAN=1` builds the same tree with ASan+UBSan into build-san/.

ifeq ($(origin CC),default)
CC      := gcc
endif
PREFIX  ?= /usr/local
DESTDIR ?=
SAN     ?= 0

ifeq ($(SAN),1)
BUILD   ?= build-san
OPT     ?= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else
BUILD   ?= build
OPT     ?= -O2 -g
LDSAN   :=
endif

WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wmissing-prototypes -Wstrict-prototypes \
           -Wmissing-declarations
CFLAGS  += -std=gnu11 $(OPT) $(WARN) -D_GNU_SOURCE -pthread -MMD -MP -Isrc
LDLIBS  += -pthread -lrt -lm -lmd -lvncserver -lslirp -lseccomp
LDFLAGS += $(LDSAN)

PROGS    := bhyve bhyvectl bhyveload
CMD_SRCS := $(wildcard src/cmd/*.c)
CORE_SRCS:= $(filter-out src/cmd/%,$(wildcard src/*/*.c src/*/*/*.c))
CORE_OBJS:= $(CORE_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_SRCS:= $(wildcard tests/unit/test_*.c)
UNIT_BINS:= $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
# Helpers shared by unit tests (tests/unit/*.c that are not test_*.c).
UNIT_LIB := $(filter-out tests/unit/test_%,$(wildcard tests/unit/*.c))
UNIT_LIBOBJ := $(UNIT_LIB:%.c=$(BUILD)/obj/%.o)
GUEST_SRCS := $(wildcard tests/guests/*.asm)
GUEST_BINS := $(GUEST_SRCS:tests/guests/%.asm=$(BUILD)/tests/guests/%.bin)

PYTEST  ?= /usr/bin/python3 -m pytest

.PHONY: all clean check check-unit check-san check-cli check-cpu check-kvm guest install \
        bench-cpu bench-boot bench-io bench-vnc unit guests

all: $(PROGS:%=$(BUILD)/%)

# Keep objects that are only prerequisites of tests.
.SECONDARY:

# The programs that link only what they reference from the core.
LEAN_PROGS := bhyvectl bhyveload

define prog_rule
$(BUILD)/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(filter src/cmd/$(1).c src/cmd/$(1)_%.c src/cmd/cmd_%.c,$(CMD_SRCS))) $(if $(filter $(1),$(LEAN_PROGS)),$(BUILD)/libcore.a,$(CORE_OBJS))
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rule,$(p))))

$(BUILD)/libcore.a: $(CORE_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(CORE_OBJS) $(UNIT_LIBOBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(TEST_LDLIBS_$*)

$(BUILD)/tests/guests/%.bin: tests/guests/%.asm $(wildcard tests/guests/*.inc)
	@mkdir -p $(@D)
	nasm -f bin -I tests/guests/ -o $@ $<

unit: $(UNIT_BINS)
guests: $(GUEST_BINS)

# Everything a test run needs, then every test (unit, CPU, CLI, integration) through pytest,
# whose summary is the closing line.
check: all unit guests
	BHYVE_BUILD=$(BUILD) $(PYTEST) -q tests

check-unit: unit
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

check-cli: all
	BHYVE_BUILD=$(BUILD) $(PYTEST) -q tests/test_cli.py

# The unit tests again under AddressSanitizer and UndefinedBehaviorSanitizer.
check-san:
	$(MAKE) SAN=1 unit all
	BHYVE_BUILD=build-san $(PYTEST) -q tests/test_unit.py tests/test_cli.py

# Rule fragments owned by each area (tests/cpu/cpu.mk, tests/fuzz/fuzz.mk, guest/guest.mk, bench/..., tests/kvm/...).
-include $(sort $(wildcard tests/*/*.mk guest/*.mk bench/*.mk bench/*/*.mk))

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(PROGS:%=$(BUILD)/%) $(DESTDIR)$(PREFIX)/sbin/
	install -m 644 $(PROGS:%=man/%.8) $(DESTDIR)$(PREFIX)/share/man/man8/

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
