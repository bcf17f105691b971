"""The PC platform seen from guests: small Multiboot test kernels (tests/guests/plat_*.asm) program
the LAPIC, IOAPIC, 8259 pair, PIT, HPET, RTC and PM timer under bhyve and report each check on
COM1 ("plat: <test> ok" / "FAIL"); plus the exit statuses of the ways a VM ends (ACPI S5, 0xCF9
and keyboard-controller reset, triple fault, strict I/O, halt, SIGTERM -> power button).
Skipped while the software CPU is not part of the build."""
import os
import select
import signal
import subprocess
import time

import pytest

from conftest import BUILD, prog

GUESTS = BUILD / "tests" / "guests"
_counter = [0]


@pytest.fixture
def vmname():
    _counter[0] += 1
    name = f"plat-{os.getpid()}-{_counter[0]}"
    yield name
    subprocess.run([prog("bhyvectl"), f"--vm={name}", "--destroy"], capture_output=True)


def guest(name):
    path = GUESTS / f"plat_{name}.bin"
    if not path.exists():
        pytest.skip("make guests not run")
    return path


def bhyve_cmd(vmname, name, cpus=1, cmdline=None, extra=()):
    cmd = [prog("bhyve"), "-m", "32M", "-c", str(cpus), "-l", "com1,stdio", *extra,
           "-o", f"loader.kernel={guest(name)}"]
    if cmdline:
        cmd += ["-o", f"loader.cmdline={cmdline}"]
    return cmd + [vmname]


def boot(vmname, name, timeout=120, **kw):
    r = subprocess.run(bhyve_cmd(vmname, name, **kw), capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    if "not part of this build yet" in r.stderr:
        pytest.skip(r.stderr.strip())
    return r


def check_report(r, tests):
    out = r.stdout + r.stderr
    assert "FAIL" not in out, out
    for t in tests:
        assert f"plat: {t} ok" in r.stdout, out
    assert "plat: done" in r.stdout, out
    assert r.returncode == 1, out          # the guest powers off through ACPI S5


def test_lapic(vmname):
    r = boot(vmname, "lapic", cpus=2)
    check_report(r, ["lapic-oneshot", "lapic-periodic", "lapic-tsc-deadline",
                     "lapic-self-ipi", "lapic-ipi"])


def test_lapic_timer_modes(vmname):
    """SDM 11.5.4: one-shot <-> periodic keeps the count, only TSC-deadline mode in or out
    stops it; a passed TSC deadline interrupts right after the WRMSR; IA32_APIC_BASE moves the
    xAPIC page."""
    check_report(boot(vmname, "lapictimer"),
                 ["lapic-mode-keep-count", "lapic-mode-to-oneshot", "lapic-mode-zero-stays",
                  "lapic-mode-tscdl-stops", "lapic-tscdl-past", "lapic-move"])


def test_x2apic(vmname):
    check_report(boot(vmname, "x2apic", extra=("-x",)), ["x2apic"])


def test_ioapic(vmname):
    check_report(boot(vmname, "ioapic"), ["ioapic-edge", "ioapic-level"])


def test_pic(vmname):
    check_report(boot(vmname, "pic"), ["pic-master", "pic-cascade", "pic-aeoi", "pic-sfnm"])


def test_timers(vmname):
    check_report(boot(vmname, "timers"),
                 ["pit-mode0", "pit-mode2", "pit-mode3", "pit-ch2", "pmtimer-tsc", "hpet-periodic",
                  "hpet-oneshot", "rtc-periodic", "rtc-alarm", "rtc-update"])


def test_pc_testdev(vmname):
    """-l pc-testdev: QEMU's test device (scratch ports, page flush, scratch memory, interrupt
    lines with edge and level semantics)."""
    check_report(boot(vmname, "testdev", extra=("-l", "pc-testdev")),
                 ["testdev-ioport", "testdev-flush", "testdev-iomem", "testdev-edge",
                  "testdev-level", "testdev-isa"])


def test_multiboot_low_load(vmname):
    """bhyveload loads a Multiboot kernel at 0x8000 (below 1 MiB, clear of its own structures)
    and it runs there."""
    path = GUESTS / "mb_low.bin"
    if not path.exists():
        pytest.skip("make guests not run")
    r = subprocess.run([prog("bhyveload"), "-m", "32M", "-k", str(path), vmname],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([prog("bhyve"), "-m", "32M", "-l", "com1,stdio", vmname],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert "mb_low: running at 0x8000" in r.stdout, r.stdout + r.stderr
    assert r.returncode == 1, r.stdout + r.stderr


def test_pc_testdev_debug_exit(vmname):
    """pc-testdev's isa-debug-exit: the value V written to port 0xF4 ends bhyve with status
    (V << 1) | 1."""
    r = boot(vmname, "exit", cmdline="mode=d", extra=("-l", "pc-testdev"))
    assert "plat: exit via port 0xF4" in r.stdout, r.stdout + r.stderr
    assert "FAIL" not in r.stdout, r.stdout + r.stderr
    assert r.returncode == 65, r.stdout + r.stderr


def test_pc_testdev_listed():
    r = subprocess.run([prog("bhyve"), "-l", "help"], capture_output=True, text=True, timeout=30)
    assert "pc-testdev" in r.stdout + r.stderr


@pytest.mark.parametrize("mode,status,text", [
    ("s", 1, "plat: S5"),
    ("r", 0, "reset via 0xCF9"),
    ("k", 0, "keyboard controller"),
    ("a", 0, "reset via port 0x92"),
    ("t", 3, "triple fault"),
    ("h", 2, "plat: halting"),
    ("e", 1, "unclaimed port read 0xFF"),
])
def test_exit_status(vmname, mode, status, text):
    r = boot(vmname, "exit", cmdline=f"mode={mode}")
    assert text in r.stdout, r.stdout + r.stderr
    assert "FAIL" not in r.stdout, r.stdout + r.stderr
    assert r.returncode == status, r.stdout + r.stderr


def test_strict_io_stops_with_error(vmname):
    r = boot(vmname, "exit", cmdline="mode=e", extra=("-e",))
    assert r.returncode == 4, r.stdout + r.stderr
    assert "0x1234" in r.stderr, r.stderr


def test_sigterm_presses_power_button(vmname):
    p = subprocess.Popen(bhyve_cmd(vmname, "exit", cmdline="mode=p"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    out = b""
    deadline = time.time() + 120
    try:
        while b"plat: ready" not in out and time.time() < deadline:
            ready, _, _ = select.select([p.stdout], [], [], 1.0)
            if ready:
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
        err_early = b""
        if p.poll() is not None:
            err_early = p.stderr.read()
            if b"not part of this build yet" in err_early:
                pytest.skip(err_early.decode().strip())
        assert b"plat: ready" in out, (out + err_early).decode()
        p.send_signal(signal.SIGTERM)
        rest, err = p.communicate(timeout=60)
        out += rest
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    text = out.decode(errors="replace")
    assert "plat: power button" in text, text + err.decode(errors="replace")
    assert p.returncode == 1, text + err.decode(errors="replace")
