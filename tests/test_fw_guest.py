"""Firmware tables and the PCI bus as a guest sees them: tests/guests/fw_tables.asm (Multiboot)
scans for the ACPI RSDP, MP table and SMBIOS entry points, checks every checksum, counts the
MADT's processors, and probes PCI through 0xCF8/0xCFC and ECAM (host bridge, LPC bridge, an
empty slot, the I/O BAR of a virtio device: sizing, decode on and off).  -A and -Y decide which
tables exist.  Skipped while the software CPU is not part of the build."""
import os
import subprocess

import pytest

from conftest import BUILD, prog

GUEST = BUILD / "tests" / "guests" / "fw_tables.bin"
_n = [0]


def run(extra, cpus=2):
    if not GUEST.exists():
        pytest.skip("make guests not run")
    _n[0] += 1
    name = f"fw-{os.getpid()}-{_n[0]}"
    cmd = [prog("bhyve"), "-m", "64M", "-c", str(cpus), "-s", "0,hostbridge",
           "-s", "3,virtio-rnd", "-s", "31,lpc", "-l", "com1,stdio", *extra,
           "-o", f"loader.kernel={GUEST}", name]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
    finally:
        subprocess.run([prog("bhyvectl"), f"--vm={name}", "--destroy"], capture_output=True)
    if "not part of this build yet" in r.stderr:
        pytest.skip(r.stderr.strip())
    out = r.stdout + r.stderr
    assert "FAIL" not in out, out
    assert "plat: done" in r.stdout, out
    assert r.returncode == 1, out       # powered off through ACPI S5
    return r.stdout


def test_acpi_mptable_smbios_pci():
    out = run(["-A"], cpus=2)
    for part in ("acpi", "mptable", "smbios", "pci-cf8", "pci-ecam", "pci-bar"):
        assert f"plat: {part} ok" in out, out
    assert "fw: madt-cpus 00000002" in out, out


def test_no_acpi_no_mptable():
    out = run(["-Y"], cpus=1)
    assert "fw: acpi absent" in out, out
    assert "fw: mptable absent" in out, out
    assert "plat: smbios ok" in out, out
    assert "plat: pci-cf8 ok" in out, out


def test_four_cpus_acpi_without_mptable():
    out = run(["-A", "-Y"], cpus=4)
    assert "plat: acpi ok" in out and "fw: mptable absent" in out, out
    assert "fw: madt-cpus 00000004" in out, out
