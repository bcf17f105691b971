"""Bringing up application processors on a loaded host: a 4-vCPU boot (2 packages of 2 cores,
ACPI, no MP table), repeated BHYVE_SMP_REPEAT times (default 3) while a second process keeps a
host CPU busy.  Each boot must reach the shell with all 4 CPUs online, none reported as failing
to boot, and the guest's own TSC checks quiet: Linux compares the TSCs of each new CPU with the
boot CPU's (tsc_sync.c, "Measured N cycles TSC warp"; with TSC_ADJUST also that register,
"TSC ADJUST differs"), and would mark the TSC unstable.  The CPU reports an invariant TSC with
TSC_ADJUST, so Linux does not run the clocksource watchdog on it: that watchdog, with jiffies
as its reference (no HPET without ACPI), took a starved vCPU's late timer ticks for TSC drift,
and a TSC marked unstable between the two sides of an AP's TSC check leaves the boot CPU waiting
for ever (Linux 6.1, check_tsc_sync_source/target each test tsc_unstable on their own).

Needs `make guest`; skipped without it.  Each boot is bounded by BHYVE_BOOT_TIMEOUT."""
import os
import subprocess
import sys

import pytest

from conftest import needs_guest
from guestlib import boot_bhyve

pytestmark = needs_guest

REPEAT = int(os.environ.get("BHYVE_SMP_REPEAT", "3"))
TSC_WARNINGS = r"TSC.*unstable|TSC synchronization|cycles TSC warp|TSC.*skew|TSC ADJUST|" \
               r"clocksource.*unstable|failed to boot|Stuck|CPU.*did not respond"


@pytest.fixture(scope="module")
def busy_host():
    """A second CPU-bound process for the whole module."""
    p = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield p
    p.kill()
    p.wait()


@pytest.mark.parametrize("run", range(REPEAT))
def test_smp4_boot_loaded_host(busy_host, run):
    assert busy_host.poll() is None
    g = boot_bhyve(["-Y", "-c", "4,sockets=2,cores=2"], f"smp{run}")
    try:
        assert g.sh("nproc").strip() == "4"
        assert g.sh("cat /sys/devices/system/cpu/online").strip() == "0-3"
        bad = g.sh(f"dmesg | grep -iE '{TSC_WARNINGS}' || true")
        assert bad.strip() == "", bad
        cs = g.sh("cat /sys/devices/system/clocksource/clocksource0/current_clocksource")
        assert cs.strip() == "tsc", cs
        # invariant TSC with TSC_ADJUST: Linux trusts the TSC without the clocksource
        # watchdog, which on a starved vCPU mistakes late ticks for TSC drift
        flags = g.sh("grep -m1 '^flags' /proc/cpuinfo").split()
        for f in ("constant_tsc", "nonstop_tsc", "tsc_adjust"):
            assert f in flags, flags
        g.child.sendline("poweroff")
        assert g.wait_exit() == 1
    finally:
        g.destroy()
