"""The ACPI tables bhyve writes, checked by ACPICA's own tools (Debian package acpica-tools):
each table disassembles with `iasl -d`, and the disassembly recompiles without errors or
warnings.  The tables come from the unit-test program, which dumps them with BHYVE_ACPI_DUMP.
Skipped when iasl is not installed."""
import shutil
import subprocess

import pytest

from conftest import BUILD

IASL = shutil.which("iasl")
PROG = BUILD / "tests" / "test_acpi"


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    if not IASL:
        pytest.skip("iasl (acpica-tools) not installed")
    if not PROG.exists():
        pytest.skip(f"{PROG} not built (make unit)")
    d = tmp_path_factory.mktemp("acpi")
    r = subprocess.run([str(PROG)], env={"BHYVE_ACPI_DUMP": str(d)}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return d


@pytest.mark.parametrize("sig", ["DSDT", "FACP", "APIC", "HPET", "MCFG"])
def test_iasl_roundtrip(tables, sig):
    dat = tables / f"{sig}.dat"
    assert dat.exists()
    r = subprocess.run([IASL, "-d", dat.name], cwd=tables, capture_output=True, text=True,
                       timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    dsl = tables / f"{sig}.dsl"
    assert dsl.exists(), out
    text = dsl.read_text()
    assert "**** Unknown" not in text and "Invalid" not in text, text[:4000]
    r = subprocess.run([IASL, "-p", str(tables / f"re_{sig}"), dsl.name], cwd=tables,
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "0 Errors, 0 Warnings" in out, out
