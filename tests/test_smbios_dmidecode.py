"""The SMBIOS tables bhyve writes, decoded by dmidecode (Debian package dmidecode) from a dump
the unit-test program writes (BHYVE_SMBIOS_DUMP).  Skipped when dmidecode is not installed."""
import shutil
import subprocess

import pytest

from conftest import BUILD

DMIDECODE = shutil.which("dmidecode") or (shutil.which("dmidecode", path="/usr/sbin:/sbin"))
PROG = BUILD / "tests" / "test_smbios"


def test_dmidecode_reads_tables(tmp_path):
    if not DMIDECODE:
        pytest.skip("dmidecode not installed")
    if not PROG.exists():
        pytest.skip(f"{PROG} not built (make unit)")
    dump = tmp_path / "smbios.bin"
    r = subprocess.run([str(PROG)], env={"BHYVE_SMBIOS_DUMP": str(dump)}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([DMIDECODE, "--from-dump", str(dump)], capture_output=True, text=True,
                       timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "SMBIOS 2.8 present." in out
    assert "11 structures occupying" in out, out
    for bad in ("Invalid", "wrong", "truncated", "Unknown Type", "<OUT OF SPEC>", "Bad"):
        assert bad not in out, out
    assert "UUID: 12345678-9abc-def0-1234-56789abcdef0" in out
    assert "Product Name: TestBox" in out
    assert out.count("DMI type 4,") == 2            # one per socket
    assert "Core Count: 2" in out                   # 4 vCPUs on 2 sockets
    assert "Range Size: 3 GB" in out and "Range Size: 1 GB" in out
    assert "End Of Table" in out
