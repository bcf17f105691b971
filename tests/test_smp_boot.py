"""Bringing up application processors on a loaded host: a 4-vCPU boot (2 packages of 2 cores,
ACPI, no MP table), repeated BHYVE_SMP_REPEAT times (default 3) while a second process keeps a
host CPU busy.  Each boot must reach the shell with all 4 CPUs online, none reported as failing
to boot, and the guest's own TSC checks quiet: Linux compares the TSCs of each new CPU with the
boot CPU's (tsc_sync.c, "Measured N cycles TSC warp") and watches the TSC against the HPET
(clocksource watchdog); both would mark the TSC unstable.

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
        g.child.sendline("poweroff")
        assert g.wait_exit() == 1
    finally:
        g.destroy()
